"""The classify stage in Beam: `ClassifyDocuments` over a PCollection of Documents.

1. Batch: each worker buffers documents of its bundle, sorts them by language and length and cuts
   them into batches (as ppl-filter does), so a Hugging Face batch pads little.
2. Score: RunInference with ClassifiersModelHandler, every classifier loaded once per worker.
3. Judge: scores go into meta (`<name>`, `<name>_labels`); the configured filters keep or reject.

Every document is annotated, kept or rejected. Counters are in the Beam metrics namespace
`fullchain.classify`, next to RunInference's own.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from fullchain.pipelines.classify.config import METRICS_NAMESPACE, STAGE, ClassifyConfig
from fullchain.pipelines.classify.judging import annotated, verdict
from fullchain.pipelines.document import Rejected
from fullchain.pipelines.length_batching import BatchDocuments
from fullchain.pipelines.stage_outputs import StageOutputs

_REJECTED = "rejected"
# documents a worker sorts by length at once, in batches: more pads less, but holds more texts
_BUFFERED_BATCHES = 32


class ClassifyDocuments(beam.PTransform):
    """PCollection[Document] -> StageOutputs(kept, rejected); rejected have stage classify and reason
    classifier_<name> (the first classifier, in config order, whose filter failed).

    Run `check_classifiers(cfg)` before building the pipeline (stage_job's preflight does): this
    transform reads the classifiers' config files to resolve labels and thresholds.
    """

    def __init__(self, cfg: ClassifyConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, docs) -> StageOutputs:
        # Beam's ML stack imports torch (~3 s): only a job that runs this stage pays for it
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        from fullchain.pipelines.classify.classifiers import classifier_infos
        from fullchain.pipelines.classify.model_handler import ClassifiersModelHandler

        cfg = self._cfg
        infos = classifier_infos(cfg)
        judged = (
            docs
            | "CountInput" >> beam.Map(_count, "input")
            # documents of one input file arrive in one bundle; redistribute them over the workers
            | "Spread" >> beam.Reshuffle()
            | "Batch" >> beam.ParDo(BatchDocuments(cfg.batch_size, cfg.length_aware_batching, _BUFFERED_BATCHES))
            | "DocAndText" >> beam.Map(lambda batch: [(doc, doc.text) for doc in batch])
            | "Score" >> RunInference(KeyedModelHandler(ClassifiersModelHandler(cfg, infos)).with_no_batching())
            | "Judge" >> beam.ParDo(_JudgeDoFn(cfg, infos)).with_outputs(_REJECTED, main="kept")
        )
        kept = judged.kept | "CountKept" >> beam.Map(_count, "kept")
        return StageOutputs(kept, judged[_REJECTED])


def _count(element, name: str):
    Metrics.counter(METRICS_NAMESPACE, name).inc()
    return element


class _JudgeDoFn(beam.DoFn):
    """Annotates a scored document and keeps or rejects it by the configured filters."""

    def __init__(self, cfg: ClassifyConfig, infos):
        self._cfg = cfg
        self._infos = infos

    def process(self, keyed_result):
        doc, result = keyed_result
        scored = annotated(doc, result.inference, self._infos)
        failure = verdict(result.inference, self._infos, self._cfg.filter)
        if failure is None:
            yield scored
        else:
            Metrics.counter(METRICS_NAMESPACE, failure.reason).inc()
            yield TaggedOutput(_REJECTED, Rejected(scored, STAGE, failure.reason, failure.detail))
