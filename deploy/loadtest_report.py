"""`fullchain loadtest`'s report (deploy/loadtest.py runs the levels): the printed table, the JSON
and the PNG of its curves against concurrency or request rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fullchain.deploy.loadtest import LoadtestError


def level_axis(report: dict[str, Any]) -> tuple[str, str]:
    """(level key, axis title) of a report's levels: request_rate for an open-loop run, else concurrency
    (reports written before open-loop runs existed have no mode)."""
    if report.get("mode") == "request_rate":
        return "request_rate", "request rate (requests/s)"
    return "concurrency", "concurrency"


# (column title, level key) of the printed table after the level's own column
TABLE_COLUMNS = (("requests", "requests"), ("errors", "errors"),
                 ("req/s", "requests_per_s"), ("tokens/s", "output_tokens_per_s"),
                 ("goodput/s", "goodput_requests_per_s"), ("ttft p50", "ttft_p50_ms"), ("ttft p99", "ttft_p99_ms"),
                 ("itl p50", "itl_p50_ms"), ("itl p99", "itl_p99_ms"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"))
# open loop: the arrival rate, then the most requests in flight and the arrivals sent late
RATE_COLUMNS = (("req rate", "request_rate"), ("in flight", "concurrency"), ("delayed", "delayed_requests"))


def report_table(report: dict[str, Any]) -> str:
    """The levels as a fixed-width text table (times in ms; p50/p99 ms: request latency)."""
    lead = RATE_COLUMNS if level_axis(report)[0] == "request_rate" else (("concurrency", "concurrency"),)
    columns = lead + TABLE_COLUMNS
    widths = [max(len(title), 9) for title, _ in columns]
    rows = [" ".join(f"{title:>{w}}" for (title, _), w in zip(columns, widths))]
    for lv in report["levels"]:
        cells = ["-" if lv.get(key) is None else str(lv[key]) for _, key in columns]
        rows.append(" ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    return "\n".join(rows)


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report as JSON; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def write_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Plot throughput and latency percentiles against concurrency (or request rate) into a PNG; needs
    matplotlib."""
    try:
        import matplotlib
    except ImportError:
        raise LoadtestError("matplotlib is not installed (pip install matplotlib, or the dev extra): "
                            "no plot written") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = report["levels"]
    key, axis_title = level_axis(report)
    x = [lv[key] for lv in levels]

    def series(key: str) -> list[float]:
        return [np.nan if lv.get(key) is None else lv[key] for lv in levels]

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    throughput, ttft, itl, latency = axes.ravel()
    throughput.plot(x, series("output_tokens_per_s"), marker="s", color="tab:orange", label="output tokens/s")
    throughput.set_ylabel("output tokens/s")
    twin = throughput.twinx()
    twin.plot(x, series("requests_per_s"), marker="o", label="requests/s")
    twin.plot(x, series("goodput_requests_per_s"), marker="^", linestyle="--", label="goodput (requests/s)")
    twin.set_ylabel("requests/s")
    twin.legend(loc="upper left", fontsize="small")
    throughput.set_title(f"{report['model']} ({report.get('endpoint', report['protocol'])}): throughput")
    for ax, prefix, title in ((ttft, "ttft_", "time to first token"), (itl, "itl_", "inter-token latency"),
                              (latency, "", "request latency")):
        for q in ("p50", "p95", "p99"):
            ax.plot(x, series(f"{prefix}{q}_ms"), marker="o", label=q)
        ax.set_ylabel("ms")
        ax.set_title(title)
        ax.legend(fontsize="small")
    for ax in axes.ravel():
        ax.set_xlabel(axis_title)
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [f"{c:g}" for c in x])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
