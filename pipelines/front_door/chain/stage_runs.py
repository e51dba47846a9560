"""How each stage of the chain runs, what marks it complete and its key figure.

A stage runs through its standalone command (`fullchain clean --config DIR/configs/clean.yaml`,
`fullchain train --nproc-per-node N ...`) in the run folder, so its folder holds exactly what that
command writes. The config each command gets is the run's section with the paths between stages
filled in (relative to the run folder).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from typing import Any

from fullchain.chain.child_process import StageFailed
from fullchain.chain.context import RunContext
from fullchain.pipelines.config import config_to_dict
from fullchain.pipelines.job_config import RunConfig

STAND_IN_MT = os.path.join("stand-ins", "mt")
REFERENCE_SHARDS = os.path.join("reference-lm", "shards")
REFERENCE_RUN = os.path.join("reference-lm", "train")


def read_json(path: str) -> Any:
    """The content of a JSON file a stage wrote."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def run_path_exists(ctx: RunContext, *parts: str) -> bool:
    """Whether DIR/<parts...> exists in the run folder."""
    return os.path.exists(ctx.path(*parts))


# --- corpus -------------------------------------------------------------------------------

def corpus_input(ctx: RunContext) -> str:
    """What the first data stage reads: the user's --input, or the corpus the run wrote."""
    return ctx.user_input or os.path.join("corpus", "corpus.jsonl.gz")


def run_corpus(ctx: RunContext) -> None:
    from fullchain.chain.fingerprints import files_fingerprint, input_files
    from fullchain.pipelines.real_text.corpus import SUMMARY_FILE, summary_line, write_corpus

    if ctx.user_input:
        files = input_files(ctx.user_input)
        if not files:
            raise StageFailed(f"corpus: --input {ctx.user_input} matches no file")
        os.makedirs(ctx.path("corpus"), exist_ok=True)
        summary = {"source": "input", "input": ctx.user_input, "files": files_fingerprint(files), "planted": {}}
        with open(ctx.path("corpus", SUMMARY_FILE), "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
        print(f"corpus: your data, {len(files)} files from {ctx.user_input} (nothing planted)", file=sys.stderr)
        return
    summary = write_corpus(ctx.config.corpus, ctx.path("corpus"))
    for missing in summary["missing_sources"]:
        print(f"corpus: warning: {missing}", file=sys.stderr)
    print(f"corpus: {summary_line(summary)}", file=sys.stderr)


def corpus_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, "corpus", "corpus.json")


def corpus_figure(ctx: RunContext) -> dict[str, Any]:
    summary = read_json(ctx.path("corpus", "corpus.json"))
    if summary["source"] == "input":
        return {"name": "files", "value": len(summary["files"]), "text": f"{len(summary['files'])} input files"}
    planted = sum(summary["planted"].values())
    return {"name": "documents", "value": summary["documents"],
            "text": f"{summary['documents']:,} docs ({planted:,} planted)"}


# --- data stages ----------------------------------------------------------------------------

def data_stage_config(ctx: RunContext, section: str, input_path: str, output: str, resolved: Any = None) -> RunConfig:
    """The RunConfig of one data stage: the run's `read` and `section` (or `resolved`), its paths and runner."""
    chain = ctx.config.chain
    values = {"read": ctx.config.read, section: resolved if resolved is not None else getattr(ctx.config, section)}
    return RunConfig(input=input_path, output=output, runner_profile=chain.runner_profile,
                     runners_file=chain.runners_file, **values)


def run_data_command(ctx: RunContext, stage: str, command: str, config: RunConfig, name: str | None = None) -> None:
    """`fullchain COMMAND --config DIR/configs/NAME.yaml` in the run folder."""
    relative = ctx.write_config(name or stage, config)
    ctx.run_fullchain(stage, [command, "--config", relative])


def ledger_complete(folder: str):
    def complete(ctx: RunContext) -> bool:
        return run_path_exists(ctx, folder, "ledger.json")
    return complete


def ledger_figure(folder: str, what: str):
    def figure(ctx: RunContext) -> dict[str, Any]:
        ledger = read_json(ctx.path(folder, "ledger.json"))
        total = ledger["input"] + ledger.get("added", 0)
        if what == "removed":
            removed = ledger["rejected_total"]
            return {"name": "removed", "value": removed, "text": f"{removed:,} of {total:,} removed"}
        if what == "added":
            added, kept = ledger.get("added", 0), ledger.get("added_kept", 0)
            return {"name": "translations_kept", "value": kept, "text": f"{kept:,} of {added:,} round trips kept"}
        return {"name": "kept", "value": ledger["kept"], "text": f"{ledger['kept']:,} of {total:,} kept"}
    return figure


def run_clean(ctx: RunContext) -> None:
    run_data_command(ctx, "clean", "clean", data_stage_config(ctx, "clean", corpus_input(ctx), "clean"))


def run_dedup(ctx: RunContext) -> None:
    run_data_command(ctx, "dedup", "dedup", data_stage_config(ctx, "dedup", "clean", "dedup"))


def classify_wanted(ctx: RunContext) -> bool:
    """The run classifies when its config has a `classify` section or trains a quality classifier."""
    return "classify" in ctx.present or "quality_classifier" in ctx.present


def filtered_input(ctx: RunContext) -> str:
    """What the stages after dedup read: classify's output when the run classifies, else dedup's."""
    return "classify" if classify_wanted(ctx) else "dedup"


def reference_lm_wanted(ctx: RunContext) -> bool:
    """The run trains its own reference LM unless ppl_filter.model names one."""
    return not ctx.config.ppl_filter.model


def run_ppl_filter(ctx: RunContext) -> None:
    cfg = ctx.config.ppl_filter
    if cfg.model:
        model = os.path.abspath(cfg.model)
        print(f"ppl-filter: scoring with your reference LM {model} (ppl_filter.model)", file=sys.stderr)
    else:
        model = os.path.join(REFERENCE_RUN, "hf")
        print(f"ppl-filter: scoring with the reference LM this run trained on the cleaned, deduplicated corpus "
              f"({filtered_input(ctx)}'s output; {model}), as CCNet scores with an LM trained on Wikipedia", file=sys.stderr)
    resolved = dataclasses.replace(cfg, model=model)
    run_data_command(ctx, "ppl-filter", "ppl-filter", data_stage_config(ctx, "ppl_filter", filtered_input(ctx), "ppl-filter",
                                                                         resolved))


def run_backtranslate(ctx: RunContext) -> None:
    cfg = ctx.config.backtranslate
    if cfg.forward_model:
        resolved = dataclasses.replace(cfg, forward_model=os.path.abspath(cfg.forward_model),
                                       backward_model=os.path.abspath(cfg.backward_model)
                                       if cfg.backward_model else cfg.backward_model)
    else:
        from fullchain.pipelines.sample_models import tiny_seq2seq

        if not run_path_exists(ctx, STAND_IN_MT, "config.json"):
            tiny_seq2seq(ctx.path(STAND_IN_MT))
        print(f"backtranslate: no translation model configured (backtranslate.forward_model), so it runs with a "
              f"locally built random-weight stand-in ({STAND_IN_MT}): its translations are noise and the round-trip "
              f"gate will reject them. Name real models in the config to augment for real.", file=sys.stderr)
        resolved = dataclasses.replace(cfg, model_kind="seq2seq", forward_model=STAND_IN_MT, backward_model=STAND_IN_MT)
    run_data_command(ctx, "backtranslate", "backtranslate",
                     data_stage_config(ctx, "backtranslate", "ppl-filter", "backtranslate", resolved))


def run_shard(ctx: RunContext) -> None:
    run_data_command(ctx, "shard", "shard", data_stage_config(ctx, "shard", "backtranslate", "shard"))


def manifest_complete(folder: str):
    def complete(ctx: RunContext) -> bool:
        return run_path_exists(ctx, folder, "manifest.json")
    return complete


def shard_figure(ctx: RunContext) -> dict[str, Any]:
    manifest = read_json(ctx.path("shard", "manifest.json"))
    tokens = sum(split.get("tokens", 0) for split in manifest["splits"].values()) \
        if isinstance(manifest.get("splits"), dict) else 0
    return {"name": "tokens", "value": tokens,
            "text": f"{manifest['written']:,} docs, {tokens:,} tokens in {len(manifest['shards'])} shards"}


# --- training -------------------------------------------------------------------------------

def train_config(ctx: RunContext, cfg: Any, output: str, manifest: str, base_model: str = "") -> Any:
    """A TrainConfig with the run's paths: its output folder, the shards, LoRA's base model."""
    resolved = dataclasses.replace(cfg, output=output, data=dataclasses.replace(cfg.data, manifest=manifest))
    if base_model:
        resolved = dataclasses.replace(resolved, lora=dataclasses.replace(cfg.lora, base_model=base_model))
    return resolved


def run_training(ctx: RunContext, stage: str, name: str, cfg: Any) -> None:
    """`fullchain train --config DIR/configs/NAME.yaml --nproc-per-node N`; resumes from the newest
    complete checkpoint in its output folder (the trainer's checkpoint.resume: auto)."""
    relative = ctx.write_config(name, cfg)
    ctx.run_fullchain(stage, ["train", "--config", relative, "--nproc-per-node", str(ctx.config.chain.nproc_per_node)])


def training_complete(output: str, section: str):
    """A finished run: its HF folder (written last, atomically) from a checkpoint at the last step."""
    def complete(ctx: RunContext) -> bool:
        from fullchain.trainers.checkpoints import latest_checkpoint

        steps = _section(ctx, section).train.steps
        last = latest_checkpoint(ctx.path(output)) if run_path_exists(ctx, output, "checkpoints") else None
        if last is None or not run_path_exists(ctx, output, "hf", "config.json"):
            return False
        return read_json(os.path.join(last, "state.json"))["step"] == steps
    return complete


def _section(ctx: RunContext, dotted: str) -> Any:
    value = ctx.config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def validation_curve(folder: str) -> list[tuple[int, float]]:
    """(step, validation perplexity) from a trainer's metrics.jsonl."""
    path = os.path.join(folder, "metrics.jsonl")
    points = []
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if "val/ppl" in row:
                    points.append((row["step"], row["val/ppl"]))
    return points


def training_figure(output: str):
    def figure(ctx: RunContext) -> dict[str, Any]:
        curve = validation_curve(ctx.path(output))
        if not curve:
            return {"name": "val_ppl", "value": None, "text": "no validation"}
        (s0, first), (s1, last) = curve[0], curve[-1]
        return {"name": "val_ppl", "value": last, "first": first,
                "text": f"val ppl {first:,.1f} (step {s0}) -> {last:,.1f} (step {s1})"}
    return figure


def run_reference_lm(ctx: RunContext) -> None:
    section = ctx.config.reference_lm
    if not run_path_exists(ctx, REFERENCE_SHARDS, "manifest.json"):
        shards = RunConfig(input=filtered_input(ctx), output=REFERENCE_SHARDS, runner_profile=ctx.config.chain.runner_profile,
                           runners_file=ctx.config.chain.runners_file, read=ctx.config.read, shard=section.shard)
        run_data_command(ctx, "reference-lm", "shard", shards, name="reference-lm-shard")
    run_training(ctx, "reference-lm", "reference-lm", train_config(ctx, section.train, REFERENCE_RUN, REFERENCE_SHARDS))


def run_train(ctx: RunContext) -> None:
    cfg = train_config(ctx, ctx.config.train, "train", "shard")
    run_training(ctx, "train", "train", cfg)
    from fullchain.chain.samples import write_samples

    write_samples(ctx.path("train"), cfg.train.seed, ctx.path("shard"), cfg.data.seq_len)


def train_complete(ctx: RunContext) -> bool:
    return training_complete("train", "train")(ctx) and run_path_exists(ctx, "train", "samples.json")


def lora_wanted(ctx: RunContext) -> bool:
    return "lora" in ctx.present


def run_lora(ctx: RunContext) -> None:
    cfg = dataclasses.replace(ctx.config.lora, mode="lora")
    run_training(ctx, "lora", "lora", train_config(ctx, cfg, "lora", "shard", base_model=os.path.join("train", "hf")))


# --- export -----------------------------------------------------------------------------------

def model_to_export(ctx: RunContext) -> str:
    """The HF folder the export reads: LoRA's merged model when the run fine-tunes, else train's."""
    return os.path.join("lora" if lora_wanted(ctx) else "train", "hf")


def run_export(ctx: RunContext) -> None:
    cfg = ctx.config.export
    # the run reruns an export only when it is missing or out of date: replacing it is the point
    resolved = dataclasses.replace(cfg, overwrite=True,
                                   validation=dataclasses.replace(cfg.validation, manifest="shard"))
    relative = ctx.write_config("export", resolved)
    ctx.run_fullchain("export", ["export", model_to_export(ctx), "--output", "export", "--config", relative])


def export_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, "export", "export.json")


def export_figure(ctx: RunContext) -> dict[str, Any]:
    report = read_json(ctx.path("export", "report.json"))
    ppl = report["perplexity"]
    return {"name": "int8_ppl_delta_pct", "value": ppl["int8_delta_pct"],
            "text": f"ppl fp32 {ppl['onnx_fp32']:.2f}, int8 {ppl['onnx_int8']:.2f} ({ppl['int8_delta_pct']:+.2f}%)"}


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: a non-finite figure is recorded as null."""
    return value if value is None or math.isfinite(value) else None


def section_values(ctx: RunContext, sections: tuple[str, ...]) -> dict[str, Any]:
    """The plain data of the config sections a stage depends on (for its fingerprint)."""
    return {name: config_to_dict(getattr(ctx.config, name)) for name in sections}
