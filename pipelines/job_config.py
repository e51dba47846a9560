"""The typed config of a data-preparation run: one YAML file configures every stage.

Top-level keys say what to read and where to write and run; each stage reads its own
section (`clean:`, `dedup:`). Every option's default and help live on its field, and
`fullchain <stage> --help` lists them all as `--section.key` flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fullchain.pipelines.backtranslate.config import BacktranslateConfig
from fullchain.pipelines.classify.config import ClassifyConfig
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.decontaminate.config import DecontaminateConfig
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.config import option
from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.shard.config import ShardConfig
from fullchain.pipelines.synonyms.config import SynonymsConfig

PREPARE_STAGES = ("clean", "dedup", "classify", "ppl_filter", "backtranslate", "synonyms", "decontaminate", "shard")
# what prepare runs unless prepare.stages says otherwise: the stages that need no model of the user's
# choosing beyond ppl-filter's and backtranslate's (classify needs its classifier folders named,
# synonyms the lexical resources installed)
DEFAULT_PREPARE_STAGES = ("clean", "dedup", "ppl_filter", "backtranslate", "shard")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value!r}")


@dataclass(kw_only=True)
class EncodingConfig:
    """How the readers turn input bytes (JSON lines, .txt files) into text."""

    max_bad_byte_fraction: float = option(
        0.01,
        "Largest share of undecodable bytes accepted when input that is neither UTF-8 nor cp1252 is read as "
        "UTF-8 with U+FFFD replacements; above it the record is rejected as bad_encoding. Project choice: one "
        "damaged byte per hundred keeps otherwise good text and still rejects other encodings (GBK, UTF-16).",
    )
    max_control_fraction: float = option(
        0.01,
        "Largest share of C0 control characters (other than whitespace), DEL and U+FFFD in a decoded record "
        "before it is rejected as bad_encoding (binary data). Project choice; files with a NUL byte in their "
        "first 8000 bytes are binary regardless, the heuristic git uses.",
    )

    def __post_init__(self) -> None:
        _check_fraction("max_bad_byte_fraction", self.max_bad_byte_fraction)
        _check_fraction("max_control_fraction", self.max_control_fraction)


@dataclass(kw_only=True)
class ReadConfig:
    """How input records are read (shared by every data stage)."""

    text_field: str = option("text", "JSON/Parquet field holding the document text.")
    id_field: str = option("id", "JSON/Parquet field holding the document id; when absent the id is a "
                                 "hash of the file path (relative to the input root) and the line/row number.")
    max_record_bytes: int = option(256 * 1024 * 1024, "A record (JSON line or .txt file) larger than this is "
                                                      "rejected as too_large before it is decoded.")
    encoding: EncodingConfig = option(EncodingConfig(), "Decoding of input bytes, the same for every data stage.")
    split_mb: float = option(64.0, "Input files larger than this many MiB are read in splits of about this size "
                                   "by several workers (byte ranges of uncompressed JSONL, runs of Parquet row "
                                   "groups; .gz and .txt files are read whole). Project choice: 64 MiB is a few "
                                   "seconds of parsing, small enough to spread one large file over the cores.")

    def __post_init__(self) -> None:
        if self.max_record_bytes <= 0:
            raise ValueError(f"max_record_bytes must be positive, got {self.max_record_bytes}")
        if not self.split_mb > 0:
            raise ValueError(f"split_mb must be positive, got {self.split_mb}")
        if not self.text_field:
            raise ValueError("text_field must not be empty")

    @property
    def split_bytes(self) -> int:
        """split_mb in bytes (at least 1)."""
        return max(1, int(self.split_mb * (1 << 20)))


@dataclass(kw_only=True)
class PrepareConfig:
    """fullchain prepare: the stages it runs, in one Beam job."""

    stages: list[str] = option(list(DEFAULT_PREPARE_STAGES), "Stages to run, a subset of clean, dedup, classify, "
                                                             "ppl_filter, backtranslate, synonyms, decontaminate, shard, always "
                                                             "in that "
                                                             "order. A stage left out is switched off; "
                                                             "prepare.json records which ran.")

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in PREPARE_STAGES]
        if unknown:
            raise ValueError(f"stages: unknown stage(s) {unknown}; choose from {list(PREPARE_STAGES)}")
        if not self.stages:
            raise ValueError("stages: at least one stage must run")
        self.stages = [s for s in PREPARE_STAGES if s in self.stages]


@dataclass(kw_only=True)
class RunConfig:
    """One run of one or more data stages."""

    # keys of earlier releases: a config that still uses one is told where it went
    MOVED_KEYS: ClassVar[dict[str, str]] = {"clean.encoding": "read.encoding"}

    input: str = option("", "Input: comma-separated globs or folders of .jsonl[.gz], .parquet or .txt files, "
                            "or a previous stage's output folder. Local paths, gs:// or s3://.")
    output: str = option("", "Output folder: data/*.parquet, rejected/*.parquet and ledger.json are written here.")
    runner_profile: str = option("local", "Runner profile from runners.yaml: local, portable, flink, dataflow.")
    runners_file: str = option("", "Runner profiles file; empty means $FULLCHAIN_RUNNERS, ./runners.yaml, "
                                   "then the project's runners.yaml.")
    read: ReadConfig = option(ReadConfig(), "How input records are read.")
    clean: CleanConfig = option(CleanConfig(), "fullchain clean: normalisation, language id, quality rules.")
    dedup: DedupConfig = option(DedupConfig(), "fullchain dedup: exact and MinHash near-duplicate removal.")
    classify: ClassifyConfig = option(ClassifyConfig(), "fullchain classify: quality/safety classifiers "
                                                        "(trained hashed n-gram or Hugging Face), per-label "
                                                        "thresholds that annotate or filter.")
    ppl_filter: PerplexityConfig = option(PerplexityConfig(), "fullchain ppl-filter: reference-LM perplexity "
                                                              "filter (CCNet buckets).")
    backtranslate: BacktranslateConfig = option(BacktranslateConfig(), "fullchain backtranslate: augmentation "
                                                                       "by round-trip translation.")
    synonyms: SynonymsConfig = option(SynonymsConfig(), "fullchain synonyms: augmentation by synonym replacement "
                                                        "(WordNet, Cilin).")
    decontaminate: DecontaminateConfig = option(DecontaminateConfig(), "fullchain decontaminate: drop documents "
                                                                       "that contain evaluation items (n-grams).")
    shard: ShardConfig = option(ShardConfig(), "fullchain shard: tokenize into WebDataset shards + manifest.json.")
    prepare: PrepareConfig = option(PrepareConfig(), "fullchain prepare: every stage above in one Beam job.")
