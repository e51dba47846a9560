"""`export_model`: an HF causal LM folder to an export folder (docs/CONTRACTS.md section 6).

Order: check the inputs (fail before writing anything), load, trace the FP32 graph, quantize,
validate, copy the tokenizer and kv_decoding.py, write export.json last. Everything is written
into a scratch folder beside the output (`.NAME.tmp-XXXXXXXX`) and renamed into place only when
every check passed, so a failed or interrupted export leaves no half-written output. The export
holds a lock (flock) on its scratch folders while it runs; a killed one leaves them unlocked, and
the next export to the same output removes them.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import onnxruntime as ort

from fullchain.exporters import kv_decoding
from fullchain.exporters.config import MIN_SEQ_LEN, ExportConfig
from fullchain.exporters.hf_folder import (ExportError, ModelFacts, check_hf_folder, load_model, load_tokenizer,
                                 tokenizer_files)
from fullchain.exporters.onnx_graph import DATA_FILE, MODEL_FILE, OPSET, export_decoder, file_bytes, graph_io
from fullchain.exporters.quantize import PRECISIONS, calibration_feeds, quantize_graph, quantize_int4
from fullchain.exporters.validation_report import failures, markdown, measure, table
from fullchain.exporters.validation_text import ValidationText, load_windows
from fullchain.pipelines.hf_loading import safetensors_weights

EXPORT_FORMAT = "fullchain-onnx-export"
FORMAT_VERSION = 1
EXPORT_FILE = "export.json"
FP32_DIR = "fp32"

Progress = Callable[[str], None]


def export_model(hf_dir: str, output: str, config: ExportConfig | None = None,
                 progress: Progress | None = None) -> Path:
    """Export the HF Llama-architecture causal LM in `hf_dir` into the folder `output`; returns it.

    Raises ExportError (one line) before writing anything for a missing or unsupported model folder,
    a missing tokenizer, or an output that exists (unless `config.overwrite` and it is an export) or
    cannot be written; and, after validation, when a check of the report fails (the temporary
    folder is removed, the output is left as it was). `progress` receives a line per step.
    """
    config = config or ExportConfig()
    say = progress or (lambda line: None)
    facts = check_hf_folder(hf_dir)
    tokenizer = load_tokenizer(hf_dir)
    target = Path(output).absolute()
    if target.parent.is_dir():
        # before the output check: a killed replacement is rolled back first, and then checked as any output
        try:
            for stale in remove_stale_scratch(target):
                say(f"removed {stale}: left by an export that was killed")
        except OSError as e:
            raise ExportError(f"{target}: cannot clean up after a killed export: {e}") from None
    _check_output(target, config.overwrite)
    # a window longer than the model's positions would score positions it was never trained on
    seq_len = min(config.validation.seq_len, facts.max_positions)
    if seq_len < MIN_SEQ_LEN:
        raise ExportError(f"{hf_dir}: the model has {facts.max_positions} positions, fewer than the "
                          f"{MIN_SEQ_LEN} the validation needs")
    text = load_windows(config.validation.manifest, tokenizer, facts.vocab_size, seq_len,
                        config.validation.windows + _calibration_extra(config))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging, lock = _locked_scratch(target, "tmp")
    except OSError as e:
        raise ExportError(f"{target}: cannot write the output: {e.strerror}") from None
    try:
        _build(hf_dir, staging, facts, tokenizer, text, config, say)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging)
        raise
    finally:
        os.close(lock)
    return target


def _scratch_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(target.name)}\.(tmp|old)-[0-9a-f]{{8}}")


def _locked_scratch(target: Path, kind: str) -> tuple[Path, int]:
    """A new scratch folder `.NAME.KIND-XXXXXXXX` beside `target` and the descriptor holding its lock."""
    folder = target.parent / f".{target.name}.{kind}-{secrets.token_hex(4)}"
    folder.mkdir()
    return folder, _lock_folder(folder)


def _lock_folder(folder: Path) -> int:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    # blocking is fine: only a stale-scratch sweep can hold it, and only for the time of its check
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove_stale_scratch(target: Path) -> list[Path]:
    """Remove the scratch folders of exports to `target` that no running export holds (killed ones);
    returns them. Only folders named like this module's scratch folders for `target` are touched.
    An export killed while replacing `target` left the old export moved aside and no `target`: that
    one is moved back instead, so the output is as it was before the killed export."""
    pattern = _scratch_pattern(target)
    removed = []
    for entry in sorted(target.parent.iterdir()):
        match = pattern.fullmatch(entry.name)
        if not match or entry.is_symlink() or not entry.is_dir():
            continue
        fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a running export's
        try:
            if match.group(1) == "old" and not target.exists() and (entry / EXPORT_FILE).is_file():
                entry.rename(target)
            else:
                shutil.rmtree(entry)
                removed.append(entry)
        finally:
            os.close(fd)
    return removed


def _build(hf_dir: str, staging: Path, facts: ModelFacts, tokenizer: Any, text: ValidationText, config: ExportConfig,
           say: Progress) -> None:
    """Write the whole export into `staging`, export.json last; ExportError when a check fails."""
    started = time.perf_counter()

    def step(line: str) -> None:
        say(f"[{time.perf_counter() - started:6.1f}s] {line}")

    mode = config.quantize.mode
    threshold = config.graph.external_data_threshold_bytes
    step(f"loading {hf_dir}")
    model = load_model(hf_dir)
    fp32_path = staging / (MODEL_FILE if mode == "none" else f"{FP32_DIR}/{MODEL_FILE}")
    fp32_path.parent.mkdir(exist_ok=True)
    step(f"tracing the decoder to ONNX (opset {OPSET}, {facts.num_layers} layers)")
    export_decoder(model, str(fp32_path), threshold)
    spec = kv_decoding.DecoderSpec(num_layers=facts.num_layers, num_kv_heads=facts.num_kv_heads,
                                   head_dim=facts.head_dim, pad_token_id=_pad_id(facts, tokenizer),
                                   max_positions=facts.max_positions)
    fp32_run = kv_decoding.session_runner(_session(fp32_path))
    evaluation = text.windows[: config.validation.windows]
    int8_run = None
    if mode != "none":
        calibration = None
        if mode == "static":
            pool = text.windows[config.validation.windows:] or evaluation
            calibration = calibration_feeds(fp32_run, spec, pool[: config.quantize.calibration_windows])
            step(f"calibrating on {len(calibration)} windows")
        if mode == "int4":
            q = config.quantize
            step(f"quantizing to INT4 weight-only ({q.int4_algorithm}, block {q.int4_block_size}, "
                 f"embedding={q.int4_embedding})")
            quantize_int4(str(fp32_path), str(staging / MODEL_FILE), q.int4_block_size, q.int4_algorithm,
                          q.int4_embedding, threshold)
        else:
            step(f"quantizing to INT8 ({mode}, per_channel={config.quantize.per_channel}, "
                 f"preprocess={config.quantize.preprocess})")
            quantize_graph(str(fp32_path), str(staging / MODEL_FILE), mode, config.quantize.per_channel,
                           config.quantize.preprocess, threshold, calibration, config.quantize.static_format)
        int8_run = kv_decoding.session_runner(_session(staging / MODEL_FILE))
    report = measure(model, fp32_run, int8_run, spec, evaluation, facts.eos_token_ids, config.validation, step,
                     quantized="INT4" if mode == "int4" else "INT8")
    report.update({
        "source": os.path.abspath(hf_dir), "precision": PRECISIONS[mode], "validation_text": text.source,
        "windows": len(evaluation), "seq_len": len(evaluation[0]),
        "sizes_bytes": {"pytorch": _weights_bytes(hf_dir), "onnx_fp32": file_bytes(str(fp32_path)),
                        **({"onnx_int8": file_bytes(str(staging / MODEL_FILE))} if mode != "none" else {})},
    })
    problems = failures(report)
    if problems:
        say(table(report))
        raise ExportError("validation failed: " + "; ".join(problems) + " (nothing written)")
    (staging / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (staging / "report.md").write_text(markdown(report), encoding="utf-8")
    copied = tokenizer_files(hf_dir)
    for name in copied:
        shutil.copy2(os.path.join(hf_dir, name), staging / name)
    shutil.copy2(kv_decoding.__file__, staging / "kv_decoding.py")
    inputs, outputs = graph_io(str(staging / MODEL_FILE))
    meta = {
        "format": EXPORT_FORMAT, "format_version": FORMAT_VERSION, "model_file": MODEL_FILE,
        "external_data_file": DATA_FILE if (staging / DATA_FILE).is_file() else None,
        "fp32_model_file": None if mode == "none" else f"{FP32_DIR}/{MODEL_FILE}",
        "precision": PRECISIONS[mode], "quantize": dataclasses.asdict(config.quantize), "opset": OPSET,
        "inputs": inputs, "outputs": outputs,
        "num_layers": facts.num_layers, "num_kv_heads": facts.num_kv_heads, "head_dim": facts.head_dim,
        "vocab_size": facts.vocab_size, "max_positions": facts.max_positions,
        "eos_token_id": facts.eos_token_ids[0] if facts.eos_token_ids else None,
        "stop_token_ids": list(facts.eos_token_ids), "bos_token_id": facts.bos_token_id,
        "pad_token_id": spec.pad_token_id, "tokenizer_files": copied, "source": os.path.abspath(hf_dir),
        "report": {"file": "report.json", "passed": report["passed"], "validation_text": text.source,
                   "logits_rel_error": report["logits_rel_error"],
                   "int8_ppl_delta_pct": report["perplexity"].get("int8_delta_pct"),
                   "latency_ms_per_token": report["latency_ms_per_token"], "sizes_bytes": report["sizes_bytes"]},
    }
    # export.json last: its presence marks a complete export
    (staging / EXPORT_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    step("done")


def _check_output(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise ExportError(f"{target}: exists and is not empty (pass --overwrite true to replace an export)")
        if not (target / EXPORT_FILE).is_file():
            raise ExportError(f"{target}: not an export folder (no {EXPORT_FILE}); refusing to replace it")
    parent = next(p for p in [target, *target.parents] if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"{target}: cannot write the output ({parent} is not writable)")


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished folder to `target`, replacing an old export only once the new one is whole."""
    if not target.exists():
        staging.rename(target)
        return
    # the old export is locked before it moves aside, so a sweep never takes it for a killed export's
    lock = _lock_folder(target)
    try:
        old = target.parent / f".{target.name}.old-{secrets.token_hex(4)}"
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old)
    finally:
        os.close(lock)


def _calibration_extra(config: ExportConfig) -> int:
    return config.quantize.calibration_windows if config.quantize.mode == "static" else 0


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # ONNX Runtime's idle worker threads spin for a while after each run; PyTorch, timed in turns
    # with it in this process, then fights them for the cores and looks tens of times slower.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _pad_id(facts: ModelFacts, tokenizer: Any) -> int:
    # padding is masked out, so any id works; prefer the model's, then the tokenizer's own
    for candidate in (facts.pad_token_id, tokenizer.pad_token_id, *facts.eos_token_ids):
        if candidate is not None:
            return int(candidate)
    return 0


def _weights_bytes(hf_dir: str) -> int:
    return sum(os.path.getsize(os.path.join(hf_dir, f)) for f in safetensors_weights(hf_dir))
