"""The ppl-filter stage in Beam: `FilterByPerplexity` over a PCollection of Documents.

1. Batch: each worker buffers up to `_BUFFERED_BATCHES` batches of documents (and whatever its
   bundle ends with), sorts them by length and cuts them into batches, so a batch pads little.
   Beam's BatchElements batches in arrival order; its length-bucketed variant is its stateful
   (streaming) path. Stateful batching with GroupIntoBatches was tried: on Beam 2.77's
   DirectRunner its batches never reached the downstream transforms of a test pipeline.
2. Score: RunInference with PerplexityModelHandler gives each document its summed token loss.
3. Judge: absolute mode compares perplexity with the language's threshold; percentile mode first
   computes each language's cut points from the scored corpus (ApproximateQuantiles.PerKey, a side
   input) and keeps the buckets in keep_buckets.

Every document gets `ppl` and `ppl_bucket` in its meta, kept or rejected. The scores do not depend on
how documents were batched (up to float rounding, ~1e-6 relative), so the output is the same on every
run except for a document whose perplexity lies within that rounding of a cut point.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, TaggedOutput

from fullchain.pipelines.document import Rejected
from fullchain.pipelines.length_batching import BatchDocuments
from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.perplexity.scoring import (
    HEAD,
    METRICS_NAMESPACE,
    PERPLEXITY,
    PPL_EMPTY,
    STAGE,
    absolute_bounds,
    absolute_bucket,
    cut_points,
    empty_failure,
    lang_thresholds,
    percentile_bounds,
    percentile_bucket,
    perplexity,
    verdict,
    with_score,
)
from fullchain.pipelines.stage_outputs import StageOutputs

METRIC_NAMES: tuple[str, ...] = (
    "input", "kept", PERPLEXITY, PPL_EMPTY,  # documents
    "bucket_head", "bucket_middle", "bucket_tail",  # scored documents per bucket
    "scored_tokens",  # tokens whose loss was summed, over all documents
)
_REJECTED = "rejected"
# 1001 evenly spaced quantiles: cut points at every 0.1 percentile
_NUM_QUANTILES = 1001
# documents a worker sorts by length at once, in batches: more pads less, but holds more texts
_BUFFERED_BATCHES = 64


class FilterByPerplexity(beam.PTransform):
    """PCollection[Document] -> StageOutputs(kept, rejected); rejected have stage ppl_filter and reason
    perplexity (over the threshold, or in a bucket not kept) or ppl_empty (no token to score).

    Run `check_model(cfg.model, cfg.window_tokens)` before building the pipeline: this transform
    assumes a loadable causal LM.
    """

    def __init__(self, cfg: PerplexityConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, docs) -> StageOutputs:
        # Beam's ML stack imports torch (~3 s): only a job that runs this stage pays for it, not
        # every command that builds the table of stages.
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        from fullchain.pipelines.perplexity.model_handler import PerplexityModelHandler

        cfg = self._cfg
        scored = (
            docs
            | "CountInput" >> beam.Map(_count, "input")
            # documents of one input file arrive in one bundle; redistribute them over the workers
            | "Spread" >> beam.Reshuffle()
            | "Batch" >> beam.ParDo(BatchDocuments(cfg.batch_size, cfg.length_aware_batching, _BUFFERED_BATCHES))
            | "DocAndText" >> beam.Map(lambda batch: [(doc, doc.text) for doc in batch])
            | "Score" >> RunInference(KeyedModelHandler(PerplexityModelHandler(cfg)).with_no_batching())
            | "Perplexity" >> beam.Map(_doc_and_perplexity)
        )
        if cfg.mode == "percentile":
            cuts = (
                scored
                | "Scorable" >> beam.Filter(lambda pair: pair[1] is not None)
                | "LangAndPpl" >> beam.Map(lambda pair: (pair[0].lang, pair[1]))
                | "Quantiles" >> beam.ApproximateQuantiles.PerKey(_NUM_QUANTILES)
                | "CutPoints" >> beam.MapTuple(lambda lang, q: (lang, cut_points(
                    q, cfg.head_max_percentile, cfg.middle_max_percentile)))
            )
            judged = scored | "Judge" >> beam.ParDo(_JudgeDoFn(cfg), AsDict(cuts)).with_outputs(_REJECTED, main="kept")
        else:
            judged = scored | "Judge" >> beam.ParDo(_JudgeDoFn(cfg), None).with_outputs(_REJECTED, main="kept")
        kept = judged.kept | "CountKept" >> beam.Map(_count, "kept")
        return StageOutputs(kept, judged[_REJECTED])


def _count(element, name: str):
    Metrics.counter(METRICS_NAMESPACE, name).inc()
    return element


def _doc_and_perplexity(keyed_result):
    doc, result = keyed_result
    loss = result.inference
    Metrics.counter(METRICS_NAMESPACE, "scored_tokens").inc(loss.n_tokens)
    return doc, perplexity(loss.nll_sum, loss.n_tokens)


class _JudgeDoFn(beam.DoFn):
    """Buckets a scored document and keeps or rejects it; `cuts` is {lang: (head cut, middle cut)}
    in percentile mode and None in absolute mode."""

    def __init__(self, cfg: PerplexityConfig):
        self._cfg = cfg

    def setup(self):
        self._thresholds = lang_thresholds(self._cfg.max_ppl_by_lang)

    def process(self, pair, cuts):
        doc, ppl = pair
        if ppl is None:
            failure = empty_failure()
            Metrics.counter(METRICS_NAMESPACE, failure.reason).inc()
            yield TaggedOutput(_REJECTED, Rejected(with_score(doc, None, None), STAGE, failure.reason, failure.detail))
            return
        if cuts is None:
            threshold = self._thresholds.get(doc.lang, self._cfg.max_ppl)
            bucket = absolute_bucket(ppl, threshold)
            failure = verdict(ppl, bucket, (HEAD,), absolute_bounds(threshold, doc.lang) if bucket != HEAD else "")
        else:
            lang_cuts = cuts[doc.lang]
            bucket = percentile_bucket(ppl, lang_cuts)
            failure = verdict(ppl, bucket, self._cfg.keep_buckets, percentile_bounds(bucket, lang_cuts, doc.lang))
        Metrics.counter(METRICS_NAMESPACE, f"bucket_{bucket}").inc()
        scored = with_score(doc, ppl, bucket)
        if failure is None:
            yield scored
        else:
            Metrics.counter(METRICS_NAMESPACE, failure.reason).inc()
            yield TaggedOutput(_REJECTED, Rejected(scored, STAGE, failure.reason, failure.detail))

