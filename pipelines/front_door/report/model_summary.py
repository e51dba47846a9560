"""The model half of the run report, read from the run folder into plain dicts: the training
curves and samples (DIR/train/metrics.jsonl, samples.json), the export's FP32/INT8 (and INT4)
table (DIR/export/report.json), the load test (DIR/loadtest/loadtest.json), the evaluation
(DIR/eval/: the side-by-side comparison.json of the run's eval stage) and the release gate's
decision (the published version's release.json). A missing input gives {"ran": False, "note": ...}."""

from __future__ import annotations

import glob
import os
import statistics
from typing import Any

from fullchain.report.run_layout import (EVAL, EVAL_FILE, EXPORT, LOADTEST, LOADTEST_FILE, PUBLISH, RUN_FILE, SERVE,
                                         SMOKE_FILE, TRAIN, not_run, read_json, read_jsonl)

METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.json"
# the export report names PyTorch "pytorch" in perplexity and sizes, "pytorch_eager" in latency
_ENGINE_ALIASES = {"pytorch_eager": "pytorch"}
_ENGINE_LABELS = {"pytorch": "PyTorch eager", "onnx_fp32": "ONNX FP32", "onnx_int8": "ONNX INT8",
                  "onnx_int4": "ONNX INT4"}
# loadtest level keys that are not a measure to plot
_LEVEL_LABELS = ("concurrency", "request_rate", "first_error")
# the title of the serving section's level axis: closed-loop concurrency or open-loop request rate
AXIS_TITLES = {"concurrency": "concurrency", "request_rate": "request rate (requests/s)"}
# fullchain.evaluation's scores and their plot: comparison.* for several models (the run's eval
# stage), scores.* beside results.json for one
SCORE_FILES = (("comparison.json", "comparison.png"), ("scores.json", "scores.png"))
# what deploy/release_gate.py writes into the published version's ONNX model folder
RELEASE_FILE = "release.json"
# the run's served-eval stage: the running server beside the export scored in process as it scores
SERVED_EVAL = "served-eval"
# evaluation rows in the summary and on the page at most
EVAL_ROWS = 200


def training(run_dir: str, folder: str = TRAIN) -> dict[str, Any]:
    """Loss curves (train and validation), tokens/s and the greedy samples of the trainer run folder
    DIR/`folder` (the main model's, the reference LM's or LoRA's)."""
    records = read_jsonl(os.path.join(run_dir, folder, METRICS_FILE))
    if not records:
        return not_run(f"{folder} did not run (no {folder}/{METRICS_FILE})")
    train = [r for r in records if "train/loss" in r]
    val = [r for r in records if "val/loss" in r]
    speeds = [r["train/tokens_per_s"] for r in train if "train/tokens_per_s" in r]
    section: dict[str, Any] = {
        "ran": True,
        "steps": max(r["step"] for r in records),
        "train_loss": {"steps": [r["step"] for r in train], "values": [r["train/loss"] for r in train]},
        "val_loss": {"steps": [r["step"] for r in val], "values": [r["val/loss"] for r in val]},
        "val_ppl": {"steps": [r["step"] for r in val], "values": [r.get("val/ppl") for r in val]},
        "tokens_per_s": {"steps": [r["step"] for r in train if "train/tokens_per_s" in r], "values": speeds},
        "tokens_per_s_median": statistics.median(speeds) if speeds else None,
        "tokens": max((r.get("train/tokens", 0) for r in train), default=0),
        "final_train_loss": train[-1]["train/loss"] if train else None,
    }
    ppl = [v for v in section["val_ppl"]["values"] if v is not None]
    if ppl:
        section.update(first_val_ppl=ppl[0], last_val_ppl=ppl[-1], val_ppl_drop=ppl[0] / ppl[-1])
    samples = read_json(os.path.join(run_dir, folder, SAMPLES_FILE))
    section["samples"] = samples or {"prompts": [], "samples": []}
    # samples.json measures the untrained model too: the drop the first evaluation cannot show
    scored = [s for s in section["samples"].get("samples", []) if s.get("val_ppl")]
    if len(scored) >= 2:
        section.update(start_val_ppl=scored[0]["val_ppl"], end_val_ppl=scored[-1]["val_ppl"],
                       val_ppl_drop_from_start=scored[0]["val_ppl"] / scored[-1]["val_ppl"])
    return section


def export_table(run_dir: str) -> dict[str, Any]:
    """One row per engine of the export's validation report (PyTorch, ONNX FP32, INT8 and any other
    precision the report holds, INT4 included): size, ms per token and perplexity."""
    report = read_json(os.path.join(run_dir, EXPORT, "report.json"))
    if report is None:
        return not_run("export did not run (no export/report.json)")
    perplexity = report.get("perplexity", {})
    columns = {"size_mb": {k: v / 1e6 for k, v in report.get("sizes_bytes", {}).items()},
               "ms_per_token": report.get("latency_ms_per_token", {}),
               "perplexity": {k: v for k, v in perplexity.items() if not k.endswith("_pct")}}
    engines: list[str] = []
    for values in columns.values():
        for key in values:
            engine = _ENGINE_ALIASES.get(key, key)
            if engine not in engines:
                engines.append(engine)
    # the quantized graph's figures are under onnx_int8 whatever its precision; `quantized` names it (INT8, INT4)
    labels = {**_ENGINE_LABELS, **({"onnx_int8": f"ONNX {report['quantized']}"} if report.get("quantized") else {})}
    rows = []
    for engine in engines:
        row: dict[str, Any] = {"engine": engine, "label": labels.get(engine, engine.replace("_", " "))}
        for column, values in columns.items():
            aliases = [key for key in values if _ENGINE_ALIASES.get(key, key) == engine]
            row[column] = values[aliases[0]] if aliases else None
        rows.append(row)
    fp32 = next((r["perplexity"] for r in rows if r["engine"] == "onnx_fp32"), None)
    for row in rows:
        row["ppl_delta_pct"] = (100.0 * (row["perplexity"] - fp32) / fp32
                                if fp32 and row["perplexity"] is not None and row["engine"] != "onnx_fp32" else None)
    return {"ran": True, "precision": report.get("precision"), "passed": report.get("passed"),
            "logits_rel_error": report.get("logits_rel_error"),
            "top1_agreement_int8_fp32": report.get("top1_agreement_int8_fp32"),
            "validation_text": report.get("validation_text", ""), "machine": report.get("machine", {}),
            "rows": rows}


def serving(run_dir: str) -> dict[str, Any]:
    """The load test's levels: every numeric measure per concurrency or request rate (`axis`;
    requests/s, tokens/s, latency percentiles, and time-to-first-token / inter-token latency where
    the load test reports them),
    and the serve stage's smoke generation (DIR/serve/smoke.json) when there is one."""
    report = read_json(os.path.join(run_dir, LOADTEST, LOADTEST_FILE))
    smoke = read_json(os.path.join(run_dir, SERVE, SMOKE_FILE))
    smoke = {k: smoke.get(k) for k in ("prompt", "completion", "tokens", "latency_s")} if smoke else None
    if report is None:
        return {**not_run(f"loadtest did not run (no {LOADTEST}/{LOADTEST_FILE})"), "smoke": smoke}
    levels = report.get("levels", [])
    measures: list[str] = []
    for level in levels:
        for key, value in level.items():
            if key not in _LEVEL_LABELS and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and key not in measures:
                measures.append(key)
    # an open-loop run's levels are its request rates; the most requests in flight is then a measure
    axis = "request_rate" if report.get("mode") == "request_rate" else "concurrency"
    if axis == "request_rate":
        measures.insert(0, "concurrency")
    return {"ran": True, "model": report.get("model"), "protocol": report.get("protocol"),
            "max_tokens": report.get("max_tokens"), "duration_s": report.get("duration_s"),
            "measures": measures, "axis": axis, "axis_title": AXIS_TITLES[axis],
            "levels": [{axis: lv[axis], **{m: lv.get(m) for m in measures}} for lv in levels],
            "peak_tokens_per_s": max((lv.get("tokens_per_s") or 0 for lv in levels), default=None), "smoke": smoke}


def evaluation(run_dir: str) -> dict[str, Any]:
    """The evaluation's scores as rows of (task, metric, one value per model label), from
    DIR/eval/comparison.json (the models side by side) or scores.json (one model), else from
    results.json (lm-evaluation-harness's `results`), else every number of results.json; and the
    release gate's decision on them (`gate`)."""
    folder = os.path.join(run_dir, EVAL)
    for scores_file, figure in SCORE_FILES:
        comparison = read_json(os.path.join(folder, scores_file))
        if isinstance(comparison, dict) and isinstance(comparison.get("scores"), dict):
            labels = list(comparison.get("labels", []))
            rows = [{"task": task, "metric": metric, "values": [by_label.get(label) for label in labels]}
                    for task, metrics in comparison["scores"].items() for metric, by_label in metrics.items()]
            return _evaluation_section(run_dir, scores_file, labels, rows, figure)
    results = read_json(os.path.join(folder, EVAL_FILE))
    if results is None:
        return not_run(f"eval did not run (no {EVAL}/{SCORE_FILES[0][0]} or {EVAL}/{EVAL_FILE})")
    if isinstance(results.get("results"), dict):
        labels = [(results.get("fullchain_model") or {}).get("label") or str(results.get("config", {}).get("model"))]
        rows = [{"task": task, "metric": key.replace(",none", "").replace(",", " "), "values": [value]}
                for task, metrics in results["results"].items() for key, value in metrics.items()
                if _is_number(value) and "_stderr" not in key and key != "sample_len"]
    else:
        labels = ["value"]
        rows = [{"task": "", "metric": name, "values": [value]} for name, value in _numbers(results)]
    return _evaluation_section(run_dir, EVAL_FILE, labels, rows, None)


def _evaluation_section(run_dir: str, source: str, labels: list[str], rows: list[dict[str, Any]],
                        figure: str | None) -> dict[str, Any]:
    shown = figure if figure and os.path.isfile(os.path.join(run_dir, EVAL, figure)) else None
    return {"ran": True, "source": source, "labels": labels, "rows": rows[:EVAL_ROWS], "total_rows": len(rows),
            "figure": shown, "gate": release_gate(run_dir), "served": served_comparison(run_dir)}


def served_comparison(run_dir: str) -> dict[str, Any]:
    """The served model against the export in process (DIR/served-eval/comparison.json): every score
    of both and its relative difference, and the largest one."""
    comparison = read_json(os.path.join(run_dir, SERVED_EVAL, SCORE_FILES[0][0]))
    if not isinstance(comparison, dict) or len(comparison.get("labels", [])) < 2:
        return not_run(f"served-eval did not run (no {SERVED_EVAL}/{SCORE_FILES[0][0]})")
    served, local = comparison["labels"][:2]
    rows = [{"task": task, "metric": metric, "served": v[served], "in_process": v[local],
             "relative_difference": abs(v[served] - v[local]) / max(abs(v[local]), 1e-12)}
            for task, metrics in comparison["scores"].items() for metric, v in metrics.items()
            if served in v and local in v]
    return {"ran": True, "served": served, "in_process": local, "rows": rows[:EVAL_ROWS],
            "max_relative_difference": max((r["relative_difference"] for r in rows), default=0.0)}


def release_gate(run_dir: str) -> dict[str, Any]:
    """What the release gate decided: from the newest published version's release.json (decision,
    reference and quantized labels, every row checked with its change), or, when publish was refused,
    the run's error from run.json."""
    found = [(int(path.split(os.sep)[-2]), path) for path in glob.glob(os.path.join(run_dir, PUBLISH, "*", "*",
                                                                                      RELEASE_FILE))
             if path.split(os.sep)[-2].isdigit()]
    if found:
        release = read_json(max(found)[1])
        checked = [{"task": row["task"], "metric": row["metric"], "fp32": row["fp32"], "quantized": row["quantized"],
                    "change": row.get("change_pct", -row.get("drop_points", 0.0)),
                    "unit": "%" if "change_pct" in row else "points"} for row in release.get("checked", [])]
        return {"ran": True, "decision": release.get("decision"), "precision": release.get("precision"),
                "forced": release.get("forced", False), "reference": release.get("reference"),
                "quantized": release.get("quantized"), "failures": list(release.get("failures", [])),
                "checked": checked}
    record = read_json(os.path.join(run_dir, RUN_FILE)) or {}
    publish = (record.get("stages") or {}).get("publish") or {}
    if publish.get("status") == "failed" and "release gate" in str(record.get("error")):
        return {"ran": True, "decision": "refused", "precision": None, "forced": False, "reference": None,
                "quantized": None, "failures": [record["error"]], "checked": []}
    return not_run(f"no published version with a {RELEASE_FILE} (publish did not run)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(value: Any, prefix: str = "") -> list[tuple[str, float]]:
    if _is_number(value):
        return [(prefix, value)]
    if isinstance(value, dict):
        return [item for key, v in value.items() for item in _numbers(v, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(value, list) and len(value) <= 20:
        return [item for i, v in enumerate(value) for item in _numbers(v, f"{prefix}[{i}]")]
    return []
