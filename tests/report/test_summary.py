"""The report's summary of a run folder, against the counts the fixture planted (tests/report/run_folder.py)."""

from __future__ import annotations

import json
import os

import pytest

from fullchain.report.config import ReportConfig
from fullchain.report.run_layout import ReportError
from fullchain.report.summary import headline_table, summarize_run
from fullchain.report.text_diff import first_difference, marked_changes, text_units
from tests.report.run_folder import TEXT, VAL, write_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> str:
    return write_run(str(tmp_path_factory.mktemp("run") / "run"))


@pytest.fixture(scope="module")
def summary(run_dir) -> dict:
    return summarize_run(run_dir)


def test_funnel_has_every_stage_and_reason_and_the_shards(summary):
    funnel = summary["funnel"]
    assert funnel["input_documents"] == 12
    by_folder = {s["folder"]: s for s in funnel["stages"]}
    assert [s["folder"] for s in funnel["stages"]] == ["clean", "dedup", "classify", "ppl-filter", "backtranslate"]
    assert not by_folder["classify"]["ran"]  # the fixture's run has no classify stage
    assert by_folder["clean"]["rejected"] == {"bad_encoding": 1, "gopher_too_few_words": 1}
    assert by_folder["clean"]["tallies"] == [{"key": "pii_documents.email", "count": 2},
                                             {"key": "pii_redacted.email", "count": 3}]
    assert by_folder["dedup"]["rejected"] == {"near_duplicate": 2, "exact_duplicate": 1}
    assert (by_folder["ppl-filter"]["input"], by_folder["ppl-filter"]["kept"]) == (7, 5)
    assert (by_folder["backtranslate"]["added"], by_folder["backtranslate"]["kept"]) == (2, 6)
    assert funnel["shard"]["written"] == 6
    assert funnel["shard"]["splits"]["train"] == {"samples": 5, "tokens": 400, "shards": 1}


def test_planted_catch_rates_per_kind_and_stage(summary):
    kinds = {k["kind"]: k for k in summary["planted"]["kinds"]}
    assert kinds["exact_duplicate"]["by_stage"] == {"dedup": {"exact_duplicate": 1}}
    near = kinds["near_duplicate"]
    assert (near["planted"], near["caught"], near["missed"]) == (4, 3, 1)
    assert near["catch_rate"] == pytest.approx(3 / 4)
    assert near["by_stage"] == {"dedup": {"near_duplicate": 2, "near_duplicate (source removed)": 1}}
    assert kinds["junk_binary"]["by_stage"] == {"clean": {"bad_encoding": 1}}
    assert kinds["junk_short"]["by_stage"] == {"clean": {"gopher_too_few_words": 1}}
    assert (summary["planted"]["caught"], summary["planted"]["planted"]) == (6, 7)


def test_duplicate_chains_end_in_one_cluster_with_its_survivor(summary):
    dedup = summary["dedup"]
    # d02 -> d01 -> d00: one cluster of 3, not two of 2
    assert dedup["size_histogram"] == [{"size": 2, "clusters": 1}, {"size": 3, "clusters": 1}]
    assert (dedup["clusters"], dedup["removed"], dedup["singletons"], dedup["largest"]) == (2, 3, 5, 3)
    first = dedup["examples"][0]
    assert first["survivor"]["id"] == "d00" and first["size"] == 3
    assert [r["id"] for r in first["removed"]] == ["d02", "d01"]  # the near duplicate first
    assert "changed words" in first["removed"][0]["text"]
    assert first["survivor"]["text"].lstrip("… ") in TEXT["d00"]


def test_perplexity_histogram_cutoffs_and_bucket_examples(summary):
    ppl = summary["perplexity"]
    assert (ppl["mode"], ppl["scored"], ppl["unscorable"]) == ("absolute", 7, 0)
    assert ppl["cutoffs"] == [{"lang": "*", "label": "max_ppl", "ppl": 100.0}]
    histogram = ppl["histogram"]
    assert sum(histogram["kept"]) == 5 and sum(histogram["rejected"]) == 2
    assert histogram["edges"][0] == pytest.approx(12.0) and histogram["edges"][-1] == pytest.approx(900.75)
    assert (ppl["buckets"]["head"]["kept"], ppl["buckets"]["tail"]["rejected"]) == (5, 2)
    # spread over the bucket: the lowest and the highest perplexity
    assert [d["ppl"] for d in ppl["buckets"]["head"]["examples_kept"]] == [12.0, 99.5]


def test_percentile_cutoffs_are_the_highest_score_of_each_kept_bucket(tmp_path):
    from fullchain.report.data_summary import _cutoffs

    scored = [{"lang": "en", "bucket": b, "ppl": p} for b, p in (("head", 10), ("head", 12), ("middle", 30),
                                                                 ("tail", 99))]
    assert _cutoffs({"mode": "percentile"}, scored) == [{"lang": "en", "label": "en head <=", "ppl": 12},
                                                        {"lang": "en", "label": "en middle <=", "ppl": 30}]


def test_training_export_serving_eval(summary):
    train = summary["train"]
    assert train["train_loss"]["values"] == [9.0, 6.0, 4.5, 3.5]
    assert train["val_ppl_drop"] == pytest.approx(VAL[0][2] / VAL[1][2])
    assert [s["step"] for s in train["samples"]["samples"]] == [0, 40]
    assert train["val_ppl_drop_from_start"] == pytest.approx(8000.5 / 24.5)
    reference = summary["reference_lm"]
    assert (reference["steps"], reference["val_ppl_drop"], reference["train_loss"]["steps"]) == (10, 4.0, [])
    assert summary["lora"] == {"ran": False, "note": "lora did not run (no lora/metrics.jsonl)"}
    rows = {r["engine"]: r for r in summary["export"]["rows"]}
    assert list(rows) == ["pytorch", "onnx_fp32", "onnx_int8", "onnx_int4"]
    assert rows["pytorch"]["ms_per_token"] == 2.5  # latency's pytorch_eager is the same row
    assert rows["onnx_int4"]["size_mb"] == pytest.approx(2.0)
    assert [r["label"] for r in summary["export"]["rows"]] == ["PyTorch eager", "ONNX FP32", "ONNX INT8", "ONNX INT4"]
    assert rows["onnx_int8"]["ppl_delta_pct"] == pytest.approx(100 * 0.4 / 24.5)
    serving = summary["serving"]
    assert "ttft_p50_ms" in serving["measures"] and "itl_p50_ms" in serving["measures"]
    assert "errors" in serving["measures"] and serving["peak_tokens_per_s"] == 256.0
    assert serving["smoke"] == {"prompt": "The river", "completion": " that runs", "tokens": 2, "latency_s": 0.25}
    evaluation = summary["eval"]
    assert (evaluation["source"], evaluation["labels"], evaluation["figure"]) == \
        ("comparison.json", ["hf", "onnx-int8"], "comparison.png")
    assert evaluation["rows"] == [{"task": "lambada", "metric": "acc", "values": [0.3, 0.25]},
                                  {"task": "lambada", "metric": "perplexity", "values": [80.5, None]}]
    gate = evaluation["gate"]
    assert (gate["decision"], gate["reference"], gate["quantized"]) == ("passed", "hf", "onnx-int8")
    assert gate["checked"] == [{"task": "lambada", "metric": "acc", "fp32": 0.3, "quantized": 0.25, "change": -5.0,
                                "unit": "points"}]
    served = evaluation["served"]
    assert (served["served"], served["in_process"]) == ("served-demo-llm", "onnx-int8-echo")
    assert served["max_relative_difference"] == pytest.approx(0.1 / 80.4)


def test_backtranslation_shows_every_judged_round_trips_scores_and_the_gates_band(summary):
    section = summary["backtranslation"]
    assert (section["round_trips"], section["kept"], section["rejected"]) == (2, 1, {"roundtrip_language": 1})
    assert section["measures"]["bleu"]["count"] == 2 and section["measures"]["bleu"]["mean"] == pytest.approx(25.0)
    assert section["measures"]["chrf"]["p50"] == pytest.approx(40.0)
    assert sum(section["measures"]["chrf"]["histogram"]["counts"]) == 2
    assert section["gate"] == {"min_chrf": pytest.approx(25.0), "max_chrf": pytest.approx(90.0)}


def test_evaluation_without_the_comparison_reads_lm_eval_results(run_dir, tmp_path):
    import shutil

    run = str(tmp_path / "run")
    shutil.copytree(run_dir, run)
    os.remove(os.path.join(run, "eval", "comparison.json"))
    evaluation = summarize_run(run)["eval"]
    assert (evaluation["source"], evaluation["labels"]) == ("results.json", ["onnx-int8"])
    assert evaluation["rows"] == [{"task": "lambada", "metric": "acc", "values": [0.25]}]
    # publish refused by the gate: no release.json, the run's error says why
    os.remove(os.path.join(run, "publish", "demo", "1", "release.json"))
    record = json.load(open(os.path.join(run, "run.json")))
    record["stages"]["publish"]["status"] = "failed"
    record.update(status="failed", error="publish: release gate: int8-dynamic falls below onnx-fp32 beyond the "
                                         "bounds: fc_choice acc 0.500 -> 0.300 (-20.0 points, bound -1)")
    json.dump(record, open(os.path.join(run, "run.json"), "w"))
    gate = summarize_run(run)["eval"]["gate"]
    assert gate["decision"] == "refused" and gate["failures"] == [record["error"]]


def test_lineage_links_shards_checkpoint_export_and_published_version(summary, run_dir):
    lineage = summary["lineage"]
    assert len(lineage["shards"]["sha256"]) == 64
    assert lineage["checkpoint"]["step"] == 40 and lineage["checkpoint"]["trained_on_run_shards"] is True
    assert lineage["export"]["from_run_training"] is True
    assert lineage["published"]["versions_of_this_export"] == [{"model": "demo_generate", "version": 1}]
    assert lineage["published"]["recorded_version"] == 1


def test_a_stage_that_did_not_run_is_a_note(tmp_path):
    summary = summarize_run(write_run(str(tmp_path / "run"), stages="data"))
    for section in ("reference_lm", "train", "lora", "export", "serving", "eval", "run"):
        assert summary[section]["ran"] is False and summary[section]["note"]
    assert summary["lineage"]["checkpoint"] == {"ran": False}
    empty = summarize_run(str(tmp_path))
    assert all(not empty[s]["ran"] for s in ("funnel", "planted", "dedup", "perplexity"))


def test_unreadable_files_and_a_missing_folder_are_one_line_errors(tmp_path):
    with pytest.raises(ReportError, match="not a folder"):
        summarize_run(str(tmp_path / "nowhere"))
    run = write_run(str(tmp_path / "run"), stages="data")
    with open(os.path.join(run, "dedup", "ledger.json"), "w") as fh:
        json.dump({"stage": "dedup"}, fh)
    with pytest.raises(ReportError, match=r"dedup/ledger.json: not a valid ledger"):
        summarize_run(run)


def test_examples_are_bounded_by_the_config(run_dir):
    summary = summarize_run(run_dir, ReportConfig(example_clusters=1, examples_per_bucket=1, example_chars=20))
    assert len(summary["dedup"]["examples"]) == 1
    assert len(summary["perplexity"]["buckets"]["head"]["examples_kept"]) == 1
    assert all(len(r["text"]) <= 24 for r in summary["dedup"]["examples"][0]["removed"])


def test_text_diff_marks_what_changed_in_words_and_in_characters():
    assert "".join(text_units("a bb c")) == "a bb c"
    assert marked_changes("a bb new c", "a bb c") == "a bb <mark>new </mark>c"
    assert marked_changes("我们去学校", "我们去公园").endswith("<mark>学校</mark>")
    reference = " ".join(f"w{i}" for i in range(40))
    start, _ = first_difference(reference, reference.replace("w30", "x"))
    assert reference[start:].startswith("w18 ")


def test_headline_table_names_each_key_figure_or_that_the_stage_did_not_run(summary, tmp_path):
    table = headline_table(summary)
    assert "data          12 documents -> clean 10 -> dedup 7 -> ppl-filter 5 -> backtranslate 6 -> shards 6" in table
    assert "planted       6 of 7 caught (85.7%)" in table and "validation perplexity 8000.5 untrained -> 24.5 trained" in table
    assert "serving       peak 256 tokens/s" in table
    partial = headline_table(summarize_run(write_run(str(tmp_path / "run"), stages="data")))
    assert "train         did not run" in partial and "eval          did not run" in partial


def test_an_int4_export_is_labelled_by_the_report_quantized_field(run_dir, tmp_path):
    import shutil

    run = str(tmp_path / "run")
    shutil.copytree(run_dir, run)
    path = os.path.join(run, "export", "report.json")
    with open(path) as fh:
        report = json.load(fh)
    with open(path, "w") as fh:
        json.dump({**report, "quantized": "INT4"}, fh)
    assert summarize_run(run)["export"]["rows"][2]["label"] == "ONNX INT4"
