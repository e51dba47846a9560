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


def _ppl_filter(cfg: RunConfig, docs) -> StageOutputs:
    from pipelines.perplexity.beam import FilterByPerplexity

    return docs | "PplFilter" >> FilterByPerplexity(cfg.ppl_filter)


def _backtranslate(cfg: RunConfig, docs) -> StageOutputs:
    from pipelines.backtranslate.beam import Backtranslate

    return docs | "Backtranslate" >> Backtranslate(cfg.backtranslate)


# The data stages that read Documents and write Parquet + ledger, in `prepare` order.
STAGE_TRANSFORMS: dict[str, Callable[[RunConfig, Any], StageOutputs]] = {
    "clean": _clean, "dedup": _dedup, "ppl_filter": _ppl_filter, "backtranslate": _backtranslate,
}


def preflight(stage: str, cfg: RunConfig) -> None:
    """Checks of a stage's models and files that must pass before its job starts (one-line errors)."""
    if stage == "ppl_filter":
        from pipelines.perplexity.model_handler import check_model

        check_model(cfg.ppl_filter.model)
    elif stage == "backtranslate":
        from pipelines.backtranslate.model_handlers import check_models

        check_models(cfg.backtranslate)
    elif stage == "shard" and cfg.shard.tokenizer:
        from pipelines.shard.tokenizer import check_tokenizer

        check_tokenizer(cfg.shard.tokenizer)


@dataclass
class StageOutcome:
    """What a finished (or dry-run) stage job left: its ledger and the ledger counters from Beam metrics."""

    ledger: dict | None
    counters: dict[str, int]
    result: Any


def stage_options(cfg: RunConfig, beam_args: list[str]) -> PipelineOptions:
    """The Beam options of the run's runner profile, overridden by `beam_args`."""
    runners_file = cfg.runners_file or default_runners_file()
    profiles = load_profiles(runners_file)
    if cfg.runner_profile not in profiles:
        raise ConfigError(f"runner profile '{cfg.runner_profile}' is not in {runners_file} "
                          f"(profiles: {', '.join(profiles)})")
    return pipeline_options(profiles[cfg.runner_profile], beam_args)


def add_data_stage(stage: str, cfg: RunConfig, docs, output: str, inputs: list[str],
                   read_rejected=None, upstream: list[dict] = (), upstream_ledger=None):
    """Apply one data stage to `docs` and write its output folder; returns (kept, ledger PCollection).

    `read_rejected` are the read rejections of the job's input (counted by the first stage), and
    `upstream_ledger` the ledger PCollection of the stage before it in the same job.
    """
    label = stage.replace("_", " ").title().replace(" ", "")
    kept, rejected, added = STAGE_TRANSFORMS[stage](cfg, docs)
    # Counted where the stage's work finishes, so the numbers move while the job does. Not on a
    # Flatten of both: the FnApiRunner never runs a leaf ParDo that follows a Flatten.
    _ = kept | f"{label}ProgressKept" >> beam.ParDo(LogProgress(f"{stage}: kept"))
    _ = rejected | f"{label}ProgressRejected" >> beam.ParDo(LogProgress(f"{stage}: rejected"))
    outputs = {"inputs": (docs,), "kept": kept, "rejected": rejected}
    if read_rejected is not None:
        outputs["inputs"] = (docs, read_rejected)
        outputs["rejected"] = (read_rejected, rejected) | f"{label}AllRejected" >> beam.Flatten()
    if added is not None:
        outputs["added"] = added
    if upstream_ledger is not None:
        outputs["upstream"] = upstream_ledger
    params = {"read": dataclasses.asdict(cfg.read), stage: dataclasses.asdict(getattr(cfg, stage))}
    ledger = outputs | f"Write{label}" >> WriteStageOutput(
        output, stage, params, inputs=inputs, runner=cfg.runner_profile, upstream=list(upstream))
    return kept, ledger


def build_stage_pipeline(stage: str, cfg: RunConfig, resolved: ResolvedInput,
                         options: PipelineOptions) -> beam.Pipeline:
    """The Beam pipeline of one data stage, not yet run."""
    pipeline = beam.Pipeline(options=options)
    read = pipeline | "Read" >> ReadDocuments(resolved.files, cfg.read, cfg.clean.encoding)
    add_data_stage(stage, cfg, read.documents, cfg.output, [f.path for f in resolved.files],
                   read_rejected=read.rejected, upstream=resolved.upstream_ledgers)
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
