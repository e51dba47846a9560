"""Documents per second through the ppl-filter transform on CPU, and what length-aware batching gains.

    .venv/bin/python bench/bench_perplexity.py --docs 400

Builds, in a temporary folder, a small randomly initialised Llama (4 layers, hidden 256) and a
2000-token byte-level BPE tokenizer trained on the bench corpus (pipelines.sample_models): the speed
of a forward pass depends on the shapes, not on the weights, so no trained model is needed. The corpus is the generated sample
corpus with each text cut to a log-uniform random length (50 to 3000 characters), as lengths of
web documents spread over orders of magnitude. FilterByPerplexity then runs on the in-process
DirectRunner (one worker) three times: batches sorted by length, batches in arrival order, and
batch size 1. Each row's time includes the pipeline and one model load; the padding column is the
share of a forward pass's token positions that are padding.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import tempfile
import time

import apache_beam as beam
import torch
from apache_beam.options.pipeline_options import PipelineOptions
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from fullchain.pipelines.document import Document
from fullchain.pipelines.perplexity.beam import FilterByPerplexity
from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.perplexity.model_handler import _forward_chunks
from fullchain.pipelines.length_batching import document_batches
from fullchain.pipelines.perplexity.scoring import scoring_windows
from fullchain.pipelines.sample_corpus import generate_corpus
from fullchain.pipelines.sample_models import tiny_tokenizer


def bench_corpus(n_docs: int, seed: int) -> list[Document]:
    """Sample-corpus documents cut to log-uniform lengths between 50 and 3000 characters, with their language."""
    records, _ = generate_corpus(n_docs, seed=seed, doc_bytes=4096)
    rng = random.Random(seed)
    docs = []
    for r in records:
        text = r["text"][:int(math.exp(rng.uniform(math.log(50), math.log(3000))))]
        # the clean stage's language identification would set this; the corpus is English and Chinese
        lang = "zh" if sum("\u4e00" <= c <= "\u9fff" for c in text) > 0.2 * len(text) else "en"
        docs.append(Document(id=r["id"], text=text, lang=lang))
    return docs


def build_model(path: str, texts: list[str], seed: int) -> str:
    """Save a 4-layer, hidden-256 Llama and a 2000-token byte-level BPE tokenizer trained on `texts`."""
    tokenizer = tiny_tokenizer(2000, texts)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def padding_share(docs: list[Document], cfg: PerplexityConfig) -> float:
    """Share of padded positions over all forward passes, batching as FilterByPerplexity does in one bundle."""
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    padded = real = 0
    for batch in document_batches(docs, cfg.batch_size, cfg.length_aware_batching):
        token_ids = tokenizer([d.text for d in batch], add_special_tokens=False)["input_ids"]
        windows = [w for ids in token_ids
                   for w in scoring_windows(ids, cfg.window_tokens, cfg.max_windows, tokenizer.bos_token_id)]
        for chunk in _forward_chunks(windows, cfg.max_batch_tokens):
            padded += len(chunk) * len(windows[chunk[0]])
            real += sum(len(windows[j]) for j in chunk)
    return 1 - real / padded


def docs_per_s(docs: list[Document], cfg: PerplexityConfig) -> float:
    """Documents per second of one pipeline run of FilterByPerplexity (wall time, model load included)."""
    options = PipelineOptions([], runner="DirectRunner", direct_running_mode="in_memory", direct_num_workers=1)
    start = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        out = pipeline | beam.Create(docs, reshuffle=False) | FilterByPerplexity(cfg)
        out.kept | "CountKept" >> beam.combiners.Count.Globally()
    return len(docs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--window-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    docs = bench_corpus(args.docs, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        model = build_model(folder, [d.text for d in docs], args.seed)
        rows = [
            ("sorted by length", PerplexityConfig(model=model, window_tokens=args.window_tokens,
                                                  batch_size=args.batch_size)),
            ("arrival order", PerplexityConfig(model=model, window_tokens=args.window_tokens,
                                               batch_size=args.batch_size, length_aware_batching=False)),
            ("batch size 1", PerplexityConfig(model=model, window_tokens=args.window_tokens, batch_size=1)),
        ]
        print(f"{args.docs} docs, {sum(len(d.text) for d in docs) / len(docs):.0f} chars/doc on average, "
              f"window {args.window_tokens} tokens, {torch.get_num_threads()} torch threads")
        print(f"{'batching':<18} {'batch':>5} {'padding':>8} {'docs/s':>8}")
        for name, cfg in rows:
            print(f"{name:<18} {cfg.batch_size:>5} {padding_share(docs, cfg):>7.1%} {docs_per_s(docs, cfg):>8.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
