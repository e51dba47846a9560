"""Settings of the `fullchain decontaminate` stage."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option

STAGE = "decontaminate"
REASON = "decontaminated"
METRICS_NAMESPACE = "fullchain.decontaminate"


@dataclass(kw_only=True)
class DecontaminateConfig:
    """fullchain decontaminate: drop training documents that contain evaluation items (word n-gram overlap)."""

    evaluation: list[str] = option([], "Evaluation items: JSONL or Parquet files, or folders of them (every record "
                                       "is one item, its string fields its text); empty: the data files of the "
                                       "suite shipped with fullchain eval.")
    ngram: int = option(13, "Words per n-gram (13, as in the GPT-3 contamination study); shorter items count as "
                            "one gram of all their words.")
    min_overlap: int = option(1, "Drop a document that contains at least this many n-grams of one item.")

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.min_overlap < 1:
            raise ValueError(f"ngram and min_overlap must be >= 1, got {self.ngram} and {self.min_overlap}")
