"""The decontaminate stage's Beam transform: documents that contain an evaluation item go to
rejected with reason `decontaminated`, the rest are kept."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from fullchain.pipelines.decontaminate.config import METRICS_NAMESPACE, REASON, STAGE, DecontaminateConfig
from fullchain.pipelines.decontaminate.evaluation_items import read_items
from fullchain.pipelines.decontaminate.ngram_index import NgramIndex
from fullchain.pipelines.document import Rejected
from fullchain.pipelines.stage_outputs import StageOutputs

_REJECTED = "rejected"


class Decontaminate(beam.PTransform):
    """PCollection[Document] -> StageOutputs(kept, rejected); rejected have stage decontaminate and
    reason decontaminated, the detail naming the items found. The items are read and indexed when
    the pipeline is built (a bad item file fails before the job starts); the index (the items'
    n-grams only) travels with the DoFn."""

    def __init__(self, cfg: DecontaminateConfig):
        super().__init__()
        self._index = NgramIndex(read_items(cfg.evaluation), cfg.ngram)
        self._min_overlap = cfg.min_overlap

    def expand(self, docs) -> StageOutputs:
        judged = docs | "FindItems" >> beam.ParDo(_JudgeDoFn(self._index, self._min_overlap)).with_outputs(
            _REJECTED, main="kept")
        return StageOutputs(judged.kept, judged[_REJECTED])


class _JudgeDoFn(beam.DoFn):
    def __init__(self, index: NgramIndex, min_overlap: int):
        self._index = index
        self._min_overlap = min_overlap

    def process(self, doc):
        Metrics.counter(METRICS_NAMESPACE, "input").inc()
        found = {item: len(keys) for item, keys in self._index.matches(doc.text).items()
                 if len(keys) >= self._min_overlap}
        if not found:
            Metrics.counter(METRICS_NAMESPACE, "kept").inc()
            yield doc
            return
        Metrics.counter(METRICS_NAMESPACE, REASON).inc()
        named = ", ".join(sorted(found)[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        yield TaggedOutput(_REJECTED, Rejected(doc, STAGE, REASON, f"contains {len(found)} evaluation item(s): {named}"))
