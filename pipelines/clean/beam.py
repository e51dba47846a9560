"""The clean stage as a Beam transform: a thin layer over pipelines.clean.cleaner."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from fullchain.pipelines.clean.cleaner import DocumentCleaner, metric_counts, pii_tallies
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.document import Rejected
from fullchain.pipelines.stage_outputs import StageOutputs

NAMESPACE = "fullchain.clean"
_REJECTED = "rejected"
_TALLIES = "tallies"


class _CleanDoFn(beam.DoFn):
    """Cleans documents; the cleaner (language profiles, compiled rules) is built once per worker."""

    def __init__(self, cfg: CleanConfig):
        self._cfg = cfg

    def setup(self):
        self._cleaner = DocumentCleaner(self._cfg)
        self._pii_policies = self._cfg.pii.policies()
        self._chars_in = Metrics.distribution(NAMESPACE, "chars_in")
        self._counters = {}

    def process(self, doc):
        self._chars_in.update(len(doc.text))
        result = self._cleaner(doc)
        for name, value in metric_counts(result).items():
            if name not in self._counters:
                self._counters[name] = Metrics.counter(NAMESPACE, name)
            self._counters[name].inc(value)
        if self._cfg.pii.enabled:
            for key, n in pii_tallies(result, self._pii_policies).items():
                yield beam.pvalue.TaggedOutput(_TALLIES, (key, n))
        if isinstance(result, Rejected):
            yield beam.pvalue.TaggedOutput(_REJECTED, result)
        else:
            yield result


class CleanDocuments(beam.PTransform):
    """PCollection[Document] -> StageOutputs(kept: cleaned Documents, rejected: Rejected of stage clean,
    tallies: (key, count) of the PII found, redacted and kept per kind when pii is enabled).

    `spread`: redistribute the documents over the workers before cleaning them. The documents of
    one read unit (a file or a split of one) arrive in one bundle, so an input of fewer units
    than workers leaves workers idle without it; but it is a shuffle of every text, which the
    local runner holds in memory (about 12 KB per document), so it is for inputs of few units
    only (stage_job decides: input_reading.fewer_read_units_than_cores)."""

    def __init__(self, cfg: CleanConfig, spread: bool = True):
        super().__init__()
        self._cfg = cfg
        self._spread = spread

    def expand(self, docs) -> StageOutputs:
        if self._spread:
            docs = docs | "Spread" >> beam.Reshuffle()
        cleaned = docs | "Clean" >> beam.ParDo(_CleanDoFn(self._cfg)).with_outputs(_REJECTED, _TALLIES, main="kept")
        tallies = cleaned[_TALLIES] if self._cfg.pii.enabled else None
        return StageOutputs(cleaned.kept, cleaned[_REJECTED], tallies=tallies)
