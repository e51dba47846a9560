"""The scores of one or more evaluated models as one table (terminal and comparison.json) and one
PNG per suite: a panel per kind of metric (each on its own scale), a bar per model."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# the harness writes "metric,filter"; "none" is the default filter and says nothing
DEFAULT_FILTER = "none"


def task_scores(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """task -> metric -> value from the harness's `results` section (stderr and labels left out)."""
    scores: dict[str, dict[str, float]] = {}
    for task, values in results.items():
        for key, value in values.items():
            if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
                continue
            metric, _, filter_name = key.partition(",")
            name = metric if filter_name == DEFAULT_FILTER else f"{metric} ({filter_name})"
            scores.setdefault(task, {})[name] = float(value)
    return scores


def comparison(per_model: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """task -> metric -> model label -> value, from each model's task_scores."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for label, scores in per_model.items():
        for task, metrics in scores.items():
            for metric, value in metrics.items():
                table.setdefault(task, {}).setdefault(metric, {})[label] = value
    return table


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value) or math.isnan(value):
        return str(value)
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"


def table_text(table: dict[str, dict[str, dict[str, float]]], labels: list[str]) -> str:
    """The comparison as fixed-width text: one row per task and metric, one column per model."""
    rows = [("task", "metric", *labels)]
    for task in sorted(table):
        for metric in sorted(table[task]):
            rows.append((task, metric, *(_cell(table[task][metric].get(label)) for label in labels)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# the plot's panels: one per kind of metric, each on the scale its metrics share
# (name, metric base names, y-axis label, log axis)
METRIC_KINDS = (
    ("accuracy", ("acc", "acc_norm", "exact_match"), "accuracy (0-1)", False),
    ("perplexity", ("perplexity", "word_perplexity", "byte_perplexity"), "perplexity (log scale)", True),
    ("bits per byte", ("bits_per_byte",), "bits per byte", False),
    ("generation", ("bleu", "chrf", "rougeL"), "score (0-100; ROUGE-L x100)", False),
)
# ROUGE-L is an F-measure in [0, 1]; BLEU and chrF are 0-100: drawn on one axis, ROUGE-L x100
_GENERATION_FACTORS = {"rougeL": 100.0}


def metric_kind(metric: str) -> str:
    """The panel a metric is drawn in ('other' for a metric of no known kind); `metric` may carry
    its filter ("bleu (answer)")."""
    base = metric.split(" ")[0]
    return next((kind for kind, names, *_ in METRIC_KINDS if base in names), "other")


def _panels(table: dict[str, dict[str, dict[str, float]]]) -> list[tuple[str, str, bool, list[tuple[str, str]]]]:
    """(kind, axis label, log axis, [(task, metric)]) of each kind that has scores, in METRIC_KINDS order."""
    kinds = [(kind, label, log) for kind, _, label, log in METRIC_KINDS] + [("other", "value", False)]
    panels = []
    for kind, label, log in kinds:
        rows = [(task, metric) for task in sorted(table) for metric in sorted(table[task])
                if metric_kind(metric) == kind]
        if rows:
            panels.append((kind, label, log, rows))
    return panels


def plot(table: dict[str, dict[str, dict[str, float]]], labels: list[str], path: Path, title: str) -> None:
    """One PNG: a panel per kind of metric (accuracies in [0, 1], perplexities on a log axis, bits per
    byte, generation scores), in each a group of bars per task and metric, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _panels(table)
    columns = min(2, len(panels)) or 1
    rows = math.ceil(len(panels) / columns) or 1
    widest = max((len(p[3]) for p in panels), default=1)
    panel_width = min(8.0, max(5.5, 0.25 * widest * max(1, len(labels))))
    figure, axes = plt.subplots(rows, columns, figsize=(panel_width * columns, 4.4 * rows), squeeze=False)
    width = 0.8 / max(1, len(labels))
    for panel, (kind, axis_label, log, cells) in zip(axes.flat, panels):
        for k, label in enumerate(labels):
            values = [table[task][metric].get(label, float("nan")) * _GENERATION_FACTORS.get(metric.split(" ")[0], 1.0)
                      for task, metric in cells]
            panel.bar([i + k * width for i in range(len(cells))], values, width, label=label)
        panel.set_xticks([i + width * (len(labels) - 1) / 2 for i in range(len(cells))])
        panel.set_xticklabels([f"{task}\n{metric}" for task, metric in cells], rotation=30, ha="right", fontsize=7)
        panel.set_ylabel(axis_label, fontsize=8)
        if log:
            panel.set_yscale("log")
        elif kind == "accuracy":
            panel.set_ylim(0, 1)
        panel.set_title(kind, fontsize=10)
        panel.grid(axis="y", alpha=0.3)
    for panel in list(axes.flat)[len(panels):]:
        panel.axis("off")
    if panels:
        axes.flat[0].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
