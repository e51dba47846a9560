"""Build and run one data stage as a Beam job: read -> stage transform -> write + ledger.

Everything that can be checked before the job starts (config, input paths, output folder,
runner profile, Beam options) is checked here first, so a mistake costs one line, not a run.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.beam_io import (
    LEDGER_NAMESPACE, PROGRESS_LOG, LogProgress, ReadDocuments, WriteStageOutput, prepare_output, read_ledger,
)
from pipelines.config_loader import ConfigError
from pipelines.input_files import ResolvedInput, resolve_input
from pipelines.job_config import RunConfig
from pipelines.runners import default_runners_file, load_profiles, pipeline_options
from pipelines.stage_outputs import StageOutputs


def _clean(cfg: RunConfig, docs) -> StageOutputs:
    from pipelines.clean.beam import KEPT, REJECTED, CleanDocuments

    out = docs | "Clean" >> CleanDocuments(cfg.clean)
    return StageOutputs(out[KEPT], out[REJECTED])


def _dedup(cfg: RunConfig, docs) -> StageOutputs:
    from pipelines.dedup.beam import DeduplicateDocuments

    out = docs | "Dedup" >> DeduplicateDocuments(cfg.dedup)
    return StageOutputs(out.kept, out.rejected)


# The data stages that read Documents and write Parquet + ledger, in pipeline order.
STAGE_TRANSFORMS: dict[str, Callable[[RunConfig, Any], StageOutputs]] = {"clean": _clean, "dedup": _dedup}


@dataclass
class StageOutcome:
    """What a finished (or dry-run) stage job left: its ledger and the ledger counters from Beam metrics."""

    ledger: dict | None
    counters: dict[str, int]
    result: Any


class _WorkerLogFilter(logging.Filter):
    """On the local job service's logger: print workers' progress lines plainly, pass on their
    errors, and drop the rest (every worker's start-up warnings, which say nothing about the job)."""

    _MESSAGE = re.compile(r'message: "([^"]*)"')

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        text = record.getMessage()
        if "documents on this worker" in text:
            found = self._MESSAGE.search(text)
            if found:
                print(found.group(1), file=sys.stderr, flush=True)
        return False


def show_worker_progress() -> None:
    """Route progress lines to stderr, from in-process workers and from worker processes alike."""
    if not PROGRESS_LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        PROGRESS_LOG.addHandler(handler)
        PROGRESS_LOG.setLevel(logging.INFO)
        PROGRESS_LOG.propagate = False
    job_service = logging.getLogger("apache_beam.runners.portability.local_job_service")
    if not any(isinstance(f, _WorkerLogFilter) for f in job_service.filters):
        job_service.addFilter(_WorkerLogFilter())
        # workers' INFO records must reach the filter; it lets only errors through
        job_service.setLevel(logging.INFO)


def stage_options(cfg: RunConfig, beam_args: list[str]) -> PipelineOptions:
    """The Beam options of the run's runner profile, overridden by `beam_args`."""
    runners_file = cfg.runners_file or default_runners_file()
    profiles = load_profiles(runners_file)
    if cfg.runner_profile not in profiles:
        raise ConfigError(f"runner profile '{cfg.runner_profile}' is not in {runners_file} "
                          f"(profiles: {', '.join(profiles)})")
    return pipeline_options(profiles[cfg.runner_profile], beam_args)


def build_stage_pipeline(stage: str, cfg: RunConfig, resolved: ResolvedInput,
                         options: PipelineOptions) -> beam.Pipeline:
    """The Beam pipeline of one data stage, not yet run."""
    pipeline = beam.Pipeline(options=options)
    read = pipeline | "Read" >> ReadDocuments(resolved.files, cfg.read, cfg.clean.encoding)
    kept, rejected, added = STAGE_TRANSFORMS[stage](cfg, read.documents)
    all_rejected = (read.rejected, rejected) | "AllRejected" >> beam.Flatten()
    # Counted where the stage's work finishes, so the numbers move while the job does. Not on a
    # Flatten of both: the FnApiRunner never runs a leaf ParDo that follows a Flatten.
    _ = kept | "ProgressKept" >> beam.ParDo(LogProgress(f"{stage}: kept"))
    _ = rejected | "ProgressRejected" >> beam.ParDo(LogProgress(f"{stage}: rejected"))
    params = {"read": dataclasses.asdict(cfg.read), stage: dataclasses.asdict(getattr(cfg, stage))}
    outputs = {"inputs": (read.documents, read.rejected), "kept": kept, "rejected": all_rejected}
    if added is not None:
        outputs["added"] = added
    _ = outputs | "Write" >> (
        WriteStageOutput(cfg.output, stage, params, inputs=[f.path for f in resolved.files],
                         runner=cfg.runner_profile, upstream=list(resolved.upstream_ledgers)))
    return pipeline


def run_stage(stage: str, cfg: RunConfig, beam_args: list[str]) -> StageOutcome:
    """Validate, build and run one data stage; returns its ledger (None for a Dataflow dry run)."""
    if stage not in STAGE_TRANSFORMS:
        raise ConfigError(f"unknown stage '{stage}'")
    options = stage_options(cfg, beam_args)
    resolved = resolve_input(cfg.input)
    prepare_output(cfg.output)
    print(f"[{stage}] {len(resolved.files)} input file(s), runner profile '{cfg.runner_profile}', "
          f"output {cfg.output}", file=sys.stderr, flush=True)
    result = build_stage_pipeline(stage, cfg, resolved, options).run()
    result.wait_until_finish()
    if options.get_all_options().get("dry_run"):
        return StageOutcome(ledger=None, counters={}, result=result)
    return StageOutcome(ledger=read_ledger(cfg.output), counters=ledger_counters(result), result=result)


def ledger_counters(result: Any) -> dict[str, int]:
    """The fullchain.ledger counters of a finished job (committed values where the runner has them)."""
    counters = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(LEDGER_NAMESPACE))["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + value
    return counters
