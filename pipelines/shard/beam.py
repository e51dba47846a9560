"""WriteShards: the Beam side of the shard stage, over a PCollection of kept Documents.

Steps (see output_files for why the order keeps the output consistent):
  1. the previous manifest.json is deleted;
  2. the tokenizer: the given folder's files, or a byte-level BPE trained in one DoFn on the
     `train.sample_docs` documents of smallest id hash and written to OUT/tokenizer/;
  3. every document is split (hash of its id, or of `augmented_from`) and tokenized, the
     tokenizer coming in as a side input and loaded once per worker; empty ones are counted;
  4. per split, total sample bytes -> ceil(total / target) shards -> shard = hash(key) mod n:
     shards are about the target size on average and need no global sort;
  5. GroupByKey per (split, shard); each shard is written as a tar (samples sorted by key) to a
     temporary name and renamed;
  6. manifest.json is written once every shard is, then unlisted files are deleted.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.document import Document
from fullchain.pipelines.shard.assignment import id_hash, shard_count, shard_name, shard_of, split_of
from fullchain.pipelines.shard.config import ShardConfig
from fullchain.pipelines.shard.format import MANIFEST_FILE, TOKENIZER_FOLDER
from fullchain.pipelines.shard.manifest import build_manifest, manifest_bytes, shard_entry
from fullchain.pipelines.shard.output_files import (
    read_tokenizer_files, remove_unlisted, retire_manifest, write_atomically, write_tokenizer_files,
)
from fullchain.pipelines.shard.samples import DocumentEncoder, Sample, token_dtype
from fullchain.pipelines.shard.tar_writing import shard_bytes
from fullchain.pipelines.shard.tokenizer_files import TokenizerFiles, load_tokenizer, tokenizer_hash, train_tokenizer

METRICS_NAMESPACE = "fullchain.shard"
SKIPPED = "skipped"
EMPTY_AFTER_TOKENIZATION = "empty_after_tokenization"


def check_tokenizer(path: str, append_eos: bool = True) -> None:
    """Raise ConfigError with one line when `path` is set but is not a loadable tokenizer folder
    (or has no EOS token while `append_eos`). An empty path (train one) passes."""
    if not path:
        return
    try:
        files = read_tokenizer_files(path)
    except Exception as e:  # a filesystem's own error; its message says what
        raise ConfigError(f"shard.tokenizer '{path}': cannot list files: {e}") from None
    if not files:
        raise ConfigError(f"shard.tokenizer '{path}': no such tokenizer folder (or it is empty)")
    try:
        tokenizer = load_tokenizer(files)
    except Exception as e:  # transformers raises many types for a broken folder
        raise ConfigError(f"shard.tokenizer '{path}': not a Hugging Face tokenizer: "
                          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if append_eos and tokenizer.eos_token_id is None:
        raise ConfigError(f"shard.tokenizer '{path}': has no EOS token; set one or shard.append_eos: false")


def describe_tokenizer(files: TokenizerFiles, source: str, path: str) -> dict[str, Any]:
    """The manifest's `tokenizer` entry."""
    tokenizer = load_tokenizer(files)
    return {"source": source, "path": path, "sha256": tokenizer_hash(files), "files": sorted(files),
            "vocab_size": len(tokenizer), "eos_token": tokenizer.eos_token, "eos_id": tokenizer.eos_token_id}


def _sample_order(doc: Document, seed: int) -> int:
    return id_hash(doc.id, seed, "tokenizer-sample")


def _train_and_write(sample: list[Document], _retired, cfg: ShardConfig, output: str) -> TokenizerFiles:
    files = train_tokenizer((doc.text for doc in sorted(sample, key=lambda d: d.id)), cfg.train)
    write_tokenizer_files(files, output)
    return files


class _Tokenize(beam.DoFn):
    """Document -> (split, Sample); a document with no tokens goes to the `skipped` output as its reason."""

    def __init__(self, cfg: ShardConfig):
        self._cfg = cfg

    def setup(self):
        self._files = None
        self._encoder = None
        self._counters: dict[str, Any] = {}

    def process(self, doc: Document, files: TokenizerFiles):
        if files is not self._files and files != self._files:
            # a runner may hand over the side input anew per bundle; comparing bytes is far
            # cheaper than loading the tokenizer again
            self._encoder = DocumentEncoder(load_tokenizer(files), self._cfg.append_eos)
            self._files = files
        self._count("documents")
        sample = self._encoder.encode(doc)
        if sample is None:
            self._count(f"skipped.{EMPTY_AFTER_TOKENIZATION}")
            yield beam.pvalue.TaggedOutput(SKIPPED, EMPTY_AFTER_TOKENIZATION)
            return
        split = split_of(doc, self._cfg.val_fraction, self._cfg.split_seed)
        self._count(f"written.{split}")
        self._count("tokens", sample.tokens)
        yield split, sample

    def _count(self, name: str, n: int = 1):
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(METRICS_NAMESPACE, name)
        counter.inc(n)


class _WriteShard(beam.DoFn):
    """((split, index), samples) -> the shard's manifest entry, after writing it atomically."""

    def __init__(self, output: str):
        self._output = output

    def setup(self):
        self._shards = Metrics.counter(METRICS_NAMESPACE, "shards")
        self._bytes = Metrics.counter(METRICS_NAMESPACE, "shard_bytes")

    def process(self, element, _retired):
        (split, index), samples = element
        samples = list(samples)
        data = shard_bytes(samples)
        relative = f"{split}/{shard_name(index)}"
        write_atomically(FileSystems.join(self._output, split, shard_name(index)), data)
        self._shards.inc()
        self._bytes.inc(len(data))
        yield shard_entry(split, relative, len(samples), sum(s.tokens for s in samples), data)


def _assign_shard(item: tuple[str, Sample], split_bytes: dict[str, int], cfg: ShardConfig, seed: int):
    split, sample = item
    n_shards = shard_count(split_bytes[split], cfg.target_shard_bytes)
    return (split, shard_of(sample.key, n_shards, seed)), sample


def _finish(_, entries, n_input, skipped, tokenizer, in_job_ledgers, cfg, pipeline, output):
    manifest = build_manifest(entries, n_input, dict(skipped), tokenizer, token_dtype(tokenizer["vocab_size"]),
                              dataclasses.asdict(cfg), pipeline + list(in_job_ledgers))
    write_atomically(FileSystems.join(output, MANIFEST_FILE), manifest_bytes(manifest))
    listed = {entry["path"] for entry in manifest["shards"]}
    if tokenizer["source"] == "trained":
        listed |= {f"{TOKENIZER_FOLDER}/{name}" for name in tokenizer["files"]}
    remove_unlisted(output, listed)
    return manifest


class WriteShards(beam.PTransform):
    """Documents -> OUT/{train,val}/shard-NNNNNN.tar, OUT/tokenizer/ (when trained) and OUT/manifest.json.

    Returns a PCollection holding the one manifest dict. `upstream_ledgers` (the input folder's
    ledgers, pipelines.input_files.ResolvedInput.upstream_ledgers) and the ledgers in the PCollection
    `in_job_ledgers` (stages run in the same job) go into the manifest's `pipeline`.
    `read_rejected` (Rejected records of reading the input) count as input and as skipped by
    reason, so the manifest accounts for every input record.
    A given tokenizer is read when the pipeline is built: call `check_tokenizer` first.
    """

    def __init__(self, cfg: ShardConfig, output: str, upstream_ledgers: list[dict] | tuple[dict, ...] = (),
                 read_rejected=None, in_job_ledgers=None):
        super().__init__()
        self._cfg = cfg
        self._output = output.rstrip("/")
        self._pipeline = [dict(ledger) for ledger in upstream_ledgers]
        self._read_rejected = read_rejected
        self._in_job_ledgers = in_job_ledgers

    def expand(self, docs):
        cfg, output = self._cfg, self._output
        si = beam.pvalue
        p = docs.pipeline
        retired = (p | "RetireSeed" >> beam.Create([None])
                   | "RetireManifest" >> beam.Map(lambda _: retire_manifest(output)))
        if cfg.tokenizer:
            source, path = "given", cfg.tokenizer
            files = p | "GivenTokenizer" >> beam.Create([read_tokenizer_files(cfg.tokenizer)])
        else:
            source, path = "trained", TOKENIZER_FOLDER
            seed = cfg.split_seed
            files = (
                docs
                | "TokenizerSample" >> beam.combiners.Top.Of(
                    cfg.train.sample_docs, key=lambda doc: _sample_order(doc, seed), reverse=True)
                | "TrainTokenizer" >> beam.Map(_train_and_write, si.AsSingleton(retired), cfg=cfg, output=output)
            )
        description = files | "DescribeTokenizer" >> beam.Map(describe_tokenizer, source=source, path=path)
        tokenized = docs | "Tokenize" >> beam.ParDo(_Tokenize(cfg), si.AsSingleton(files)).with_outputs(
            SKIPPED, main="samples")
        samples = tokenized.samples
        split_bytes = (samples
                       | "SampleBytes" >> beam.Map(lambda item: (item[0], item[1].size))
                       | "SplitBytes" >> beam.CombinePerKey(sum))
        entries = (
            samples
            | "AssignShard" >> beam.Map(_assign_shard, si.AsDict(split_bytes), cfg=cfg, seed=cfg.split_seed)
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(output), si.AsSingleton(retired))
        )
        reasons, counted = [tokenized[SKIPPED]], [docs]
        if self._read_rejected is not None:
            reasons.append(self._read_rejected | "ReadRejectedReasons" >> beam.Map(lambda r: r.reason))
            counted.append(self._read_rejected)
        skipped = tuple(reasons) | "Skipped" >> beam.Flatten() | "CountSkipped" >> beam.combiners.Count.PerElement()
        n_input = tuple(counted) | "AllInput" >> beam.Flatten() | "CountInput" >> beam.combiners.Count.Globally()
        in_job_ledgers = self._in_job_ledgers
        if in_job_ledgers is None:
            in_job_ledgers = p | "NoLedgersInJob" >> beam.Create([])
        return (
            p
            | "ManifestSeed" >> beam.Create([None])
            | "WriteManifest" >> beam.Map(
                _finish, si.AsList(entries), si.AsSingleton(n_input), si.AsList(skipped),
                si.AsSingleton(description), si.AsList(in_job_ledgers), cfg=cfg, pipeline=self._pipeline,
                output=output)
        )
