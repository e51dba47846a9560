"""Closed-loop load test of a served generation model: at each concurrency level, that many
threads send requests back to back for a bounded time; requests/s, tokens/s and latency
percentiles per level, written as JSON and plotted.

Every request gets a unique prompt suffix, so the response cache never answers and the numbers
are the model's.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fullchain.deploy.client import ClientError, GenerationClient
from fullchain.deploy.config import LoadtestConfig


class LoadtestError(RuntimeError):
    """A load test that cannot run or report; the message is one line."""


@dataclass
class LevelResult:
    """What one concurrency level measured."""

    concurrency: int
    requests: int
    errors: int
    duration_s: float
    requests_per_s: float
    tokens_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    first_error: str | None


def run_level(cfg: LoadtestConfig, concurrency: int) -> LevelResult:
    """Keep `concurrency` requests in flight for cfg.duration_s; requests started before the end finish."""
    latencies: list[float] = []
    tokens = [0]
    errors: list[str] = []
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.monotonic() + cfg.duration_s

    def worker() -> None:
        with GenerationClient(cfg) as client:
            while time.monotonic() < deadline:
                n = next(counter)
                prompt = f"{cfg.prompts[n % len(cfg.prompts)]} (request {n} at {time.time_ns()})"
                try:
                    done = client.generate(prompt, cfg)
                except ClientError as e:
                    with lock:
                        errors.append(str(e))
                    continue
                with lock:
                    latencies.append(done.latency_s)
                    tokens[0] += len(done.token_ids)

    start = time.monotonic()
    threads = [threading.Thread(target=worker, name=f"loadtest-{i}") for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    ms = np.array(latencies) * 1000.0
    pct = (lambda q: round(float(np.percentile(ms, q)), 2)) if ms.size else (lambda q: None)
    return LevelResult(concurrency=concurrency, requests=len(latencies), errors=len(errors),
                       duration_s=round(elapsed, 3), requests_per_s=round(len(latencies) / elapsed, 2),
                       tokens_per_s=round(tokens[0] / elapsed, 1), p50_ms=pct(50), p95_ms=pct(95), p99_ms=pct(99),
                       first_error=errors[0] if errors else None)


def run_loadtest(cfg: LoadtestConfig) -> dict[str, Any]:
    """All levels in order; the report as written to JSON."""
    with GenerationClient(cfg) as client:
        model = client.model()
        url = client.url
    cfg = dataclasses.replace(cfg, model=model)
    levels = [run_level(cfg, c) for c in cfg.concurrency]
    return {"model": model, "url": url, "protocol": cfg.protocol, "max_tokens": cfg.max_tokens,
            "temperature": cfg.temperature, "duration_s": cfg.duration_s,
            "levels": [dataclasses.asdict(level) for level in levels]}


def report_table(report: dict[str, Any]) -> str:
    """The levels as a fixed-width text table."""
    head = f"{'concurrency':>11} {'requests':>8} {'errors':>6} {'req/s':>8} {'tokens/s':>9} " \
           f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    rows = [head]
    for lv in report["levels"]:
        cells = [f"{lv[k]:>8}" if lv[k] is not None else f"{'-':>8}" for k in ("p50_ms", "p95_ms", "p99_ms")]
        rows.append(f"{lv['concurrency']:>11} {lv['requests']:>8} {lv['errors']:>6} {lv['requests_per_s']:>8} "
                    f"{lv['tokens_per_s']:>9} {' '.join(cells)}")
    return "\n".join(rows)


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    """Write the report as JSON; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def write_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Plot throughput and latency percentiles against concurrency into a PNG; needs matplotlib."""
    try:
        import matplotlib
    except ImportError:
        raise LoadtestError("matplotlib is not installed (pip install matplotlib, or the dev extra): "
                            "no plot written") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = report["levels"]
    x = [lv["concurrency"] for lv in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(x, [lv["requests_per_s"] for lv in levels], marker="o", label="requests/s")
    left.set_xlabel("concurrency")
    left.set_ylabel("requests/s")
    twin = left.twinx()
    twin.plot(x, [lv["tokens_per_s"] for lv in levels], marker="s", color="tab:orange", label="tokens/s")
    twin.set_ylabel("tokens/s")
    left.set_title(f"{report['model']}: throughput")
    for q in ("p50_ms", "p95_ms", "p99_ms"):
        right.plot(x, [lv[q] if lv[q] is not None else np.nan for lv in levels], marker="o", label=q[:-3])
    right.set_xlabel("concurrency")
    right.set_ylabel("latency (ms)")
    right.set_title("latency")
    right.legend()
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(c) for c in x])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
