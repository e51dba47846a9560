"""The release gate of `fullchain publish`: a quantized export is published only when its evaluation
(`fullchain eval` of its FP32 graph and its served graph side by side) stays within bounds of FP32.

The evaluation is the comparison.json that `fullchain eval EXPORT#fp32 EXPORT ...` writes, found at
`gate.evaluation`, or in EXPORT/eval/, or in an `eval` folder beside EXPORT. Per task, a metric of
perplexity kind (perplexity, word/byte perplexity, bits per byte: lower is better) may rise at most
`gate.max_perplexity_increase_pct` percent over FP32, an accuracy (acc, acc_norm, exact_match) may
fall at most `gate.max_accuracy_drop_points` points (of 100). Other metrics are reported, not gated.
The reference is the export's own FP32 graph when the comparison has it, else the PyTorch model.
Read as JSON only: deploy imports nothing of the evaluation package.

Relative paths (the export, gate.evaluation, the models' paths in comparison.json) are resolved
against `base`: the working directory of `fullchain publish`, the run folder when `fullchain run`
checks the gate before its publish child starts (every stage command runs in the run folder).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fullchain.deploy.config import ReleaseGateConfig

COMPARISON_FILE = "comparison.json"
COMPARISON_FORMAT = "fullchain-eval-comparison"
RELEASE_FILE = "release.json"
ACCURACY_METRICS = ("acc", "acc_norm", "exact_match")
PERPLEXITY_METRICS = ("perplexity", "word_perplexity", "byte_perplexity", "bits_per_byte")


class ReleaseGateError(ValueError):
    """A quantized export whose evaluation falls out of bounds, or an evaluation that cannot be read; one line."""


def find_evaluation(export_dir: Path, given: str, base: Path = Path(".")) -> Path | None:
    """The comparison.json of the export's evaluation, or None when there is none."""
    export_dir = base / export_dir
    if given:
        path = base / given
        path = path / COMPARISON_FILE if path.is_dir() else path
        if not path.is_file():
            raise ReleaseGateError(f"gate.evaluation: {path} does not exist")
        return path
    for candidate in (export_dir / "eval" / COMPARISON_FILE, export_dir.parent / "eval" / COMPARISON_FILE):
        if candidate.is_file():
            return candidate
    return None


def _same_path(a: str, b: Path, base: Path) -> bool:
    return os.path.realpath(base / a) == os.path.realpath(base / b)


def _columns(comparison: dict[str, Any], export_dir: Path, base: Path) -> tuple[str, str]:
    """(reference label, quantized label) among the comparison's models."""
    models = comparison.get("models") or []

    def graphs(graph: str) -> list[str]:
        return [m["label"] for m in models if m.get("backend") == "fullchain-onnx"
                and m.get("args", {}).get("graph") == graph and _same_path(m["args"].get("path", ""), export_dir, base)]

    quantized, fp32 = graphs("served"), graphs("fp32")
    pytorch = [m["label"] for m in models if m.get("backend") == "fullchain-hf"]
    if not quantized:
        raise ReleaseGateError(f"the evaluation does not evaluate this export's served graph ({export_dir}); run "
                               f"fullchain eval {export_dir}#fp32 {export_dir} --output {export_dir}/eval")
    reference = fp32 or pytorch
    if not reference:
        raise ReleaseGateError(f"the evaluation has no FP32 model to compare with (add {export_dir}#fp32)")
    return reference[0], quantized[0]


def gate_report(export: dict[str, Any], export_dir: Path, cfg: ReleaseGateConfig, force: bool,
                base: Path = Path(".")) -> dict[str, Any]:
    """What the gate decided, as the version's release.json; ReleaseGateError naming every task and
    number out of bounds when a quantized export fails and `force` is off. Relative paths are
    resolved against `base` (see the module docstring)."""
    precision = str(export.get("precision", "fp32"))
    record: dict[str, Any] = {"precision": precision, "forced": False, "evaluation": None, "failures": []}
    if precision == "fp32":
        record["decision"] = "not gated (FP32)"
        return record
    path = find_evaluation(export_dir, cfg.evaluation, base)
    if path is None:
        if cfg.require_evaluation:
            raise ReleaseGateError(f"no evaluation of {export_dir} (comparison.json in {export_dir}/eval or beside "
                                   f"it); run fullchain eval {export_dir}#fp32 {export_dir} --output "
                                   f"{export_dir}/eval, or pass --force true")
        record["decision"] = "not gated (no evaluation found)"
        return record
    try:
        comparison = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ReleaseGateError(f"{path}: cannot read the evaluation: {e}") from None
    if comparison.get("format") != COMPARISON_FORMAT:
        raise ReleaseGateError(f"{path}: not a fullchain eval comparison (format {comparison.get('format')!r})")
    reference, quantized = _columns(comparison, export_dir, base)
    failures, checked = [], []
    for task, metrics in sorted(comparison.get("scores", {}).items()):
        for metric, values in sorted(metrics.items()):
            base = metric.split(" ")[0]
            if reference not in values or quantized not in values:
                continue
            ref, got = float(values[reference]), float(values[quantized])
            if base in PERPLEXITY_METRICS and ref > 0:
                change = 100 * (got - ref) / ref
                checked.append({"task": task, "metric": metric, "fp32": ref, "quantized": got, "change_pct": change})
                if change > cfg.max_perplexity_increase_pct:
                    failures.append(f"{task} {metric} {ref:.4g} -> {got:.4g} ({change:+.2f}%, bound "
                                    f"+{cfg.max_perplexity_increase_pct:g}%)")
            elif base in ACCURACY_METRICS:
                drop = 100 * (ref - got)
                checked.append({"task": task, "metric": metric, "fp32": ref, "quantized": got, "drop_points": drop})
                if drop > cfg.max_accuracy_drop_points:
                    failures.append(f"{task} {metric} {ref:.3f} -> {got:.3f} (-{drop:.1f} points, bound "
                                    f"-{cfg.max_accuracy_drop_points:g})")
    record.update(evaluation=str(path), reference=reference, quantized=quantized, checked=checked, failures=failures)
    if failures and not force:
        raise ReleaseGateError(f"release gate: {precision} falls below {reference} beyond the bounds: "
                               + "; ".join(failures) + " (--force true publishes anyway and records it)")
    record["forced"] = bool(failures)
    record["decision"] = "published despite the gate (--force)" if failures else "passed"
    return record
