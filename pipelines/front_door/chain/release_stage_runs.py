"""How the stages after export run, what marks each complete and its key figure: publish into
DIR/publish/, serve with a smoke generation, loadtest, eval and the report (stage_runs.py has the
stages up to export)."""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
from typing import Any

from fullchain.chain.child_process import StageFailed
from fullchain.chain.context import RunContext
from fullchain.chain.stage_runs import read_json, run_path_exists


# --- publish, serve, loadtest ---------------------------------------------------------------

def publish_name(ctx: RunContext) -> str:
    return ctx.config.publish.name or "fullchain"


def run_publish(ctx: RunContext) -> None:
    resolved = dataclasses.replace(ctx.config.publish, repository="publish", name=publish_name(ctx))
    relative = ctx.write_config("publish", resolved)
    ctx.run_fullchain("publish", ["publish", "export", "--config", relative])


def published_version(ctx: RunContext) -> int | None:
    """The newest version of the run's model in DIR/publish, None when there is none."""
    folder = ctx.path("publish", publish_name(ctx))
    versions = [int(v) for v in os.listdir(folder) if v.isdigit()] if os.path.isdir(folder) else []
    return max(versions) if versions else None


def publish_complete(ctx: RunContext) -> bool:
    version = published_version(ctx)
    return version is not None and run_path_exists(ctx, "publish", publish_name(ctx), "config.pbtxt")


def publish_figure(ctx: RunContext) -> dict[str, Any]:
    version = published_version(ctx)
    return {"name": "version", "value": version, "text": f"{publish_name(ctx)} version {version}"}


def run_serve(ctx: RunContext) -> None:
    chain = ctx.config.chain
    os.makedirs(ctx.path("serve"), exist_ok=True)
    result = ctx.server.smoke(chain.smoke_prompt, chain.smoke_max_tokens, ctx.path("serve", "smoke.json"))
    print(f"serve: smoke generation {result['prompt']!r} -> {result['completion']!r}", file=sys.stderr)


def serve_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, "serve", "smoke.json")


def serve_figure(ctx: RunContext) -> dict[str, Any]:
    smoke = read_json(ctx.path("serve", "smoke.json"))
    text = smoke["completion"].replace("\n", " ")
    return {"name": "smoke_tokens", "value": smoke["tokens"],
            "text": f"{smoke['tokens']} tokens: {text[:40]}{'...' if len(text) > 40 else ''}"}


def run_loadtest(ctx: RunContext) -> None:
    ctx.server.ensure_started()
    os.makedirs(ctx.path("loadtest"), exist_ok=True)
    resolved = dataclasses.replace(ctx.config.loadtest, url=ctx.server.url, output=os.path.join("loadtest", "loadtest"))
    relative = ctx.write_config("loadtest", resolved)
    ctx.run_fullchain("loadtest", ["loadtest", "--config", relative])


def loadtest_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, "loadtest", "loadtest.json")


def loadtest_figure(ctx: RunContext) -> dict[str, Any]:
    report = read_json(ctx.path("loadtest", "loadtest.json"))
    levels = report.get("levels") or report.get("results") or []
    best = max((level.get("tokens_per_s", 0.0) for level in levels if isinstance(level, dict)), default=0.0)
    return {"name": "peak_tokens_per_s", "value": best, "text": f"peak {best:,.0f} tokens/s"}


# --- eval -----------------------------------------------------------------------------------

def run_eval(ctx: RunContext) -> None:
    # The export folder's graph is the one the server runs; the wheel's tritonserver has no
    # onnxruntime backend, so `fullchain eval http://...` cannot reach the ONNX model itself.
    resolved = dataclasses.replace(ctx.config.eval, overwrite=True)
    relative = ctx.write_config("eval", resolved)
    ctx.run_fullchain("eval", ["eval", "export", "--output", "eval", "--config", relative])


def eval_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, "eval", "results.json")


def eval_figure(ctx: RunContext) -> dict[str, Any]:
    results = read_json(ctx.path("eval", "results.json")).get("results", {})
    for task, metrics in sorted(results.items()):
        for metric, value in sorted(metrics.items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and "stderr" not in metric:
                return {"name": f"{task}.{metric}", "value": value,
                        "text": f"{len(results)} tasks; {task} {metric.split(',')[0]} {value:.3f}"}
    return {"name": "tasks", "value": len(results), "text": f"{len(results)} tasks"}


# --- report ---------------------------------------------------------------------------------

def run_report(ctx: RunContext) -> None:
    try:
        from fullchain.report import write_report
    except ImportError as e:
        raise StageFailed(f"report: fullchain.report.write_report is not available ({e})") from None
    write_report(ctx.dir)


def report_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, "report", "index.html") and run_path_exists(ctx, "report", "summary.json")


def report_figure(ctx: RunContext) -> dict[str, Any]:
    pngs = glob.glob(ctx.path("report", "*.png"))
    return {"name": "figures", "value": len(pngs), "text": f"report/index.html, {len(pngs)} figures"}
