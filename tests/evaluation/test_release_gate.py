"""The release gate of `fullchain publish`: a quantized export whose evaluation falls below FP32 by
more than the bounds is refused in one line naming the task and the numbers; --force publishes it
and the version's release.json says so; within the bounds it publishes."""

import json
import shutil

import pytest

from fullchain.cli import main
from fullchain.deploy.config import ReleaseGateConfig
from fullchain.deploy.release_gate import ReleaseGateError, gate_report


def _comparison(export, acc_int8, ppl_int8):
    models = [{"label": "onnx-fp32", "backend": "fullchain-onnx", "args": {"path": str(export), "graph": "fp32"}},
              {"label": "onnx-int8-dynamic", "backend": "fullchain-onnx",
               "args": {"path": str(export), "graph": "served"}}]
    scores = {"fc_choice": {"acc": {"onnx-fp32": 0.5, "onnx-int8-dynamic": acc_int8}},
              "fc_ppl_en": {"bits_per_byte": {"onnx-fp32": 2.0, "onnx-int8-dynamic": ppl_int8}},
              "fc_answer": {"bleu (answer)": {"onnx-fp32": 10.0, "onnx-int8-dynamic": 0.0}}}
    return {"format": "fullchain-eval-comparison", "models": models, "labels": [m["label"] for m in models],
            "scores": scores}


@pytest.fixture
def export(eval_export, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(eval_export, copy)
    (copy / "eval").mkdir()
    return copy


def test_bounds_are_percent_for_perplexity_and_points_for_accuracy(export):
    meta = json.loads((export / "export.json").read_text())
    (export / "eval" / "comparison.json").write_text(json.dumps(_comparison(export, 0.495, 2.039)))
    passed = gate_report(meta, export, ReleaseGateConfig(), force=False)
    assert passed["decision"] == "passed" and passed["reference"] == "onnx-fp32" and passed["failures"] == []
    (export / "eval" / "comparison.json").write_text(json.dumps(_comparison(export, 0.48, 2.05)))
    with pytest.raises(ReleaseGateError) as refused:
        gate_report(meta, export, ReleaseGateConfig(), force=False)
    assert "fc_choice acc 0.500 -> 0.480 (-2.0 points, bound -1)" in str(refused.value)
    assert "fc_ppl_en bits_per_byte 2 -> 2.05 (+2.50%, bound +2%)" in str(refused.value)
    assert "bleu" not in str(refused.value)
    loose = gate_report(meta, export, ReleaseGateConfig(max_accuracy_drop_points=3, max_perplexity_increase_pct=3),
                        force=False)
    assert loose["decision"] == "passed"


def test_publish_refuses_then_force_records_it(export, tmp_path, capsys):
    (export / "eval" / "comparison.json").write_text(json.dumps(_comparison(export, 0.3, 2.0)))
    repo = tmp_path / "repo"
    assert main(["publish", str(export), "--repository", str(repo), "--name", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "release gate: int8-dynamic falls below onnx-fp32" in err
    assert "fc_choice acc 0.500 -> 0.300 (-20.0 points, bound -1)" in err and not repo.exists()
    assert main(["publish", str(export), "--repository", str(repo), "--name", "tiny", "--force", "true"]) == 0
    release = json.loads((repo / "tiny" / "1" / "release.json").read_text())
    assert release["forced"] is True and release["decision"] == "published despite the gate (--force)"
    assert release["failures"] == ["fc_choice acc 0.500 -> 0.300 (-20.0 points, bound -1)"]


def test_an_export_without_evaluation_publishes_unless_one_is_required(export, tmp_path, capsys):
    repo = tmp_path / "repo"
    assert main(["publish", str(export), "--repository", str(repo), "--name", "tiny"]) == 0
    assert json.loads((repo / "tiny" / "1" / "release.json").read_text())["decision"] == \
        "not gated (no evaluation found)"
    assert main(["publish", str(export), "--repository", str(repo), "--name", "tiny",
                 "--gate.require-evaluation", "true"]) == 2
    assert "no evaluation of" in capsys.readouterr().err
