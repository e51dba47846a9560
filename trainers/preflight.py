"""Everything checked before the first process group or model exists.

`plan_run` turns a TrainConfig and the world size into a `RunPlan` (parallel layout, model shape,
manifest, tokenizer, where to resume from) or raises `TrainConfigError` with one line naming the
option or file. Every rank runs it and fails the same way, before DeepSpeed starts. This is the one
home of the checks that need more than the config (those live in `trainers.config`): the layout
against the world size and the model shape (`check_layout`), fp16 on the CPU, and whether the run
is on a GPU at all (`on_gpu`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.shard.format import shard_root, tokenizer_dir as shard_tokenizer_dir
from fullchain.pipelines.shard.manifest import ManifestError
from fullchain.trainers.checkpoints import RUN_HF_FOLDER, CheckpointError, complete_checkpoints, read_checkpoint_state
from fullchain.trainers.config import TrainConfig
from fullchain.trainers.data import validate_manifest_for_training, verify_split_checksums
from fullchain.trainers.model import ModelConfig
from fullchain.trainers.parallelize import ParallelDims


def on_gpu() -> bool:
    """Whether this run uses CUDA (DS_ACCELERATOR=cpu forces the CPU path)."""
    import torch

    return torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR", "cuda") != "cpu"


class TrainConfigError(ConfigError):
    """A training run that cannot start; the message is one line."""


@dataclass
class RunPlan:
    dims: ParallelDims
    model: ModelConfig | None  # None in LoRA mode (the HF model defines itself)
    manifest: dict
    manifest_dir: str
    tokenizer_dir: str
    resume_from: str | None
    start_step: int
    global_batch: int  # sequences per optimizer step
    seq_len: int

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len


def parallel_dims(cfg: TrainConfig, world_size: int) -> ParallelDims:
    """The layout: dp = world / (pp * tp) when dp is 0; the product must be the world size."""
    p = cfg.parallel
    if world_size % (p.pp * p.tp):
        raise TrainConfigError(f"pp*tp = {p.pp}*{p.tp} does not divide the world size {world_size} "
                               f"(processes launched)")
    dims = ParallelDims(dp=p.dp or world_size // (p.pp * p.tp), pp=p.pp, tp=p.tp)
    check_layout(dims, world_size)
    return dims


def check_layout(dims: ParallelDims, world_size: int, model: ModelConfig | None = None) -> None:
    """TrainConfigError (one line) unless dp * pp * tp is the world size and, given a model shape,
    its layers split over pp and its heads and MLP width over tp."""
    if dims.world_size != world_size:
        raise TrainConfigError(f"dp*pp*tp = {dims.dp}*{dims.pp}*{dims.tp} = {dims.world_size} != world size "
                               f"{world_size}; launch that many processes (torchrun --nproc_per_node) or set "
                               f"parallel.dp 0")
    if model is None:
        return
    for name, count, degree in (("num_layers", model.num_layers, ("pp", dims.pp)),
                                ("num_heads", model.num_heads, ("tp", dims.tp)),
                                ("num_kv_heads", model.num_kv_heads, ("tp", dims.tp)),
                                ("intermediate_size", model.intermediate_size, ("tp", dims.tp))):
        if count % degree[1]:
            raise TrainConfigError(f"model {name} ({count}) must be divisible by parallel.{degree[0]} ({degree[1]})")
    if model.tie_embeddings and (dims.pp > 1 or dims.tp > 1):
        raise TrainConfigError("tied embeddings are not supported with pp > 1 or tp > 1")


def model_config(cfg: TrainConfig, vocab_size: int) -> tuple[ModelConfig, str | None]:
    """The model shape (from init_from's config.json, else preset + overrides) and the init folder."""
    init = cfg.model.init_from
    if not init:
        try:
            return cfg.model.build(vocab_size, cfg.data.seq_len), None
        except ValueError as e:
            raise TrainConfigError(f"model: {e}") from None
    config_path = os.path.join(init, "config.json")
    if not os.path.isfile(config_path):
        raise TrainConfigError(f"model.init_from {init}: no config.json (need a Hugging Face Llama folder)")
    from transformers import AutoConfig

    from fullchain.pipelines.hf_loading import ModelFolderError, config_sizes, safetensors_shapes, safetensors_weights
    from fullchain.trainers.hf_interop import from_hf_config, hf_weight_shapes

    try:
        with open(config_path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TrainConfigError(f"model.init_from {config_path}: cannot read: {e}") from None
    try:
        # the raw sizes first: transformers itself divides by the head count while reading the config
        config_sizes(raw if isinstance(raw, dict) else {}, config_path)
        weight_files = safetensors_weights(init)
    except ModelFolderError as e:
        raise TrainConfigError(f"model.init_from: {e}") from None
    try:
        model_cfg = from_hf_config(AutoConfig.from_pretrained(init, local_files_only=True))
    except (ValueError, KeyError, OSError) as e:
        raise TrainConfigError(f"model.init_from {init}: {str(e).strip().splitlines()[0]}") from None
    mismatch = _weight_mismatch(hf_weight_shapes(model_cfg), safetensors_shapes(init, weight_files))
    if mismatch:
        raise TrainConfigError(f"model.init_from {init}: the safetensors weights do not fit config.json: {mismatch}")
    if model_cfg.vocab_size < vocab_size:
        raise TrainConfigError(f"model.init_from {init}: vocabulary {model_cfg.vocab_size} is smaller than the "
                               f"shards' tokenizer ({vocab_size}); the shards were tokenized for another model")
    if model_cfg.max_seq_len < cfg.data.seq_len:
        raise TrainConfigError(f"data.seq_len {cfg.data.seq_len} exceeds model.init_from's max positions "
                               f"{model_cfg.max_seq_len}")
    return model_cfg, init


def _weight_mismatch(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> str | None:
    """What differs between the tensors a model needs and those a folder holds (None: they fit);
    weights transformers recomputes or ties are not needed."""
    found = {k: v for k, v in found.items() if not k.endswith("rotary_emb.inv_freq")}
    missing = sorted(set(expected) - set(found))
    if missing:
        return f"no tensor {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
    unexpected = sorted(set(found) - set(expected) - {"lm_head.weight"})
    if unexpected:
        return f"unexpected tensor {unexpected[0]}"
    for key, shape in expected.items():
        if found[key] != shape:
            return f"{key} has shape {list(found[key])}, config.json needs {list(shape)}"
    return None


def plan_run(cfg: TrainConfig, world_size: int, gpu: bool, checksums: bool = True) -> RunPlan:
    """Check the config against the world size, the manifest and the output folder; with `checksums`,
    also the size and sha256 of every shard the run reads (one process of a launch does that)."""
    if not cfg.output:
        raise TrainConfigError("output is required (the run folder)")
    if not cfg.data.manifest:
        raise TrainConfigError("data.manifest is required (the folder written by `fullchain shard`)")
    dims = parallel_dims(cfg, world_size)
    t = cfg.train
    global_batch = t.micro_batch_size * t.grad_accum_steps * dims.dp
    if t.global_batch_size and t.global_batch_size != global_batch:
        raise TrainConfigError(
            f"train.global_batch_size {t.global_batch_size} != micro_batch_size * grad_accum_steps * dp = "
            f"{t.micro_batch_size}*{t.grad_accum_steps}*{dims.dp} = {global_batch}")
    if t.precision == "fp16" and not gpu:
        raise TrainConfigError("train.precision fp16 needs a GPU; use fp32 or bf16 on the CPU")
    if dims.pp > 1 and t.grad_accum_steps < dims.pp:
        # Not an error for DeepSpeed, but the pipeline would idle most of the time.
        print(f"warning: train.grad_accum_steps {t.grad_accum_steps} < pp {dims.pp}: the pipeline bubble "
              f"dominates; use at least {2 * dims.pp} micro-batches per step", file=sys.stderr)
    try:
        manifest = validate_manifest_for_training(cfg.data.manifest, "train", dims.dp, cfg.data.seq_len,
                                                  t.micro_batch_size)
        if cfg.eval.every:
            validate_manifest_for_training(cfg.data.manifest, "val", dims.dp)
        if checksums:
            # a corrupt shard otherwise shows only when it is first read, after the model is built
            for split in ("train", "val") if cfg.eval.every else ("train",):
                verify_split_checksums(cfg.data.manifest, manifest, split)
    except ManifestError as e:
        raise TrainConfigError(str(e)) from None
    manifest_dir = shard_root(cfg.data.manifest)
    tokenizer_dir = shard_tokenizer_dir(cfg.data.manifest, manifest)
    model = None
    if cfg.mode == "lora":
        from fullchain.trainers.lora_checks import check_lora_inputs

        try:
            check_lora_inputs(cfg, manifest)
        except ValueError as e:
            raise TrainConfigError(str(e)) from None
    else:
        model, _ = model_config(cfg, int(manifest["tokenizer"]["vocab_size"]))
        check_layout(dims, world_size, model)
    resume_from, start_step = _resume_point(cfg, dims, model)
    return RunPlan(dims=dims, model=model, manifest=manifest, manifest_dir=manifest_dir,
                   tokenizer_dir=tokenizer_dir, resume_from=resume_from, start_step=start_step,
                   global_batch=global_batch, seq_len=cfg.data.seq_len)


def _resume_point(cfg: TrainConfig, dims: ParallelDims, model: ModelConfig | None) -> tuple[str | None, int]:
    how = cfg.checkpoint.resume
    existing = complete_checkpoints(cfg.output)
    if how == "none":
        if existing:
            raise TrainConfigError(f"{cfg.output} already has checkpoints (newest step {existing[-1][0]}); "
                                   f"use checkpoint.resume auto, or a new output folder")
        return None, 0
    folder = (existing[-1][1] if existing else None) if how == "auto" else how
    if folder is None:
        return None, 0
    try:
        state = read_checkpoint_state(folder)
    except CheckpointError as e:
        raise TrainConfigError(str(e)) from None
    mismatches = []
    if state["mode"] != cfg.mode:
        mismatches.append(f"mode {state['mode']} != {cfg.mode}")
    if state["parallel"] != {"dp": dims.dp, "pp": dims.pp, "tp": dims.tp}:
        mismatches.append(f"parallel {state['parallel']} != {{'dp': {dims.dp}, 'pp': {dims.pp}, 'tp': {dims.tp}}}")
    if model is not None and state["model"] != model.to_dict():
        mismatches.append("model shape differs")
    for key in ("micro_batch_size", "grad_accum_steps"):
        if state["train"][key] != getattr(cfg.train, key):
            mismatches.append(f"train.{key} {state['train'][key]} != {getattr(cfg.train, key)}")
    if state["seq_len"] != cfg.data.seq_len:
        mismatches.append(f"data.seq_len {state['seq_len']} != {cfg.data.seq_len}")
    if mismatches:
        raise TrainConfigError(f"cannot resume from {folder}: {'; '.join(mismatches)}")
    # A run killed after its last checkpoint but before its HF folder resumes with no step left
    # and only writes the folder; one that has its HF folder is done.
    if state["step"] >= cfg.train.steps and os.path.isdir(os.path.join(cfg.output, RUN_HF_FOLDER)):
        raise TrainConfigError(f"{folder} is at step {state['step']}, train.steps is {cfg.train.steps}: "
                               f"nothing left to train (raise train.steps to continue)")
    return folder, int(state["step"])
