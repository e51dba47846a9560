"""Running the dedup transforms in test pipelines and reading their metrics."""

import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from fullchain.pipelines.dedup.config import METRICS_NAMESPACE
from tests.beam_metrics import beam_counters
from fullchain.pipelines.document import Document

WORDS = [f"w{i}" for i in range(5000)]


def random_text(rng: random.Random, n_words: int = 300) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)) + "."


def edit_words(rng: random.Random, text: str, n_edits: int) -> str:
    """`text` with `n_edits` words replaced at spread-out places (each changes about 5 shingles)."""
    words = text.split()
    step = len(words) // (n_edits + 1)
    for k in range(1, n_edits + 1):
        words[k * step] = f"edited{k}"
    return " ".join(words)


def counters(result) -> dict[str, int]:
    """The stage's counters of a finished pipeline (absent counters were never incremented)."""
    return beam_counters(result, METRICS_NAMESPACE)


def run_pipeline(build, options=None):
    """Build with `build(pipeline)` (which adds its own assertions), run, and return the counters."""
    pipeline = TestPipeline(options=options) if options is not None else TestPipeline()
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    return counters(result)


def documents(pipeline, docs: list[Document]):
    return pipeline | "Docs" >> beam.Create(docs)
