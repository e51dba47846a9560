"""The options of `fullchain report` (and of the run's report stage): how much of the data the
page shows as examples. The figures always cover every document."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option


@dataclass(kw_only=True)
class ReportConfig:
    """fullchain report: the run report, DIR/report/index.html and summary.json."""

    example_clusters: int = option(4, "Duplicate clusters shown with their survivor and removed texts.")
    examples_per_bucket: int = option(2, "Kept and rejected documents shown per perplexity bucket (each).")
    example_chars: int = option(400, "Characters of a document's text shown in an example; the rest is cut.")
    histogram_bins: int = option(30, "Bins of the perplexity histogram (log-spaced).")

    def __post_init__(self) -> None:
        for name in ("example_clusters", "examples_per_bucket"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        for name in ("example_chars", "histogram_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
