"""The classify stage: Beam's test pipeline with both kinds of classifier, the command with its
ledger, and the one-line refusals before a job."""

import json
import os

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from fullchain.cli import main
from fullchain.pipelines.classify.beam import ClassifyDocuments
from fullchain.pipelines.classify.classifiers import LoadedClassifiers, check_classifiers
from fullchain.pipelines.classify.config import METRICS_NAMESPACE, ClassifyConfig
from fullchain.pipelines.config import ModelCheckError
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl
from tests.beam_metrics import beam_counters
from tests.classify.test_training import PROSE, SPAM
from tests.stage_checks import assert_ledger_balanced, parquet_rows

TEXTS = [*(f"{a} {b}" for a in PROSE for b in PROSE[:2]), *(f"{a} {b}" for a in SPAM for b in SPAM[:2]),
         "这条穿过老城的河流，几百年来一直影响着两岸居民的生活。", ""]


def corpus():
    return [Document(id=f"d{i:02d}", text=t, lang="zh" if "河" in t else "en") for i, t in enumerate(TEXTS)]


def config(quality_model, safety_model, **kwargs):
    return ClassifyConfig(classifiers={"quality": quality_model, "safety": safety_model}, batch_size=3, **kwargs)


@pytest.fixture(scope="module")
def expected(quality_model, safety_model):
    """Each document's scores straight from the loaded classifiers, one document at a time."""
    cfg = config(quality_model, safety_model)
    loaded = LoadedClassifiers(check_classifiers(cfg), cfg)
    return {d.id: loaded.scores([d.text])[0] for d in corpus()}


def test_stage_annotates_and_filters_per_label(quality_model, safety_model, expected):
    # a safety threshold between the documents' scores, so that the filter removes some and keeps some
    unsafe = sorted(s["safety"]["unsafe"] for s in expected.values())
    cut = (unsafe[len(unsafe) // 2] + unsafe[len(unsafe) // 2 + 1]) / 2
    cfg = config(quality_model, safety_model, thresholds={"safety.unsafe": cut},
                 filter={"quality.good": "keep", "safety.unsafe": "reject"})
    quality_cut = check_classifiers(cfg)[0].thresholds["good"]

    def reason(scores):
        if scores["quality"]["good"] < quality_cut:
            return "classifier_quality"
        return "classifier_safety" if scores["safety"]["unsafe"] >= cut else None

    outcome = {i: reason(s) for i, s in expected.items()}
    assert set(outcome.values()) == {None, "classifier_quality", "classifier_safety"}
    pipeline = test_pipeline.TestPipeline()
    out = pipeline | beam.Create(corpus()) | ClassifyDocuments(cfg)
    assert_that(out.kept | beam.Map(lambda d: d.id), equal_to([i for i, r in outcome.items() if r is None]),
                label="Kept")
    assert_that(out.rejected | beam.Map(lambda r: (r.doc.id, r.stage, r.reason)),
                equal_to([(i, "classify", r) for i, r in outcome.items() if r]), label="Rejected")
    # batched scores equal one-at-a-time scores (4 decimals), on kept and rejected documents alike
    scored = ((out.kept, out.rejected | beam.Map(lambda r: r.doc)) | beam.Flatten()
              | beam.Map(lambda d: (d.id, d.meta["quality"], d.meta["safety"], d.meta["safety_labels"])))
    assert_that(scored, equal_to([
        (i, {k: round(v, 4) for k, v in s["quality"].items()}, {k: round(v, 4) for k, v in s["safety"].items()},
         [lab for lab, t in (("safe", 0.5), ("unsafe", cut)) if s["safety"][lab] >= t]) for i, s in expected.items()]),
        label="Meta")
    result = pipeline.run()
    result.wait_until_finish()
    counts = beam_counters(result, METRICS_NAMESPACE)
    assert counts["input"] == len(TEXTS) == counts["kept"] + counts.get("classifier_quality", 0) + \
        counts.get("classifier_safety", 0)


def test_a_regression_head_scores_its_raw_output(tmp_path):
    # FineWeb-Edu's classifier is such a head: one output, the educational score (0-5), thresholds in its units
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tests.classify.conftest import tiny_sequence_classifier

    folder = tiny_sequence_classifier(str(tmp_path / "edu"), labels=("int_score",), problem_type="regression")
    cfg = ClassifyConfig(classifiers={"edu": folder}, thresholds={"edu.int_score": 2.5}, filter={"edu.int_score": "keep"})
    infos = check_classifiers(cfg)
    scores = LoadedClassifiers(infos, cfg).scores(TEXTS[:2])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        raw = [model(**tokenizer(t, return_tensors="pt")).logits[0, 0].item() for t in TEXTS[:2]]
    assert [s["edu"]["int_score"] for s in scores] == pytest.approx(raw, abs=1e-5)
    assert infos[0].thresholds == {"int_score": 2.5}


def test_command_writes_a_balanced_ledger_with_the_reasons(quality_model, safety_model, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "out"
    status = main(["classify", "--input", str(src), "--output", str(out),
                   "--classify.classifiers", f"{{quality: {quality_model}, safety: {safety_model}}}",
                   "--classify.filter", "{quality.good: keep}", "--", "--direct_running_mode=in_memory"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    ledger = assert_ledger_balanced(str(out))
    assert ledger["stage"] == "classify" and ledger["rejected"].get("classifier_quality", 0) > 0
    assert "rejected: classifier_quality" in captured.out
    rows = parquet_rows(str(out), "data")
    assert all(set(json.loads(r["meta"])) >= {"quality", "quality_labels", "safety", "safety_labels"} for r in rows)


def test_refusals_are_one_line_before_the_job(quality_model, safety_model, tmp_path, causal_lm, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": "a"}) + "\n")
    cases = [
        ({"classifiers": {"lm": causal_lm}}, "classify.classifiers.lm: ", "is a LlamaForCausalLM, not a sequence-"
                                                                          "classification model"),
        ({"classifiers": {"safety": safety_model}, "filter": {"safety.toxic": "reject"}},
         "classify.filter: 'safety.toxic': classifier 'safety'", "has no label 'toxic' (labels: safe, unsafe)"),
        ({"classifiers": {"quality": quality_model}, "thresholds": {"quality.bad": 0.3}},
         "classify.thresholds: 'quality.bad'", "(labels: junk, good)"),
        ({"classifiers": {"x": str(tmp_path)}}, "classify.classifiers.x: ", "config.json: missing"),
        ({}, "classify.classifiers is empty", ""),
    ]
    for fields, start, end in cases:
        with pytest.raises(ModelCheckError) as error:
            check_classifiers(ClassifyConfig(**fields))
        message = str(error.value)
        assert message.startswith(start) and end in message and "\n" not in message, message
    out = tmp_path / "out"
    assert main(["classify", "--input", str(src), "--output", str(out),
                 "--classify.classifiers", f"{{lm: {causal_lm}}}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fullchain classify: error: classify.classifiers.lm:")
    assert not os.path.exists(out / "ledger.json")
    with pytest.raises(ValueError, match="names classifier 'safety', not one of classifiers"):
        ClassifyConfig(classifiers={"quality": quality_model}, filter={"safety.unsafe": "reject"})


def test_moderation_blocklist_and_safety_classifier_in_one_prepare_job(safety_model, tmp_path, capsys):
    # the seeds' moderation: clean's blocklist, then a safety classifier; each ledger shows what it removed
    records, _ = generate_corpus(40, seed=0, zh_fraction=0.0)
    src = str(tmp_path / "in.jsonl")
    write_jsonl(records, src)
    cfg = ClassifyConfig(classifiers={"safety": safety_model})
    loaded = LoadedClassifiers(check_classifiers(cfg), cfg)
    unsafe = sorted(s["safety"]["unsafe"] for s in loaded.scores([r["text"] for r in records]))
    cut = unsafe[len(unsafe) // 2]  # clean normalises the text a little, so only about half are over it
    out = tmp_path / "prep"
    status = main(["prepare", "--input", src, "--output", str(out), "--prepare.stages", "clean,classify",
                   "--clean.blocklist.words", "museum", "--classify.classifiers", f"{{safety: {safety_model}}}",
                   "--classify.filter", "{safety.unsafe: reject}", "--classify.thresholds", f"{{safety.unsafe: {cut}}}",
                   "--", "--direct_running_mode=in_memory"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    clean = assert_ledger_balanced(str(out / "clean"))
    classify = assert_ledger_balanced(str(out / "classify"))
    assert clean["rejected"]["blocklist"] > 0 and classify["rejected"]["classifier_safety"] > 0 and classify["kept"] > 0
    assert classify["input"] == clean["kept"]
    summary = json.loads((out / "prepare.json").read_text())
    assert summary["stages"]["classify"]["rejected"] == classify["rejected"]
    assert summary["stages"]["clean"]["rejected"]["blocklist"] == clean["rejected"]["blocklist"]
    rejected = parquet_rows(str(out / "classify"), "rejected")
    assert all(r["detail"].startswith("safety.unsafe ") and ">= " in r["detail"] for r in rejected)
