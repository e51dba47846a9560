"""How the stages after export run, what marks each complete and its key figure: eval (the trained
model and the export side by side), publish into DIR/publish/ behind the release gate, serve with a
smoke generation, served-eval (the running server against the export in process), loadtest and
the report (stage_runs.py has the stages up to export)."""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
from pathlib import Path
from typing import Any

from fullchain.chain.child_process import StageFailed
from fullchain.chain.context import RunContext
from fullchain.chain.stage_runs import model_to_export, read_json, run_path_exists
from fullchain.deploy.release_gate import ReleaseGateError, gate_report

# what eval writes for several models, and what publish's release gate reads
EVAL_COMPARISON = os.path.join("eval", "comparison.json")
SERVED_EVAL = "served-eval"
SERVED_COMPARISON = os.path.join(SERVED_EVAL, "comparison.json")


# --- eval -----------------------------------------------------------------------------------

def eval_models(ctx: RunContext) -> list[str]:
    """What the run evaluates side by side: the trained model in PyTorch FP32 (LoRA's when it ran),
    the export's FP32 graph (unless the export is FP32 itself) and the graph the server runs."""
    export = read_json(ctx.path("export", "export.json")) or {}
    fp32_graph = [] if export.get("precision", "fp32") == "fp32" else ["export#fp32"]
    return [model_to_export(ctx), *fp32_graph, "export"]


def run_eval(ctx: RunContext) -> None:
    # the wheel's tritonserver has no onnxruntime backend, so `fullchain eval http://...` cannot
    # reach the ONNX model itself: the export folder's graph is the one the server runs
    resolved = dataclasses.replace(ctx.config.eval, overwrite=True)
    relative = ctx.write_config("eval", resolved)
    ctx.run_fullchain("eval", ["eval", *eval_models(ctx), "--output", "eval", "--config", relative])


def eval_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, EVAL_COMPARISON)


def eval_figure(ctx: RunContext) -> dict[str, Any]:
    comparison = read_json(ctx.path(EVAL_COMPARISON))
    labels, scores = comparison.get("labels", []), comparison.get("scores", {})
    # the served graph against the column before it (its FP32 graph) on the first bits-per-byte (else
    # perplexity) score: what the release gate weighs
    for metric in ("bits_per_byte", "word_perplexity", "perplexity"):
        for task, metrics in sorted(scores.items()):
            values = metrics.get(metric, {})
            if len(labels) >= 2 and labels[-1] in values and values.get(labels[-2]):
                served, reference = values[labels[-1]], values[labels[-2]]
                return {"name": f"{task}.{metric}", "value": served,
                        "text": f"{len(labels)} models, {len(scores)} tasks; {task} {metric} {labels[-2]} "
                                f"{reference:.4g}, {labels[-1]} {served:.4g} ({100 * (served / reference - 1):+.2f}%)"}
    return {"name": "tasks", "value": len(scores), "text": f"{len(labels)} models, {len(scores)} tasks"}


# --- publish, serve, loadtest ---------------------------------------------------------------

def publish_name(ctx: RunContext) -> str:
    return ctx.config.publish.name or "fullchain"


def run_publish(ctx: RunContext) -> None:
    """Publish the export behind the release gate on the run's evaluation: a refusal stops the run
    here with the task and the numbers (publish.force: true publishes and release.json records it)."""
    cfg = ctx.config.publish
    gate = dataclasses.replace(cfg.gate, evaluation=EVAL_COMPARISON, require_evaluation=True)
    resolved = dataclasses.replace(cfg, repository="publish", name=publish_name(ctx), gate=gate)
    # checked here as well as in the child, so that run.json's error names the task, not only an exit status
    export = read_json(ctx.path("export", "export.json")) or {}
    try:
        gate_report(export, Path("export"), gate, resolved.force, base=Path(ctx.dir))
    except ReleaseGateError as e:
        raise StageFailed(f"publish: {e}") from None
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


def run_served_eval(ctx: RunContext) -> None:
    """The shipped suite on the running server, log-likelihoods through `<name>_llm` (the wheel's
    server has no onnxruntime backend for `<name>`), beside the export's graph scored in process as
    that model's echo scores it (`export#echo`): what is served is what was evaluated."""
    ctx.server.ensure_started()
    host = ctx.server.url.rsplit(":", 1)[0]
    resolved = dataclasses.replace(ctx.config.eval, overwrite=True, served_export="export")
    relative = ctx.write_config(SERVED_EVAL, resolved)
    served = f"grpc://{host}:{ctx.server.cfg.grpc_port}/{publish_name(ctx)}"
    ctx.run_fullchain(SERVED_EVAL, ["eval", served, "export#echo", "--output", SERVED_EVAL, "--config", relative])


def served_eval_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, SERVED_COMPARISON)


def served_eval_figure(ctx: RunContext) -> dict[str, Any]:
    comparison = read_json(ctx.path(SERVED_COMPARISON))
    served, local = comparison["labels"][:2]
    differences = [abs(v[served] - v[local]) / max(abs(v[local]), 1e-12) for metrics in comparison["scores"].values()
                   for v in metrics.values() if served in v and local in v]
    largest = max(differences, default=0.0)
    return {"name": "max_relative_difference", "value": largest,
            "text": f"{served} vs {local}: {len(differences)} scores, largest relative difference {largest:.1e}"}


def loadtest_figure(ctx: RunContext) -> dict[str, Any]:
    report = read_json(ctx.path("loadtest", "loadtest.json"))
    levels = report.get("levels") or report.get("results") or []
    best = max((level.get("tokens_per_s", 0.0) for level in levels if isinstance(level, dict)), default=0.0)
    return {"name": "peak_tokens_per_s", "value": best, "text": f"peak {best:,.0f} tokens/s"}


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
