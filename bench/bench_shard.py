"""Shard-writing throughput (tokenize + encode samples + write tars) in MB of document text per second.

    .venv/bin/python bench/bench_shard.py --docs 20000

Trains one byte-level BPE tokenizer on a sample of the generated corpus (training time printed
separately), then measures with that tokenizer given:
  - core: one process, no Beam: encode every document, group by split and shard, write tars;
  - beam: the corpus read from JSON lines, then WriteShards on the DirectRunner (in-process),
    manifest included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections import defaultdict

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus
from fullchain.pipelines.shard.assignment import shard_count, shard_name, shard_of, split_of
from fullchain.pipelines.shard.beam import WriteShards
from fullchain.pipelines.shard.config import ShardConfig, TokenizerTrainingConfig
from fullchain.pipelines.shard.output_files import write_atomically, write_tokenizer_files
from fullchain.pipelines.shard.samples import DocumentEncoder
from fullchain.pipelines.shard.tar_writing import shard_bytes
from fullchain.pipelines.shard.tokenizer_files import load_tokenizer, train_tokenizer


def core_seconds(docs: list[Document], cfg: ShardConfig, files: dict, output: str) -> float:
    """Wall seconds for the single-process path from documents to tar files."""
    start = time.perf_counter()
    encoder = DocumentEncoder(load_tokenizer(files), cfg.append_eos)
    by_split = defaultdict(list)
    for doc in docs:
        sample = encoder.encode(doc)
        if sample is not None:
            by_split[split_of(doc, cfg.val_fraction, cfg.split_seed)].append(sample)
    for split, samples in by_split.items():
        n = shard_count(sum(s.size for s in samples), cfg.target_shard_bytes)
        shards = defaultdict(list)
        for sample in samples:
            shards[shard_of(sample.key, n, cfg.split_seed)].append(sample)
        for index, members in shards.items():
            write_atomically(os.path.join(output, split, shard_name(index)), shard_bytes(members))
    return time.perf_counter() - start


def beam_seconds(corpus_path: str, cfg: ShardConfig, output: str, beam_args: list[str]) -> float:
    """Wall seconds for reading Document rows from JSON lines and WriteShards, on the DirectRunner
    unless `beam_args` say otherwise. (Documents in a beam.Create would be pickled into the
    pipeline itself, which costs more than the stage.)"""
    start = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(beam_args or ["--runner=DirectRunner"])) as p:
        (p
         | beam.io.ReadFromText(corpus_path)
         | beam.Map(lambda line: Document.from_row(json.loads(line)))
         | WriteShards(cfg, output))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000, help="documents to generate [20000]")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--target-shard-mb", type=float, default=16.0)
    parser.add_argument("--workdir", default="bench-output/shard", help="scratch folder (replaced)")
    parser.add_argument("beam_args", nargs="*", help="Beam options after --, e.g. -- --direct_num_workers=2")
    args = parser.parse_args()
    records, _ = generate_corpus(args.docs, seed=0)
    docs = [Document(id=r["id"], text=r["text"], meta={"url": r["url"]}) for r in records]
    text_mb = sum(len(d.text.encode("utf-8")) for d in docs) / 1e6
    shutil.rmtree(args.workdir, ignore_errors=True)
    tokenizer_dir = os.path.join(args.workdir, "given")
    training = TokenizerTrainingConfig(vocab_size=args.vocab_size, sample_docs=min(args.docs, 10_000))

    start = time.perf_counter()
    files = train_tokenizer((d.text for d in docs[:training.sample_docs]), training)
    print(f"train tokenizer: vocab {args.vocab_size}, {training.sample_docs} docs, "
          f"{time.perf_counter() - start:.1f} s")
    write_tokenizer_files(files, args.workdir)
    os.rename(os.path.join(args.workdir, "tokenizer"), tokenizer_dir)

    cfg = ShardConfig(tokenizer=tokenizer_dir, val_fraction=0.01, target_shard_mb=args.target_shard_mb)
    print(f"corpus: {len(docs)} docs, {text_mb:.1f} MB of text")
    corpus_path = os.path.join(args.workdir, "corpus.jsonl")
    with open(corpus_path, "w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc.to_row(), ensure_ascii=False) + "\n")
    seconds = core_seconds(docs, cfg, files, os.path.join(args.workdir, "core"))
    print(f"core (1 process): {seconds:.1f} s, {text_mb / seconds:.2f} MB/s, {len(docs) / seconds:,.0f} docs/s")
    seconds = beam_seconds(corpus_path, cfg, os.path.join(args.workdir, "beam"), args.beam_args)
    print(f"beam {' '.join(args.beam_args) or 'DirectRunner'}: {seconds:.1f} s, {text_mb / seconds:.2f} MB/s, "
          f"{len(docs) / seconds:,.0f} docs/s")


if __name__ == "__main__":
    main()
