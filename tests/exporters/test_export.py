"""exporters.export_model on a tiny random-weight Llama: ONNX Runtime against PyTorch, the INT8 graph,
export.json against the graph, the report, and the one-line failures."""

import fcntl
import filecmp
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, T5Config

from fullchain.exporters import kv_decoding
from fullchain.exporters.cli import main
from fullchain.exporters.config import ExportConfig, GraphConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model, remove_stale_scratch
from fullchain.exporters.hf_folder import ExportError
from fullchain.exporters.validation_report import failures, logits_rel_error
from fullchain.pipelines.document import Document
from fullchain.pipelines.shard.manifest import build_manifest, manifest_bytes, shard_entry
from fullchain.pipelines.shard.samples import encode_sample
from fullchain.pipelines.shard.tar_writing import shard_bytes
from fullchain.exporters.validation_text import load_windows
from tests.tiny_models import bigram_lm, tiny_causal_lm, tiny_tokenizer

EOS = 2


def fast_config(**overrides):
    """Small validation so each export takes about a second; random weights make the INT8
    perplexity delta meaningless, so its bound is wide here (the default stays 2%)."""
    validation = dict(seq_len=32, windows=3, greedy_tokens=8, latency_tokens=3, max_ppl_delta_pct=50.0)
    validation.update(overrides.pop("validation", {}))
    return ExportConfig(validation=ValidationConfig(**validation), **overrides)


@pytest.fixture(scope="module")
def hf_dir(tiny_lm):
    """The shared tiny random Llama (tests/conftest.py); tests copy it before changing it."""
    return tiny_lm


@pytest.fixture(scope="module")
def exported(hf_dir, tmp_path_factory):
    return export_model(hf_dir, str(tmp_path_factory.mktemp("export") / "out"), fast_config())


@pytest.fixture(scope="module")
def torch_model(hf_dir):
    return AutoModelForCausalLM.from_pretrained(hf_dir).eval()


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def spec_of(folder):
    return kv_decoding.DecoderSpec.from_export(json.loads((folder / "export.json").read_text()))


def torch_greedy(model, prompts, new_tokens):
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=new_tokens,
                             pad_token_id=0, eos_token_id=EOS)
    rows = []
    for row in out[:, width:].tolist():
        rows.append(row[: row.index(EOS)] if EOS in row else row)
    return rows


@pytest.mark.parametrize("prompts", [[[1, 45, 80, 12, 7, 300]], [[1, 45, 80, 12, 7, 300], [1, 9, 99]]],
                         ids=["batch1", "left_padded_batch2"])
def test_onnx_greedy_equals_pytorch_generate(exported, torch_model, prompts):
    run = kv_decoding.session_runner(session(exported / "fp32" / "model.onnx"))
    params = kv_decoding.SamplingParams(max_tokens=20, stop_token_ids=(EOS,))
    onnx_tokens = [g.tokens for g in kv_decoding.generate(run, spec_of(exported), prompts, params)]
    assert onnx_tokens == torch_greedy(torch_model, prompts, 20)
    assert all(len(t) > 0 for t in onnx_tokens)


def test_fp32_logits_match_pytorch(exported, torch_model):
    run = kv_decoding.session_runner(session(exported / "fp32" / "model.onnx"))
    windows = [list(range(3, 40)), list(range(100, 137))]
    assert logits_rel_error(torch_model, run, spec_of(exported), windows) < 1e-4
    report = json.loads((exported / "report.json").read_text())
    assert report["logits_rel_error"] < 1e-4 and report["checks"]["logits_rel_error"]["passed"]


def test_int8_graph_runs_is_smaller_and_quantized(exported):
    int8, fp32 = exported / "model.onnx", exported / "fp32" / "model.onnx"
    assert os.path.getsize(int8) < os.path.getsize(fp32)
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops
    run = kv_decoding.session_runner(session(int8))
    result = kv_decoding.generate(run, spec_of(exported), [[1, 5, 6]], kv_decoding.SamplingParams(max_tokens=5))
    assert len(result[0].tokens) == 5 or result[0].finish_reason == "stop"
    meta = json.loads((exported / "export.json").read_text())
    assert meta["precision"] == "int8-dynamic"


def test_export_json_describes_the_graph(exported):
    meta = json.loads((exported / "export.json").read_text())
    graph = session(exported / meta["model_file"])

    def dims(shape):
        return [d if isinstance(d, int) else -1 for d in shape]

    assert [(i["name"], i["dims"]) for i in meta["inputs"]] == [(i.name, dims(i.shape)) for i in graph.get_inputs()]
    assert [(o["name"], o["dims"]) for o in meta["outputs"]] == [(o.name, dims(o.shape))
                                                                 for o in graph.get_outputs()]
    names = [i["name"] for i in meta["inputs"]]
    assert names[:3] == ["input_ids", "attention_mask", "position_ids"]
    assert names[3:] == [f"past_key_values.{i}.{k}" for i in range(2) for k in ("key", "value")]
    assert meta["inputs"][3] == {"name": "past_key_values.0.key", "dtype": "float32", "dims": [-1, 2, -1, 8]}
    assert meta["outputs"][0] == {"name": "logits", "dtype": "float32", "dims": [-1, -1, 400]}
    assert (meta["format"], meta["format_version"], meta["num_layers"], meta["num_kv_heads"], meta["head_dim"],
            meta["vocab_size"], meta["max_positions"]) == ("fullchain-onnx-export", 1, 2, 2, 8, 400, 1024)
    assert (meta["eos_token_id"], meta["bos_token_id"], meta["pad_token_id"]) == (2, 1, 0)
    assert meta["report"]["passed"] is True


def test_export_folder_contents(exported, hf_dir):
    assert filecmp.cmp(exported / "kv_decoding.py", kv_decoding.__file__, shallow=False)
    assert (exported / "tokenizer.json").is_file()
    assert filecmp.cmp(exported / "tokenizer.json", os.path.join(hf_dir, "tokenizer.json"), shallow=False)
    written_last = (exported / "export.json").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= written_last for p in exported.rglob("*"))
    report = json.loads((exported / "report.json").read_text())
    assert set(report["latency_ms_per_token"]) == {"pytorch_eager", "onnx_fp32", "onnx_int8"}
    assert report["greedy"]["onnx_fp32_equal"] is True
    assert report["validation_text"].startswith("built-in")
    assert "| logits_rel_error |" in (exported / "report.md").read_text()
    assert not [p for p in exported.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("static_format,int8_op", [("qdq", "QuantizeLinear"), ("qoperator", "QLinearMatMul")])
def test_static_quantization_and_external_data(hf_dir, tmp_path, static_format, int8_op):
    config = fast_config(quantize=QuantizeConfig(mode="static", calibration_windows=2, static_format=static_format),
                         graph=GraphConfig(external_data_threshold_bytes=0))
    out = export_model(hf_dir, str(tmp_path / "out"), config)
    meta = json.loads((out / "export.json").read_text())
    assert meta["precision"] == "int8-static" and meta["external_data_file"] == "model.onnx.data"
    assert meta["quantize"]["static_format"] == static_format
    assert (out / "model.onnx.data").is_file() and (out / "fp32" / "model.onnx.data").is_file()
    assert int8_op in {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    run = kv_decoding.session_runner(session(out / "model.onnx"))
    assert kv_decoding.generate(run, spec_of(out), [[1, 7, 8]], kv_decoding.SamplingParams(max_tokens=3))


def write_shards(root, token_lists):
    """A shard output in `root` whose val split holds `token_lists` (one document each)."""
    os.makedirs(root / "val")
    samples = [encode_sample(Document(id=f"d{i}", text="t"), ids, "uint16") for i, ids in enumerate(token_lists)]
    data = shard_bytes(samples)
    (root / "val" / "shard-000000.tar").write_bytes(data)
    entry = shard_entry("val", "val/shard-000000.tar", len(samples), sum(s.tokens for s in samples), data)
    manifest = build_manifest([entry], len(samples), {}, {"source": "given", "eos_id": EOS, "vocab_size": 400},
                              "uint16", {}, [])
    (root / "manifest.json").write_bytes(manifest_bytes(manifest))


def test_validation_text_from_the_val_shards(hf_dir, tmp_path):
    tokenizer = tiny_tokenizer()
    ids = tokenizer("The river runs through the old market town. " * 30)["input_ids"] + [EOS]
    write_shards(tmp_path / "shards", [ids, ids])
    out = export_model(hf_dir, str(tmp_path / "out"),
                       fast_config(quantize=QuantizeConfig(mode="none"),
                                   validation={"manifest": str(tmp_path / "shards")}))
    report = json.loads((out / "report.json").read_text())
    assert report["validation_text"].startswith("val split of")
    assert report["precision"] == "fp32" and not (out / "fp32").exists()
    assert "onnx_int8" not in report["perplexity"]


def test_val_tokens_outside_the_vocabulary_fail(hf_dir, tmp_path):
    write_shards(tmp_path / "shards", [list(range(390, 440)) * 2])
    with pytest.raises(ExportError, match="outside the model's vocabulary"):
        export_model(hf_dir, str(tmp_path / "out"), fast_config(validation={"manifest": str(tmp_path / "shards")}))
    assert not (tmp_path / "out").exists()


def test_failed_check_writes_nothing(hf_dir, tmp_path):
    config = fast_config(quantize=QuantizeConfig(mode="none"), validation={"max_logits_rel_error": 1e-12})
    with pytest.raises(ExportError, match="validation failed: FP32 ONNX logits differ"):
        export_model(hf_dir, str(tmp_path / "out"), config)
    assert list(tmp_path.iterdir()) == []


def test_an_int8_graph_that_loses_the_model_is_refused_and_writes_nothing(tmp_path):
    """The perplexity gate at its default bound, through export_model: a bigram model of the validation
    text exports; the same model with an outlier channel (which FP32 ignores and per-tensor INT8
    activations do not) loses its predictions under INT8 and is refused in one line, nothing written."""
    tokenizer = tiny_tokenizer()
    config = fast_config(validation={"max_ppl_delta_pct": ValidationConfig().max_ppl_delta_pct})
    text = load_windows("", tokenizer, len(tokenizer), config.validation.seq_len, config.validation.windows)
    ids = [t for window in text.windows for t in window]
    sound = export_model(bigram_lm(str(tmp_path / "sound"), ids), str(tmp_path / "sound_out"), config)
    report = json.loads((sound / "report.json").read_text())
    assert report["perplexity"]["onnx_fp32"] < len(tokenizer) / 4  # the bigram model predicts the text
    assert abs(report["perplexity"]["int8_delta_pct"]) < config.validation.max_ppl_delta_pct
    assert report["top1_agreement_int8_fp32"] > 0.75  # INT8 keeps most predictions (measured 0.85; ties differ)
    broken = bigram_lm(str(tmp_path / "broken"), ids, outlier=1000.0)
    with pytest.raises(ExportError, match=r"^validation failed: INT8 perplexity \+[0-9.]+% over FP32 "
                                          r"\(bound 2\.00%\) \(nothing written\)$"):
        export_model(broken, str(tmp_path / "broken_out"), config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "sound", "sound_out"]


def test_failures_names_an_int8_perplexity_over_the_bound():
    report = {"checks": {"int8_ppl_delta_pct": {"value": 3.1, "bound": 2.0, "passed": False},
                         "logits_rel_error": {"value": 1e-7, "bound": 1e-4, "passed": True}}}
    assert failures(report) == ["INT8 perplexity +3.10% over FP32 (bound 2.00%)"]
    assert ValidationConfig().max_ppl_delta_pct == 2.0


@pytest.mark.parametrize("config_class,architecture", [(GPT2Config, "GPT2LMHeadModel"),
                                                       (T5Config, "T5ForConditionalGeneration")])
def test_unsupported_architecture_is_named(tmp_path, capsys, config_class, architecture):
    folder = tmp_path / "hf"
    config = config_class(n_layer=1) if config_class is GPT2Config else config_class(num_layers=1)
    config.architectures = [architecture]
    config.save_pretrained(folder)
    assert main("export", [str(folder), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("fullchain export: error:") and architecture in err and "not supported" in err
    assert not (tmp_path / "out").exists()


def test_missing_tokenizer_and_missing_folder(hf_dir, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        (bare / name).write_bytes((open(os.path.join(hf_dir, name), "rb")).read())
    assert main("export", [str(bare), "--output", str(tmp_path / "out")]) == 2
    assert "no tokenizer" in capsys.readouterr().err
    assert main("export", [str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare"]


@pytest.mark.parametrize("breakage, expected", [
    ("truncated", "model.safetensors: not a readable safetensors file"),
    ("zero_heads", "config.json: num_attention_heads must be a positive integer, got 0"),
    ("missing_key", "config.json: no num_hidden_layers"),
    ("kv_heads", "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
])
def test_broken_model_folder_is_one_line(hf_dir, tmp_path, capsys, breakage, expected):
    folder = tmp_path / "hf"
    shutil.copytree(hf_dir, folder)
    weights, config_file = folder / "model.safetensors", folder / "config.json"
    config = json.loads(config_file.read_text())
    if breakage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif breakage == "zero_heads":
        config["num_attention_heads"] = 0
    elif breakage == "missing_key":
        del config["num_hidden_layers"]
    else:
        config["num_key_value_heads"] = 3
    config_file.write_text(json.dumps(config))
    assert main("export", [str(folder), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fullchain export: error:") and expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf"]


def test_a_killed_exports_scratch_is_removed_by_the_next_export(hf_dir, tmp_path):
    """Scratch folders no export holds are removed; a running export's (locked), and folders named
    otherwise, stay."""
    stale = [tmp_path / ".out.tmp-0123abcd", tmp_path / ".out.old-4567cdef"]
    for folder in stale:
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"partial")
    running = tmp_path / ".out.tmp-89abcdef"
    running.mkdir()
    others = [tmp_path / ".out.tmp-mine", tmp_path / ".other.tmp-0123abcd", tmp_path / ".out.tmp-0123abcd.keep"]
    for folder in others:
        folder.mkdir()
    held = os.open(running, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        export_model(hf_dir, str(tmp_path / "out"), fast_config(quantize=QuantizeConfig(mode="none")))
    finally:
        os.close(held)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", running.name, *(p.name for p in others)])
    assert (tmp_path / "out" / "export.json").is_file()


def test_a_replacement_killed_halfway_is_rolled_back(tmp_path):
    """Killed between moving the old export aside and moving the new one in: the old one comes back."""
    old = tmp_path / ".out.old-0123abcd"
    old.mkdir()
    (old / "export.json").write_text("{}")
    new = tmp_path / ".out.tmp-4567cdef"
    new.mkdir()
    assert remove_stale_scratch(tmp_path / "out") == [new]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (tmp_path / "out" / "export.json").is_file()


def test_existing_output(hf_dir, exported, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main("export", [hf_dir, "--output", str(other)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert main("export", [hf_dir, "--output", str(other), "--overwrite", "true"]) == 2
    assert "not an export folder" in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "mine"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main("export", [hf_dir, "--output", str(blocker / "out")]) == 2
    assert "cannot write the output" in capsys.readouterr().err


def test_overwrite_replaces_an_export(hf_dir, tmp_path, capsys):
    out = tmp_path / "out"
    export_model(hf_dir, str(out), fast_config(quantize=QuantizeConfig(mode="none")))
    (out / "stale.txt").write_text("old")
    args = [hf_dir, "--output", str(out), "--overwrite", "true", "--quantize.mode", "none",
            "--validation.seq-len", "32", "--validation.windows", "2", "--validation.latency-tokens", "2"]
    assert main("export", args) == 0
    captured = capsys.readouterr()
    assert "ms / token" in captured.out and "tracing the decoder" in captured.err
    assert not (out / "stale.txt").exists() and (out / "export.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_flag_value_is_one_line(hf_dir, tmp_path, capsys):
    assert main("export", [hf_dir, "--output", str(tmp_path / "o"), "--quantize.mode", "int2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mode must be one of" in err


def test_sampling_through_the_graph_is_seeded(exported):
    run = kv_decoding.session_runner(session(exported / "model.onnx"))
    params = kv_decoding.SamplingParams(max_tokens=8, temperature=1.0, top_k=50, top_p=0.9, seed=3)
    first = kv_decoding.generate(run, spec_of(exported), [[1, 5, 6], [1, 9]], params)
    second = kv_decoding.generate(run, spec_of(exported), [[1, 5, 6], [1, 9]], params)
    assert [g.tokens for g in first] == [g.tokens for g in second]
    assert np.all([0 <= t < 400 for g in first for t in g.tokens])


def test_windows_are_cut_to_the_model_positions(tmp_path):
    hf = tiny_causal_lm(str(tmp_path / "hf"), max_positions=24)
    out = export_model(hf, str(tmp_path / "out"), fast_config(quantize=QuantizeConfig(mode="none")))
    report = json.loads((out / "report.json").read_text())
    assert report["seq_len"] == 24 and report["checks"]["greedy_equal"]["passed"]


def test_yaml_config_and_its_errors(hf_dir, tmp_path, capsys):
    config = tmp_path / "export.yaml"
    config.write_text("quantize:\n  mode: none\nvalidation:\n  seq_len: 32\n  windows: 2\n  latency_tokens: 2\n")
    assert main("export", [hf_dir, "--output", str(tmp_path / "out"), "--config", str(config)]) == 0
    assert json.loads((tmp_path / "out" / "export.json").read_text())["precision"] == "fp32"
    config.write_text("quantize:\n  modes: none\n")
    assert main("export", [hf_dir, "--output", str(tmp_path / "again"), "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("fullchain export: error:") and "export.yaml:2" in err and "quantize.modes" in err


CLI_FAST = ["--validation.seq-len", "32", "--validation.windows", "3", "--validation.greedy-tokens", "8",
            "--validation.latency-tokens", "3", "--validation.max-ppl-delta-pct", "50"]  # = fast_config()


def _comparable(folder):
    """export.json without the timings, and the sha256 of every model file."""
    import hashlib

    meta = json.loads((folder / "export.json").read_text())
    meta["report"].pop("latency_ms_per_token")
    hashes = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted(folder.rglob("*.onnx*"))}
    return meta, hashes


@pytest.mark.chaos
def test_export_killed_at_a_random_point_then_rerun(hf_dir, exported, tmp_path):
    """SIGKILL `fullchain export` after a random number of its progress lines (plus a random delay):
    the output is either absent or a whole export, and the rerun completes with the same export as
    an uninterrupted one (the module's `exported`) and no scratch folder left."""
    rounds = int(os.environ.get("FULLCHAIN_CHAOS_ROUNDS", "1"))
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    reference = _comparable(exported)
    repo = Path(__file__).resolve().parents[2]
    for round_ in range(rounds):
        out = tmp_path / f"out{round_}"
        cmd = [sys.executable, "-m", "fullchain", "export", hf_dir, "--output", str(out), *CLI_FAST]
        proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines = rng.randrange(0, 8)  # "loading", "tracing", ..., "done"
        for _ in range(lines):
            # every progress line ends with a newline, so a readable pipe has a whole line (or EOF)
            if not select.select([proc.stderr], [], [], 600)[0] or not proc.stderr.readline():
                break
        time.sleep(rng.uniform(0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
        context = f"seed {seed}, round {round_}, killed after {lines} lines"
        if out.exists():
            assert _comparable(out) == reference, context
        rerun = subprocess.run(cmd + ["--overwrite", "true"], cwd=repo, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, f"{context}: {rerun.stderr[-3000:]}"
        assert _comparable(out) == reference, context
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], context
