"""Throughput of the classify stage's classifiers on 2 KB documents, on the CPU.

    .venv/bin/python bench/bench_classify.py --docs 4000 --hf-docs 192

1. The trained hashed n-gram classifier (default features: word 1-2-grams, character 3-5-grams,
   2^20 buckets), trained here on generated prose against shuffled-word junk: docs/s per core as
   CPU time of the scoring core (featurise + dot product) in this one process, and docs/s of the
   whole `ClassifyDocuments` transform in an in-process DirectRunner job (one worker, Beam's
   overhead and RunInference included).
   Beside it, in the same run: langdetect on the documents' first 500 characters, what clean's
   language id costs, so the classifier's share of a clean + classify pass is seen.
2. A Hugging Face sequence classifier: a random LlamaForSequenceClassification (4 layers, width
   256, 512 tokens read per document) through the same stage, batch size 1 against batch size 16
   (length-aware batching), interleaved, the fastest of --repeats runs each.

The issue's bar: the hashed classifier at >= 2,000 docs/s per core on 2 KB documents.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time

import apache_beam as beam
import numpy as np
import torch
from apache_beam.options.pipeline_options import PipelineOptions
from transformers import LlamaConfig, LlamaForSequenceClassification

from fullchain.pipelines.classify.beam import ClassifyDocuments
from fullchain.pipelines.classify.config import ClassifyConfig
from fullchain.pipelines.classify.features import FeatureSpec
from fullchain.pipelines.classify.hashed_model import load_hashed_classifier, save_classifier
from fullchain.pipelines.classify.training import TrainSettings, train_classifier
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_models import tiny_tokenizer

SENTENCES = [
    "The river that runs through the old market town has shaped the lives of its people for centuries.",
    "Local historians have gathered letters, parish records and diaries about the great flood.",
    "Today the river is quieter, but it still plays an important role in the life of the town.",
    "Every spring the farmers wait for the water to rise before they plant their fields.",
    "The committee published its findings after reviewing evidence from several independent studies.",
    "这条穿过老城的河流，几百年来一直影响着两岸居民的生活。",
    "现在的河流安静了许多，但它在当地人的生活中依然非常重要。",
]
DOC_CHARS = 2048


def documents(n: int, seed: int, junk: bool = False) -> list[str]:
    """n documents of about 2 KB: shuffled sentences, or for junk the same words shuffled."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        parts, size = [], 0
        while size < DOC_CHARS:
            sentence = rng.choice(SENTENCES)
            if junk:
                words = sentence.split()
                rng.shuffle(words)
                sentence = " ".join(words)
            parts.append(sentence)
            size += len(sentence) + 1
        docs.append(" ".join(parts)[:DOC_CHARS])
    return docs


def bench_document(i: int) -> Document:
    """Document i of a job: made on the worker, so the job graph does not carry (and pickle) the texts."""
    return Document(id=f"d{i}", text=documents(1, 1000 + i, junk=i % 5 == 4)[0], lang="en")


def run_stage(cfg: ClassifyConfig, n: int) -> float:
    """Wall seconds of one in-process ClassifyDocuments job over n documents."""
    start = time.perf_counter()
    options = PipelineOptions(direct_running_mode="in_memory", direct_num_workers=1)
    with beam.Pipeline(options=options) as pipeline:
        out = pipeline | beam.Create(range(n)) | beam.Map(bench_document) | ClassifyDocuments(cfg)
        _ = out.kept | beam.combiners.Count.Globally()
    return time.perf_counter() - start


def marginal_rate(cfg: ClassifyConfig, n: int, repeats: int) -> tuple[float, float]:
    """(docs/s of the documents beyond the first 32, wall seconds of the n-document job): the job's
    start-up (graph, model load) is the 32-document job's time and is taken out."""
    small = min(run_stage(cfg, 32) for _ in range(repeats))
    large = min(run_stage(cfg, n) for _ in range(repeats))
    return (n - 32) / max(large - small, 1e-9), large


def hf_model(path: str) -> str:
    tokenizer = tiny_tokenizer(vocab_size=1000, texts=SENTENCES * 20)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, num_labels=2,
                         id2label={0: "safe", 1: "unsafe"}, label2id={"safe": 0, "unsafe": 1})
    LlamaForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4000, help="documents for the hashed classifier")
    parser.add_argument("--hf-docs", type=int, default=192, help="documents for the Hugging Face classifier")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    # the jobs get their options from PipelineOptions below, not from this command line
    import sys
    sys.argv = sys.argv[:1]
    torch.set_num_threads(1)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared machine: other jobs "
          f"ran at the same time), torch threads 1")
    with tempfile.TemporaryDirectory(prefix="bench-classify-") as tmp:
        trained = train_classifier(documents(400, 1), documents(400, 2, junk=True), FeatureSpec(),
                                   TrainSettings(epochs=30))
        folder = os.path.join(tmp, "quality")
        save_classifier(folder, trained, ("junk", "good"), TrainSettings(epochs=30), {})
        classifier = load_hashed_classifier(folder)
        texts = documents(args.docs, 3) + documents(args.docs // 4, 4, junk=True)
        mean_chars = np.mean([len(t.encode("utf-8")) for t in texts])
        print(f"hashed classifier: held-out AUC {trained.metrics.auc:.3f}; {len(texts)} documents, "
              f"mean {mean_chars:.0f} bytes")
        from langdetect import DetectorFactory, detect_langs

        DetectorFactory.seed = 0
        sample = texts[:500]
        best_core = best_langdetect = 0.0
        for _ in range(args.repeats):  # interleaved, so both see the same load
            start = time.process_time()
            for i in range(0, len(texts), 32):
                classifier.scores(texts[i:i + 32])
            best_core = max(best_core, len(texts) / (time.process_time() - start))
            start = time.process_time()
            for text in sample:
                detect_langs(text[:500])  # what clean's language id reads (clean.langid.prefix_chars)
            best_langdetect = max(best_langdetect, len(sample) / (time.process_time() - start))
        print(f"  scoring core: {best_core:,.0f} docs/s per core (CPU time, batches of 32)")
        print(f"  langdetect on the first 500 characters (clean's language id), same documents: "
              f"{best_langdetect:,.0f} docs/s per core; the classifier costs "
              f"{100 * best_langdetect / best_core:.0f}% of that")
        cfg = ClassifyConfig(classifiers={"quality": folder}, filter={"quality.good": "keep"})
        run_stage(cfg, 32)  # warm-up: imports
        rate, seconds = marginal_rate(cfg, args.docs, args.repeats)
        print(f"  ClassifyDocuments job, 1 worker: {rate:,.0f} docs/s beyond start-up "
              f"({args.docs} documents in {seconds:.2f} s wall, start-up included)")

        hf_folder = hf_model(os.path.join(tmp, "safety"))
        print(f"HF classifier (Llama 4 x 256, 512 tokens per document), {args.hf_docs} documents:")
        rates = {}
        for batch_size in (1, 16):
            cfg = ClassifyConfig(classifiers={"safety": hf_folder}, batch_size=batch_size, max_tokens=512)
            rates[batch_size], seconds = marginal_rate(cfg, args.hf_docs, args.repeats)
            print(f"  batch {batch_size:>2}: {rates[batch_size]:6.1f} docs/s beyond start-up ({seconds:.2f} s wall)")
        print(f"  batched / unbatched: {rates[16] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
