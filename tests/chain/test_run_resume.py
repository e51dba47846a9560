"""`fullchain run` killed with SIGKILL (the whole process group) in a data stage, in training and in
the export resumes on the next run and ends with what an uninterrupted run wrote: the data stage's
byte-identical ledger and the same records, identical training losses, an equal export.

One uninterrupted run (module fixture) is the reference; each kill starts from a copy of it cut back
to the stages before the one killed, so only that stage and those after it run again."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.chain.chain_runs import (copy_run, file_hashes, finish, kill_when, losses, run, stage_status,
                                    start_run, tiny_config)
from tests.ports import candidate_ports
from tests.stage_checks import parquet_rows

DATA_FOLDERS = ("clean", "dedup", "quality-classifier", "classify", "ppl-filter", "backtranslate")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_lm):
    """An uninterrupted tiny run up to the export: (config, run folder, its output)."""
    folder = tmp_path_factory.mktemp("chain")
    config = tiny_config(folder, tiny_lm)
    output = folder / "reference"
    out = run(config, output, "--until", "export")
    return config, output, out


def test_uninterrupted_run_records_every_stage(reference):
    _, output, out = reference
    record = json.loads((output / "run.json").read_text())
    ran = [name for name, entry in record["stages"].items() if entry["status"] == "ran"]
    assert ran == ["corpus", "clean", "dedup", "quality-classifier", "classify", "ppl-filter", "backtranslate",
                   "shard", "train", "export"]
    assert record["stages"]["reference-lm"]["status"] == "not_configured"  # ppl_filter.model names one
    # a stage passed over is not among what its readers read
    assert record["stages"]["ppl-filter"]["reads"] == ["dedup", "classify"]
    assert record["stages"]["export"]["reads"] == ["train", "shard"]  # no lora section
    assert record["status"] == "complete"
    assert "planted documents caught per stage" in out
    # every planted exact duplicate is caught, by dedup
    assert record["stages"]["dedup"]["planted_caught"]["exact_duplicate"] == 10
    # the quality classifier: held-out figures from classifier train, then classify filters and ppl-filter
    # reads what it kept
    trained = json.loads((output / "quality-classifier" / "model" / "config.json").read_text())
    figure = record["stages"]["quality-classifier"]["key_figure"]
    assert figure["precision"] == trained["heldout_metrics"]["precision"] > 0.9
    assert figure["recall"] == trained["heldout_metrics"]["recall"] > 0.9
    assert trained["labels"] == ["junk", "good"] and trained["training"]["negative_documents"] > 0
    classified = json.loads((output / "classify" / "ledger.json").read_text())
    assert classified["input"] == json.loads((output / "dedup" / "ledger.json").read_text())["kept"]
    assert set(classified["rejected"]) <= {"classifier_quality"}
    assert classified["params"]["classify"]["filter"] == {"quality.good": "keep"}
    assert json.loads((output / "ppl-filter" / "ledger.json").read_text())["input"] == classified["kept"]
    assert "planted_caught" in record["stages"]["classify"] and "classify" in out
    samples = json.loads((output / "train" / "samples.json").read_text())
    assert [entry["step"] for entry in samples["samples"]] == [0, 6]
    assert all(entry["val_ppl"] > 0 and len(entry["texts"]) == len(samples["prompts"]) for entry in samples["samples"])


def test_a_second_run_skips_every_complete_stage(reference, tmp_path):
    config, output, _ = reference
    copy = tmp_path / "again"
    copy_run(output, copy, ["corpus", *DATA_FOLDERS, "shard", "train", "export", "stand-ins"])
    before = file_hashes(copy / "shard")
    out = run(config, copy, "--until", "export")
    stages = json.loads((copy / "run.json").read_text())["stages"]
    assert all(stages[s]["status"] in ("skipped", "not_configured") for s in stages), stages
    assert out.count("skipped") >= 8 and file_hashes(copy / "shard") == before


def _dedup_outputs(run_dir):
    """dedup's ledger (bytes) and its kept and rejected records (by id)."""
    records = {part: parquet_rows(str(run_dir / "dedup"), part) for part in ("data", "rejected")}
    return (run_dir / "dedup" / "ledger.json").read_bytes(), records


def test_killed_in_dedup_resumes_to_the_same_ledger_and_records(reference, tmp_path):
    config, output, _ = reference
    resumed = tmp_path / "killed-in-dedup"
    copy_run(output, resumed, ["corpus", "clean", "quality-classifier"])
    process = start_run(config, resumed, "--until", "dedup")
    kill_when(process, lambda: stage_status(resumed, "dedup") == "running" and (resumed / "dedup").is_dir(),
              "dedup started writing")
    assert not (resumed / "dedup" / "ledger.json").exists()
    finish(start_run(config, resumed, "--until", "dedup"))
    assert _dedup_outputs(resumed) == _dedup_outputs(output)


def test_killed_in_training_resumes_from_its_checkpoint_with_the_same_losses(reference, tmp_path):
    config, output, _ = reference
    resumed = tmp_path / "killed-in-train"
    copy_run(output, resumed, ["corpus", *DATA_FOLDERS, "shard"])
    process = start_run(config, resumed, "--until", "train")
    first = resumed / "train" / "checkpoints" / "step_00000002" / "COMPLETE"
    kill_when(process, first.exists, "the first checkpoint")
    assert not (resumed / "train" / "hf").exists()
    out = finish(start_run(config, resumed, "--until", "train"))
    assert "resuming what the last run left" in out
    assert losses(resumed / "train") == losses(output / "train")
    assert (resumed / "train" / "hf" / "model.safetensors").read_bytes() == \
        (output / "train" / "hf" / "model.safetensors").read_bytes()


def test_killed_in_export_resumes_to_an_equal_export(reference, tmp_path):
    config, output, _ = reference
    resumed = tmp_path / "killed-in-export"
    copy_run(output, resumed, ["corpus", *DATA_FOLDERS, "shard", "train"])
    process = start_run(config, resumed, "--until", "export")
    kill_when(process, lambda: any(p.name.startswith(".export.tmp-") for p in resumed.iterdir()),
              "the export's scratch folder")
    assert not (resumed / "export" / "export.json").exists()
    finish(start_run(config, resumed, "--until", "export"))
    ours, theirs = (json.loads((d / "export" / "report.json").read_text()) for d in (resumed, output))
    assert ours["perplexity"] == theirs["perplexity"] and ours["greedy"] == theirs["greedy"]
    assert (resumed / "export" / "model.onnx").read_bytes() == (output / "export" / "model.onnx").read_bytes()


def test_eval_compares_fp32_and_int8_before_publish_and_the_gate_passes_or_stops_the_run(reference, tmp_path):
    config, output, _ = reference
    gated = tmp_path / "gated"
    copy_run(output, gated, ["corpus", *DATA_FOLDERS, "shard", "train", "export", "stand-ins"])
    run(config, gated, "--until", "publish")
    comparison = json.loads((gated / "eval" / "comparison.json").read_text())
    assert comparison["labels"] == ["pytorch-fp32", "onnx-fp32", "onnx-int8-dynamic"]
    release = json.loads((gated / "publish" / "fullchain" / "1" / "release.json").read_text())
    assert release["decision"] == "passed" and release["reference"] == "onnx-fp32" and release["checked"]

    # served-eval: the running server (log-likelihoods through fullchain_llm) scores what was evaluated
    served_config = tmp_path / "served.yaml"
    ports = dict(zip(("http_port", "grpc_port", "metrics_port"), candidate_ports(3)))
    served_config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "serve": ports}))
    run(served_config, gated, "--until", "served-eval")
    served = json.loads((gated / "served-eval" / "comparison.json").read_text())
    assert served["labels"] == ["served-fullchain-llm", "onnx-int8-dynamic-echo"]
    figure = json.loads((gated / "run.json").read_text())["stages"]["served-eval"]["key_figure"]
    assert 0 <= figure["value"] < 1e-4, figure

    # the INT8 graph scored far below FP32 on one task: publish refuses, naming it, and the run stops there
    refused = tmp_path / "refused"
    copy_run(gated, refused, ["corpus", *DATA_FOLDERS, "shard", "train", "export", "stand-ins", "eval"])
    acc = comparison["scores"]["fc_choice"]["acc"]
    acc["onnx-int8-dynamic"] = acc["onnx-fp32"] - 0.5
    (refused / "eval" / "comparison.json").write_text(json.dumps(comparison))
    process = start_run(config, refused, "--from", "publish")
    out, _ = process.communicate(timeout=600)
    record = json.loads((refused / "run.json").read_text())
    assert process.returncode != 0 and record["status"] == "failed", out[-3000:]
    assert "release gate: int8-dynamic falls below onnx-fp32" in record["error"]
    assert f"fc_choice acc {acc['onnx-fp32']:.3f} -> {acc['onnx-int8-dynamic']:.3f}" in record["error"]
    assert record["stages"]["publish"]["status"] == "failed" and not (refused / "publish").exists()
    assert not (refused / "serve").exists()  # the run stopped at publish: nothing was served
