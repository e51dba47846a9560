"""Benchmark of the backtranslate stage on CPU: docs/s with RunInference batching against batch size 1.

    .venv/bin/python bench/bench_backtranslate.py --docs 48 --batch-sizes 1,16

Builds a small random MarianMT-architecture model pair (2+2 layers, d_model 256, with the byte-level
BPE tokenizer of pipelines.sample_models) in a temporary folder, then runs `Backtranslate` with every
document selected in an in-process DirectRunner pipeline, once per batch size. A random model
emits EOS at random, so every chunk is forced to generate exactly --new-tokens tokens
(min_new_tokens = max_new_tokens) and the runs do the same work. Each batch size runs --repeats
times and the fastest run is shown; wall times include pipeline start-up (~0.5 s; models are
loaded once per process, by the first run).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import apache_beam as beam
import torch
from apache_beam.options.pipeline_options import PipelineOptions
from transformers import MarianConfig, MarianMTModel

from fullchain.pipelines.backtranslate.beam import Backtranslate
from fullchain.pipelines.backtranslate.config import BacktranslateConfig, GenerationConfig
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_models import tiny_tokenizer

SENTENCES = [
    "The river that runs through the old market town has shaped the lives of its people for centuries.",
    "Local historians have gathered letters, parish records and diaries about the great flood.",
    "Today the river is quieter, but it still plays an important role in the life of the town.",
    "Every spring the farmers wait for the water to rise before they plant their fields.",
    "这条穿过老城的河流，几百年来一直影响着两岸居民的生活。",
]


def build_model(path: str, seed: int, d_model: int, new_tokens: int) -> str:
    """Save a random 2+2-layer MarianMT model whose generation always runs `new_tokens` steps."""
    tokenizer = tiny_tokenizer(vocab_size=1000, texts=SENTENCES * 20)
    torch.manual_seed(seed)
    config = MarianConfig(vocab_size=len(tokenizer), d_model=d_model, encoder_layers=2, decoder_layers=2,
                          encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=4 * d_model,
                          decoder_ffn_dim=4 * d_model, max_position_embeddings=512, pad_token_id=0,
                          eos_token_id=2, decoder_start_token_id=0, forced_eos_token_id=2)
    config.min_new_tokens = new_tokens  # saved in generation_config: identical work per chunk
    os.makedirs(path, exist_ok=True)
    MarianMTModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def documents(n: int) -> list[Document]:
    """`n` English documents of four sentences (two chunks each at max_input_tokens 48)."""
    english = SENTENCES[:4]
    return [Document(id=f"d{i}", text=" ".join(english[(i + k) % 4] for k in range(4)), lang="en")
            for i in range(n)]


def timed_run(docs: list[Document], cfg: BacktranslateConfig) -> float:
    """Seconds for one in-process pipeline run of the stage over `docs`."""
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions([], runner="DirectRunner", direct_num_workers=1)) as pipeline:
        outputs = pipeline | beam.Create(docs) | Backtranslate(cfg)
        outputs.added | beam.combiners.Count.Globally()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=48)
    parser.add_argument("--batch-sizes", default="1,16")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="runs per batch size; the fastest is shown")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    docs = documents(args.docs)
    with tempfile.TemporaryDirectory() as root:
        forward = build_model(os.path.join(root, "en-zh"), 0, args.d_model, args.new_tokens)
        backward = build_model(os.path.join(root, "zh-en"), 1, args.d_model, args.new_tokens)
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
              f"{args.docs} docs, MarianMT 2+2 layers d_model {args.d_model}, {args.new_tokens} new tokens/chunk")
        print(f"{'batch_size':>10}  {'seconds':>8}  {'docs/s':>7}  {'speed-up':>8}")
        baseline = None
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            cfg = BacktranslateConfig(fraction=1.0, forward_model=forward, backward_model=backward,
                                      max_input_tokens=48, batch_size=batch_size,
                                      generation=GenerationConfig(max_new_tokens=args.new_tokens))
            seconds = min(timed_run(docs, cfg) for _ in range(args.repeats))
            baseline = baseline or seconds
            print(f"{batch_size:>10}  {seconds:8.2f}  {args.docs / seconds:7.2f}  {baseline / seconds:7.2f}x")


if __name__ == "__main__":
    main()
