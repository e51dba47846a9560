"""The options of `fullchain eval`."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option


@dataclass(kw_only=True)
class ContaminationConfig:
    """The n-gram overlap between the training data and the evaluation items."""

    training: list[str] = option([], "Training text to check the items against: shard output folders (their "
                                     "manifest.json), stage folders (data/*.parquet) or JSONL/Parquet files; "
                                     "empty: no contamination check.")
    ngram: int = option(13, "Words per n-gram (13, as in the GPT-3 contamination study).")
    min_overlap: int = option(1, "An item is contaminated when at least this many of its n-grams occur in "
                                 "the training text.")

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.min_overlap < 1:
            raise ValueError(f"ngram and min_overlap must be >= 1, got {self.ngram} and {self.min_overlap}")


@dataclass(kw_only=True)
class PerplexityDataConfig:
    """Perplexity / bits per byte on given text, one task per language."""

    data: list[str] = option([], "JSONL or Parquet files, or a shard output folder (its val split), to score "
                                 "as tasks ppl_<language>; empty: none beyond the suite's.")
    text_field: str = option("text", "The text field of the records.")
    lang_field: str = option("lang", "The language field of the records (records without it count as 'und').")
    max_documents: int = option(200, "Documents scored per language at most.")

    def __post_init__(self) -> None:
        if self.max_documents < 1:
            raise ValueError(f"max_documents must be >= 1, got {self.max_documents}")


@dataclass(kw_only=True)
class EvalConfig:
    """fullchain eval: lm-evaluation-harness tasks on HF, ONNX and served models."""

    tasks: list[str] = option(["fullchain_suite"], "Task names (fullchain_suite: the shipped suite) from the "
                                                   "shipped tasks and the --include files.")
    include: list[str] = option([], "More task YAML files or folders, in the harness's format, with local data files.")
    limit: int = option(0, "Items per task at most (0: all).")
    num_fewshot: int = option(0, "Few-shot examples per item (from the task's fewshot split).")
    batch_size: int = option(8, "Sequences per forward pass.")
    threads: int = option(0, "Intra-op threads of PyTorch and ONNX Runtime (0: their default).")
    bootstrap_iters: int = option(0, "Bootstrap resamples for the standard errors (0: none, 'N/A' in results).")
    served_export: str = option("", "Export folder of a served model (its tokenizer and export.json); default: "
                                    "the export folder among the MODELs.")
    overwrite: bool = option(False, "Replace the files of an earlier evaluation in --output.")
    perplexity: PerplexityDataConfig = option(PerplexityDataConfig(), "Perplexity on given text.")
    contamination: ContaminationConfig = option(ContaminationConfig(), "Contamination check.")

    def __post_init__(self) -> None:
        for name in ("limit", "num_fewshot", "threads", "bootstrap_iters"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
