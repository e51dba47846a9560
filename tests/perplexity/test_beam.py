"""FilterByPerplexity on Beam's test pipeline, in absolute and percentile mode."""

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from fullchain.pipelines.document import Document
from fullchain.pipelines.perplexity.beam import METRIC_NAMES, FilterByPerplexity
from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.perplexity.model_handler import METRICS_NAMESPACE, PerplexityModelHandler
from fullchain.pipelines.perplexity.scoring import perplexity
from tests.beam_metrics import beam_counters

EN = [
    "The river that runs through the old market town has shaped the lives of the people.",
    "Local historians have gathered letters, parish records and diaries about the flood.",
    "Today the river is quieter, but it still plays an important role in local life.",
    "The river river river the the the town town town.",
    "qzx vvk jjw pplm 7782 ## river ?? xq",
    "Historians of the market town wrote about the river and the flood for many years, and the letters "
    "they gathered are kept in the parish records.",
]
# counters RunInference itself reports in the handler's namespace
RUN_INFERENCE_COUNTERS = {"num_inferences", "failed_batches_counter"}
ZH = ["这条穿过老城的河流，几百年来一直影响着两岸居民的生活。", "现在的河流安静了许多。", "河流河流河流。"]


def corpus():
    docs = [Document(id=f"en{i}", text=t, lang="en", meta={"i": i}) for i, t in enumerate(EN)]
    docs += [Document(id=f"zh{i}", text=t, lang="zh") for i, t in enumerate(ZH)]
    docs.append(Document(id="empty", text="", lang="en"))
    return docs


@pytest.fixture(scope="module")
def expected_ppl(causal_lm):
    """Each document's perplexity straight from the model handler, one document at a time."""
    handler = PerplexityModelHandler(PerplexityConfig(model=causal_lm, window_tokens=64))
    model = handler.load_model()
    return {d.id: perplexity(*handler.run_inference([d.text], model)[0].inference) for d in corpus() if d.text}


def run(cfg, build_checks):
    pipeline = test_pipeline.TestPipeline()
    out = pipeline | beam.Create(corpus()) | FilterByPerplexity(cfg)
    build_checks(out)
    result = pipeline.run()
    result.wait_until_finish()
    return beam_counters(result, METRICS_NAMESPACE)


def summary(out):
    kept = out.kept | "KeptSummary" >> beam.Map(lambda d: (d.id, d.meta.get("ppl_bucket"), d.meta.get("ppl")))
    rejected = out.rejected | "RejectedSummary" >> beam.Map(
        lambda r: (r.doc.id, r.stage, r.reason, r.doc.meta.get("ppl_bucket"), r.doc.meta.get("ppl")))
    return kept, rejected


@pytest.mark.parametrize("batch_size, by_length", [(4, True), (1, False)])
def test_absolute_mode(causal_lm, expected_ppl, batch_size, by_length):
    en = sorted(expected_ppl[f"en{i}"] for i in range(len(EN)))
    en_max = (en[2] + en[3]) / 2  # the 3 best English documents pass
    cfg = PerplexityConfig(model=causal_lm, window_tokens=64, batch_size=batch_size, length_aware_batching=by_length,
                           max_ppl_by_lang=[f"en={en_max}"])
    passes = {i for i, p in expected_ppl.items() if i.startswith("zh") or p <= en_max}

    def checks(out):
        kept, rejected = summary(out)
        assert_that(kept, equal_to([(i, "head", round(expected_ppl[i], 2)) for i in sorted(passes)]), label="Kept")
        assert_that(rejected, equal_to(
            [(i, "ppl_filter", "perplexity", "tail", round(p, 2)) for i, p in expected_ppl.items() if i not in passes]
            + [("empty", "ppl_filter", "ppl_empty", None, None)]), label="Rejected")
        details = out.rejected | beam.Filter(lambda r: r.reason == "perplexity") | beam.Map(lambda r: r.detail)
        assert_that(details | beam.Map(lambda d: f"> max_ppl {en_max:g} for lang 'en' (bucket tail)" in d),
                    equal_to([True] * 3), label="Detail")

    counts = run(cfg, checks)
    assert set(counts) <= set(METRIC_NAMES) | RUN_INFERENCE_COUNTERS
    assert counts["input"] == len(corpus()) == counts["kept"] + counts["perplexity"] + counts["ppl_empty"]
    assert (counts["kept"], counts["perplexity"], counts["ppl_empty"]) == (6, 3, 1)
    assert counts["scored_tokens"] > 0


def test_percentile_mode_cuts_per_language(causal_lm, expected_ppl):
    cfg = PerplexityConfig(model=causal_lm, window_tokens=64, batch_size=3, mode="percentile",
                           keep_buckets=["head", "middle"])
    by_lang = {lang: sorted((p, i) for i, p in expected_ppl.items() if i.startswith(lang)) for lang in ("en", "zh")}
    # with 6 English documents, the 66th percentile is the 4th smallest (quantile index round(0.66 * 5) = 3)
    tail = {i for _, i in by_lang["en"][4:]} | {i for _, i in by_lang["zh"][2:]}

    def checks(out):
        kept, rejected = summary(out)
        assert_that(kept | beam.Map(lambda s: s[0]), equal_to(sorted(set(expected_ppl) - tail)), label="Kept")
        assert_that(rejected | beam.Map(lambda s: (s[0], s[2], s[3])), equal_to(
            [(i, "perplexity", "tail") for i in tail] + [("empty", "ppl_empty", None)]), label="Rejected")

    counts = run(cfg, checks)
    assert counts["input"] == counts["kept"] + counts["perplexity"] + counts["ppl_empty"] == len(corpus())
    assert counts["bucket_tail"] == len(tail) and counts["bucket_head"] + counts["bucket_middle"] == counts["kept"]
