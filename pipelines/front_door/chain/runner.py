"""The run itself: walk the stage table in order, skip what is complete and up to date, run the
rest, record every step in DIR/run.json and print progress and the closing summary.

A stage is skipped when its completion marker exists and the fingerprint recorded for it equals
the one computed now. Otherwise it runs: on what its folder holds when the recorded fingerprint
is the current one (a run killed in that stage: training resumes from its newest checkpoint), on
an emptied folder when the fingerprint changed or the stage is forced.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any

from fullchain.chain.child_process import StageFailed
from fullchain.chain.context import RunContext
from fullchain.chain.fingerprints import files_fingerprint, fingerprint, input_files
from fullchain.chain.planted_catch import caught, planted_rows
from fullchain.chain.record import utc_now
from fullchain.chain.serving import PID_FILE, RunServer, serve_config
from fullchain.chain.stage_runs import finite_or_none, section_values
from fullchain.chain.stages import STAGE_NAMES, STAGES, Stage
from fullchain.chain.summary import summary_table

DATA_STAGES = ("clean", "dedup", "classify", "ppl-filter", "backtranslate")


@dataclass(frozen=True)
class Selection:
    """Which stages this invocation runs: --from, --until, --force."""

    start: str = STAGE_NAMES[0]
    until: str = STAGE_NAMES[-1]
    force: frozenset[str] = frozenset()


def _minutes(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _say(line: str) -> None:
    print(f"fullchain run: {line}", file=sys.stderr, flush=True)


def _extra(ctx: RunContext, stage: Stage) -> Any:
    # what else a stage's output depends on: the user's input files for the corpus stage
    if stage.name == "corpus" and ctx.user_input:
        return files_fingerprint(input_files(ctx.user_input))
    return None


def _eta(ctx: RunContext, remaining: list[Stage]) -> str:
    previous = [ctx.record.stage(s.name).get("seconds") for s in remaining]
    if remaining and all(isinstance(p, (int, float)) for p in previous):
        return f"ETA {_minutes(sum(previous))} (this folder's last run)"
    return "ETA known once every stage has run once in this folder"


def run_chain(ctx: RunContext, selection: Selection) -> int:
    """Run the selected stages of `ctx`'s config into its folder; 0 when every one completed."""
    order = list(STAGE_NAMES)
    first, last = order.index(selection.start), order.index(selection.until)
    ctx.record.update(config=os.path.abspath(ctx.config_path), command=sys.argv, status="running",
                      started=utc_now(), finished=None, output=ctx.dir)
    ctx.server = RunServer(serve_config(ctx.config.serve, ctx.path("publish")), ctx.path("serve", "triton.log"),
                           ctx.path(PID_FILE))
    fingerprints: dict[str, str | None] = {}
    forced_from: int | None = None
    planted = planted_rows(ctx.dir)
    caught_earlier: set[str] = set()
    run_started = time.perf_counter()
    try:
        for index, stage in enumerate(STAGES):
            if index > last:
                break
            if not stage.wanted(ctx):
                fingerprints[stage.name] = None
                ctx.record.set_stage(stage.name, status="not_configured", reads=list(stage.reads),
                                     note=stage.not_wanted_because)
                _say(f"[{index + 1}/{len(STAGES)}] {stage.name}: not in this run ({stage.not_wanted_because})")
                continue
            upstream = [fingerprints[r] for r in stage.reads if fingerprints.get(r)]
            fp = fingerprint(stage.name, section_values(ctx, tuple(stage.sections)), upstream, _extra(ctx, stage))
            fingerprints[stage.name] = fp
            previous = ctx.record.stage(stage.name)
            if index < first:
                if previous.get("fingerprint") != fp or not stage.complete(ctx):
                    raise StageFailed(f"--from {selection.start}: {stage.name} has not completed in {ctx.dir} with "
                                      f"this config; run without --from (or --from {stage.name})")
                _record_catch(ctx, stage, planted, caught_earlier)
                continue
            if stage.name in selection.force and forced_from is None:
                forced_from = index
            forced = forced_from is not None
            if not forced and previous.get("fingerprint") == fp and stage.complete(ctx):
                ctx.record.set_stage(stage.name, **{**previous, "status": "skipped", "seconds_this_run": 0.0})
                _say(f"[{index + 1}/{len(STAGES)}] {stage.name}: complete and up to date ({stage.marker}); skipped")
                _record_catch(ctx, stage, planted, caught_earlier)
                continue
            remaining = [s for s in STAGES[index:last + 1] if s.wanted(ctx)]
            resume = not forced and previous.get("fingerprint") == fp
            why = ("resuming what the last run left" if resume else
                   "forced" if forced else "config or inputs changed" if previous else "first run")
            _say(f"[{index + 1}/{len(STAGES)}] {stage.name} ({why}); elapsed {_minutes(time.perf_counter() - run_started)}"
                 f", {_eta(ctx, remaining)}")
            if not resume and os.path.isdir(ctx.path(stage.name)):
                shutil.rmtree(ctx.path(stage.name))
            # a stage this run passes over is not read: its readers read what it would have read
            _run_stage(ctx, stage, fp, [r for r in stage.reads if fingerprints.get(r)])
            _record_catch(ctx, stage, planted, caught_earlier)
            if stage.name == "corpus":
                planted = planted_rows(ctx.dir)
    except (StageFailed, KeyboardInterrupt) as error:
        ctx.record.update(status="failed", finished=utc_now(), error=str(error) or type(error).__name__)
        raise
    finally:
        ctx.server.stop()
    ctx.record.update(status="complete", finished=utc_now(), error=None,
                      seconds=round(time.perf_counter() - run_started, 1))
    print(summary_table(ctx.record.data, STAGE_NAMES[:last + 1]))
    return 0


def _run_stage(ctx: RunContext, stage: Stage, fp: str, reads: list[str]) -> None:
    started_at, started = utc_now(), time.perf_counter()
    entry = {"status": "running", "fingerprint": fp, "reads": reads, "outputs": [stage.name],
             "marker": stage.marker, "started": started_at}
    ctx.record.set_stage(stage.name, **entry)
    try:
        stage.run(ctx)
        if not stage.complete(ctx):
            raise StageFailed(f"{stage.name}: finished without its completion marker {stage.marker}")
        figure = stage.key_figure(ctx)
    except BaseException:
        ctx.record.set_stage(stage.name, **{**entry, "status": "failed", "seconds": round(time.perf_counter() - started, 1),
                                            "command": ctx.commands.get(stage.name, [])})
        raise
    seconds = round(time.perf_counter() - started, 1)
    if isinstance(figure.get("value"), float):
        figure["value"] = finite_or_none(figure["value"])
    ctx.record.set_stage(stage.name, **{**entry, "status": "ran", "seconds": seconds, "seconds_this_run": seconds,
                                        "finished": utc_now(), "command": ctx.commands.get(stage.name, []),
                                        "key_figure": figure})
    _say(f"{stage.name}: done in {_minutes(seconds)}: {figure['text']}")


def _record_catch(ctx: RunContext, stage: Stage, planted: list[dict[str, Any]], earlier: set[str]) -> None:
    # each planted document counts for the first stage that caught it
    if stage.name not in DATA_STAGES or not planted:
        return
    entry = dict(ctx.record.stage(stage.name))
    entry["planted_caught"] = caught(ctx.dir, stage.name, planted, earlier)
    ctx.record.set_stage(stage.name, **entry)
