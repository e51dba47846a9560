"""The scores of one or more evaluated models as one table (terminal and comparison.json) and one
PNG per suite: a panel per task, a bar per model for each of its metrics."""

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


def plot(table: dict[str, dict[str, dict[str, float]]], labels: list[str], path: Path, title: str) -> None:
    """One PNG: a panel per task, a group of bars (one per model) per metric; perplexities on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted(table)
    columns = min(3, len(tasks)) or 1
    rows = math.ceil(len(tasks) / columns) or 1
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.4 * rows), squeeze=False)
    width = 0.8 / max(1, len(labels))
    for panel, task in zip(axes.flat, tasks):
        metrics = sorted(table[task])
        for k, label in enumerate(labels):
            values = [table[task][m].get(label, float("nan")) for m in metrics]
            panel.bar([i + k * width for i in range(len(metrics))], values, width, label=label)
        panel.set_xticks([i + width * (len(labels) - 1) / 2 for i in range(len(metrics))])
        panel.set_xticklabels(metrics, rotation=20, fontsize=8)
        if any("perplexity" in m for m in metrics):
            panel.set_yscale("log")
        panel.set_title(task, fontsize=10)
    for panel in list(axes.flat)[len(tasks):]:
        panel.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
