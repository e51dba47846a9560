"""Build and run a stage as a Beam job (read -> stage -> write + ledger), or `prepare`: all stages in one job.

Everything that can be checked before the job starts (config, input paths, output folder,
runner profile, Beam options) is checked here first, so a mistake costs one line, not a run.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from fullchain.pipelines.backtranslate.beam import Backtranslate
from fullchain.pipelines.beam_data_stream import install as install_data_stream_fix
from fullchain.pipelines.beam_io import (
    LEDGER_NAMESPACE, LogProgress, ReadDocuments, WriteStageOutput, prepare_output, read_json, read_ledger, write_json,
)
from fullchain.pipelines.classify.beam import ClassifyDocuments
from fullchain.pipelines.clean.beam import CleanDocuments
from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.decontaminate.beam import Decontaminate
from fullchain.pipelines.dedup.beam import DeduplicateDocuments
from fullchain.pipelines.input_files import ResolvedInput, resolve_input
from fullchain.pipelines.input_reading import fewer_read_units_than_cores
from fullchain.pipelines.job_config import PREPARE_STAGES, RunConfig
from fullchain.pipelines.output_path import check_output_holds_no_input, check_output_path
from fullchain.pipelines.perplexity.beam import FilterByPerplexity
from fullchain.pipelines.runners import default_runners_file, load_profiles, pipeline_options
from fullchain.pipelines.stage_outputs import StageOutputs
from fullchain.pipelines.synonyms.beam import SynonymReplacement

PREPARE_FILE = "prepare.json"
SHARDS_FOLDER = "shards"


# The data stages that read Documents and write Parquet + ledger, in `prepare` order: each is a
# PTransform built from its own config section (RunConfig.<stage>) that turns PCollection[Document]
# into StageOutputs. Adding a stage is one entry here and one config section.
STAGE_TRANSFORMS: dict[str, type[beam.PTransform]] = {
    "clean": CleanDocuments, "dedup": DeduplicateDocuments, "classify": ClassifyDocuments,
    "ppl_filter": FilterByPerplexity, "backtranslate": Backtranslate, "synonyms": SynonymReplacement,
    "decontaminate": Decontaminate,
}


def preflight(stage: str, cfg: RunConfig) -> None:
    """Checks of a stage's models and files that must pass before its job starts (one-line errors)."""
    if stage == "ppl_filter":
        from fullchain.pipelines.perplexity.model_handler import check_model

        check_model(cfg.ppl_filter.model, cfg.ppl_filter.window_tokens)
    elif stage == "backtranslate":
        from fullchain.pipelines.backtranslate.model_check import check_models

        check_models(cfg.backtranslate)
    elif stage == "classify":
        from fullchain.pipelines.classify.classifiers import check_classifiers

        check_classifiers(cfg.classify)
    elif stage == "synonyms":
        from fullchain.pipelines.synonyms.lexicons import check_resources

        check_resources(cfg.synonyms)
    elif stage == "shard" and cfg.shard.tokenizer:
        from fullchain.pipelines.shard.beam import check_tokenizer

        check_tokenizer(cfg.shard.tokenizer, cfg.shard.append_eos)


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
                   read_rejected=None, upstream: list[dict] = (), upstream_ledger=None, reread=None,
                   spread: bool = True):
    """Apply one data stage to `docs` and write its output folder; returns (kept, ledger PCollection).

    `read_rejected` are the read rejections of the job's input (counted by the first stage), and
    `upstream_ledger` the ledger PCollection of the stage before it in the same job. With `reread`
    (label -> a new numbered read of the job's input), `docs` are that read's (serial, Document)
    records, and the stage (one that READS_INPUT_AGAIN) reads the input again where it needs it.
    `spread`: clean redistributes its documents over the workers (CleanDocuments says when to).
    """
    label = stage.replace("_", " ").title().replace(" ", "")
    extra = {}
    if stage == "dedup":  # dedup may write its clusters beside its output (dedup.write_clusters)
        extra["clusters"] = output if cfg.dedup.write_clusters else ""
    if stage == "clean":
        extra["spread"] = spread
    if reread is not None:
        extra["reread"] = reread
    stage_outputs: StageOutputs = docs | label >> STAGE_TRANSFORMS[stage](getattr(cfg, stage), **extra)
    if reread is not None:
        docs = docs | f"{label}InputDocuments" >> beam.Values()
    kept, rejected, added = stage_outputs.kept, stage_outputs.rejected, stage_outputs.added
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
    for reported in ("tallies", "measures"):
        if getattr(stage_outputs, reported) is not None:
            outputs[reported] = getattr(stage_outputs, reported)
    params = {"read": dataclasses.asdict(cfg.read), stage: dataclasses.asdict(getattr(cfg, stage))}
    ledger = outputs | f"Write{label}" >> WriteStageOutput(
        output, stage, params, inputs=inputs, runner=cfg.runner_profile, upstream=list(upstream))
    return kept, ledger


def build_stage_pipeline(stage: str, cfg: RunConfig, resolved: ResolvedInput,
                         options: PipelineOptions) -> beam.Pipeline:
    """The Beam pipeline of one data stage, not yet run."""
    pipeline = beam.Pipeline(options=options)
    # a stage that reads its input more than once gets it numbered: every read gives a record one serial
    numbered = getattr(STAGE_TRANSFORMS[stage], "READS_INPUT_AGAIN", False)
    read = pipeline | "Read" >> ReadDocuments(resolved.files, cfg.read, numbered=numbered)

    def reread(label: str):
        return (pipeline | label >> ReadDocuments(resolved.files, cfg.read, numbered=True)).documents

    add_data_stage(stage, cfg, read.documents, cfg.output, [f.path for f in resolved.files],
                   read_rejected=read.rejected, upstream=resolved.upstream_ledgers,
                   reread=reread if numbered else None,
                   spread=fewer_read_units_than_cores(resolved.files, cfg.read.split_bytes))
    return pipeline


def build_shard_pipeline(cfg: RunConfig, resolved: ResolvedInput, options: PipelineOptions) -> beam.Pipeline:
    """The shard job: read documents, tokenize and write shards + manifest. Read rejections (of a raw
    input) count as skipped in the manifest, so every input document is accounted for."""
    from fullchain.pipelines.shard.beam import WriteShards

    pipeline = beam.Pipeline(options=options)
    read = pipeline | "Read" >> ReadDocuments(resolved.files, cfg.read)
    _ = read.documents | "Shard" >> WriteShards(cfg.shard, cfg.output, resolved.upstream_ledgers,
                                                read_rejected=read.rejected)
    return pipeline


def build_prepare_pipeline(cfg: RunConfig, resolved: ResolvedInput, options: PipelineOptions) -> beam.Pipeline:
    """Every stage of cfg.prepare.stages chained in one job: each data stage writes OUT/<stage>/ as
    it would alone, the shard stage OUT/shards/, and OUT/prepare.json records which stages ran."""
    from fullchain.pipelines.shard.beam import WriteShards

    pipeline = beam.Pipeline(options=options)
    read = pipeline | "Read" >> ReadDocuments(resolved.files, cfg.read)
    docs, read_rejected, ledger = read.documents, read.rejected, None
    ledgers = []
    inputs = [f.path for f in resolved.files]
    spread = fewer_read_units_than_cores(resolved.files, cfg.read.split_bytes)
    for stage in cfg.prepare.stages:
        if stage == "shard":
            continue
        folder = FileSystems.join(cfg.output, stage)
        docs, ledger = add_data_stage(stage, cfg, docs, folder, inputs, read_rejected=read_rejected,
                                      upstream=resolved.upstream_ledgers if ledger is None else (),
                                      upstream_ledger=ledger, spread=spread)
        ledgers.append(ledger)
        read_rejected, inputs = None, [FileSystems.join(folder, "data")]
    stage_ledgers = tuple(ledgers) | "StageLedgers" >> beam.Flatten(pipeline=pipeline)
    manifest = None
    if "shard" in cfg.prepare.stages:
        manifest = docs | "Shard" >> WriteShards(
            cfg.shard, FileSystems.join(cfg.output, SHARDS_FOLDER), resolved.upstream_ledgers,
            read_rejected=read_rejected, in_job_ledgers=ledger)
    if manifest is None:
        manifest = pipeline | "NoShards" >> beam.Create([])
    si = beam.pvalue
    _ = (
        pipeline
        | "SummarySeed" >> beam.Create([None])
        | "WriteSummary" >> beam.Map(_write_prepare_summary, si.AsList(stage_ledgers), si.AsList(manifest),
                                     cfg=cfg)
    )
    return pipeline


def _write_prepare_summary(_, ledgers: list[dict], manifests: list[dict], cfg: RunConfig) -> None:
    summary = prepare_summary(cfg.prepare.stages, ledgers, manifests[0] if manifests else None)
    write_json(summary, FileSystems.join(cfg.output, PREPARE_FILE))


def prepare_summary(enabled: list[str], ledgers: list[dict], manifest: dict | None) -> dict:
    """prepare.json: every stage with its switch, and the counts of those that ran."""
    by_stage = {ledger["stage"]: ledger for ledger in ledgers}
    stages = {}
    for stage in PREPARE_STAGES:
        entry: dict[str, Any] = {"enabled": stage in enabled}
        if stage in by_stage:
            ledger = by_stage[stage]
            entry.update({k: ledger[k] for k in ("input", "added", "kept", "rejected_total", "rejected") if k in ledger})
            entry["output"] = stage
        elif stage == "shard" and manifest is not None:
            entry.update(input=manifest["input_documents"], written=manifest["written"], skipped=manifest["skipped"],
                         splits=manifest["splits"], output=SHARDS_FOLDER)
        stages[stage] = entry
    return {"stage": "prepare", "stages": stages}


def run_stage(stage: str, cfg: RunConfig, beam_args: list[str]) -> StageOutcome:
    """Validate, build and run one stage, or `prepare`; returns its ledger, manifest or summary
    (None for a Dataflow dry run)."""
    stages = cfg.prepare.stages if stage == "prepare" else [stage]
    if any(s not in STAGE_TRANSFORMS and s != "shard" for s in stages):
        raise ConfigError(f"unknown stage '{stage}'")
    # before anything below deletes or writes: an output over an input would destroy it
    check_output_path(cfg.output, cfg.input)
    options = stage_options(cfg, beam_args)
    for name in stages:
        preflight(name, cfg)
    resolved = resolve_input(cfg.input)
    check_output_holds_no_input(cfg.output, [f.path for f in resolved.files])
    if stage == "shard":
        from fullchain.pipelines.shard.output_files import check_output

        check_output(cfg.output)
        build = build_shard_pipeline
    elif stage == "prepare":
        from fullchain.pipelines.shard.output_files import check_output

        prepare_output(cfg.output, marker=PREPARE_FILE, stage_folders=[s for s in PREPARE_STAGES if s != "shard"],
                       managed_folders=(SHARDS_FOLDER,))
        check_output(FileSystems.join(cfg.output, SHARDS_FOLDER))
        build = build_prepare_pipeline
    else:
        prepare_output(cfg.output)
        build = lambda c, r, o: build_stage_pipeline(stage, c, r, o)  # noqa: E731
    print(f"[{stage}] {len(resolved.files)} input file(s), runner profile '{cfg.runner_profile}', "
          f"output {cfg.output}", file=sys.stderr, flush=True)
    install_data_stream_fix()
    result = build(cfg, resolved, options).run()
    result.wait_until_finish()
    if options.get_all_options().get("dry_run"):
        return StageOutcome(ledger=None, counters={}, result=result)
    if stage == "shard":
        from fullchain.pipelines.shard.manifest import load_manifest

        summary = load_manifest(cfg.output)
    elif stage == "prepare":
        summary = read_json(FileSystems.join(cfg.output, PREPARE_FILE))
    else:
        summary = read_ledger(cfg.output)
    return StageOutcome(ledger=summary, counters=ledger_counters(result), result=result)


def ledger_counters(result: Any) -> dict[str, int]:
    """The fullchain.ledger counters of a finished job (committed values where the runner has them)."""
    counters = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(LEDGER_NAMESPACE))["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + value
    return counters
