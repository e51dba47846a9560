"""`fullchain eval` as users run it: three forms of one model side by side through the harness,
results.json in the harness's format, the table and the plot; bad input is one line before any work."""

import json

import pytest

from fullchain.cli import main


def test_three_forms_of_a_model_side_by_side(tiny_lm, eval_export, tmp_path, capsys):
    out = tmp_path / "eval"
    status = main(["eval", tiny_lm, f"{eval_export}#fp32", str(eval_export), "--tasks", "fc_choice,fc_ppl_en",
                   "--limit", "3", "--output", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "pytorch-fp32" in printed and "onnx-int8-dynamic" in printed and "acc_norm" in printed
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["labels"] == ["pytorch-fp32", "onnx-fp32", "onnx-int8-dynamic"]
    bpb = summary["scores"]["fc_ppl_en"]["bits_per_byte"]
    assert bpb["pytorch-fp32"] == pytest.approx(bpb["onnx-fp32"], rel=1e-5)
    assert bpb["onnx-int8-dynamic"] != bpb["onnx-fp32"]
    results = json.loads((out / "onnx-fp32" / "results.json").read_text())
    assert results["results"]["fc_choice"]["sample_len"] == 3 and "acc,none" in results["results"]["fc_choice"]
    assert (out / "onnx-fp32" / "samples" / "fc_choice.jsonl").read_text().count("\n") == 3
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "fc_nope"], "unknown task 'fc_nope'"),
    (["--include", "/no/such/tasks"], "/no/such/tasks: no such task file or folder"),
    (["--contamination.training", "/no/such/shards"], "contamination.training: /no/such/shards: no such file"),
])
def test_bad_input_is_one_line_and_writes_nothing(tiny_lm, tmp_path, capsys, argv, message):
    out = tmp_path / "eval"
    assert main(["eval", tiny_lm, "--output", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fullchain eval: error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_a_wrong_folder_and_an_unreachable_server_are_one_line(tmp_path, eval_export, capsys):
    assert main(["eval", str(tmp_path), "--output", str(tmp_path / "out")]) == 2
    assert "neither an HF model folder" in capsys.readouterr().err
    assert main(["eval", "http://127.0.0.1:9/tiny", "--served-export", str(eval_export),
                 "--output", str(tmp_path / "out")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("fullchain eval: error: ") and "cannot reach Triton at 127.0.0.1:9" in last
