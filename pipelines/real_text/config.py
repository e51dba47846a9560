"""The typed config of the corpus a run starts from (the `corpus` section of `fullchain run`)."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option

SOURCES = ("real", "template")


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value!r}")


@dataclass(kw_only=True)
class CorpusConfig:
    """Which text a run starts from and what is planted on top of it."""

    source: str = option("real", "real: English and Chinese prose found on this machine (docs/CORPUS.md lists the "
                                 "sources and their licences); template: the generated sample corpus of "
                                 "`fullchain sample-corpus` (tests, benchmarks). `fullchain run --input` replaces both.")
    documents: int = option(0, "Most original documents taken from the source; 0 = all of it (real) or 5000 (template).")
    doc_chars: int = option(1500, "real: consecutive passages of one source are joined into documents of about this "
                                  "many characters.")
    seed: int = option(0, "Seed of the document order and of every planted document.")
    exact_duplicate_fraction: float = option(0.05, "Exact copies planted (re-wrapped whitespace), as a share of the "
                                                   "originals.")
    near_duplicate_fraction: float = option(0.05, "Near copies planted (sentences deleted, inserted or cut off), as "
                                                  "a share of the originals.")
    junk_fraction: float = option(0.05, "Junk documents planted (too short, repeated lines, symbol spam, "
                                        "boilerplate, gibberish), as a share of the originals.")

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.documents < 0:
            raise ValueError(f"documents must be >= 0, got {self.documents}")
        if self.doc_chars < 200:
            raise ValueError(f"doc_chars must be at least 200, got {self.doc_chars}")
        for name in ("exact_duplicate_fraction", "near_duplicate_fraction", "junk_fraction"):
            _check_fraction(name, getattr(self, name))
