"""The training loop of `fullchain train`: one function every rank runs.

Reads like nanoGPT's train.py: plan (fail fast) -> process group -> model -> resume -> for each
step: train, log, evaluate, checkpoint -> Hugging Face folder. The `DistributedModel`
(`trainers.distributed_model`) hides how the model is split; this file owns data positions, cadence,
files and progress.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from typing import Any, Iterator

import torch

from fullchain.trainers.checkpoints import (RUN_HF_FOLDER, checkpoint_dir, finish_checkpoint, prune,
                                            read_data_state, remove_incomplete, write_data_state)
from fullchain.trainers.config import TrainConfig
from fullchain.trainers.data import ShardLoader, ShardStream
from fullchain.trainers.distributed_model import DistributedModel, MicroBatches
from fullchain.trainers.preflight import RunPlan, on_gpu, plan_run
from fullchain.trainers.processes import owns_run_folder, run_lock


class NonFiniteLoss(RuntimeError):
    """Training stopped on a NaN/inf loss; the message names the step and the last good checkpoint."""


def world_size() -> int:
    """Processes in this launch (torchrun's WORLD_SIZE; 1 when started directly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(gpu: bool) -> None:
    """Join (or, run directly, create) the process group: NCCL on GPUs, gloo on the CPU."""
    if "RANK" not in os.environ:
        # a world of one: its store binds port 0 itself (a port found free here could be taken before use)
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="0", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    if not gpu:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed

    # DeepSpeed 0.19 calls all_gather_into_tensor, which torch 2.13 deprecates once per call site:
    # noise users cannot act on.
    warnings.filterwarnings("ignore", message=".*all_gather_into_tensor.*", category=FutureWarning)

    if gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    deepspeed.init_distributed(dist_backend="nccl" if gpu else "gloo")


@contextmanager
def process_group(gpu: bool) -> Iterator[None]:
    """The process group for the length of a run, destroyed when the run ends well. Left to the
    interpreter's exit, gloo's threads could be torn down in the wrong order and abort a process
    whose work was done ("terminate called without an active exception", SIGABRT, seen in CI).
    After an error it is left as it is: destroying it while a peer still waits in a collective
    could hang the rank that should report the error."""
    import torch.distributed as dist

    init_distributed(gpu)
    yield
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def build_model(cfg: TrainConfig, plan: RunPlan) -> DistributedModel:
    """The DeepSpeed-wrapped model of the config's mode: the 3D-parallel decoder, or LoRA on an HF model."""
    if cfg.mode == "lora":
        from fullchain.trainers.lora_model import LoraModel

        return LoraModel(cfg)
    from fullchain.trainers.pretrain_model import PretrainModel

    initial = None
    if cfg.model.init_from:
        from fullchain.trainers.hf_interop import load_hf_folder

        initial = load_hf_folder(cfg.model.init_from)[0].state_dict()
    return PretrainModel(cfg, plan.model, plan.dims, initial_state=initial)


def _pairs(batches: Iterator[dict[str, Any]]) -> MicroBatches:
    for batch in batches:
        yield batch["input_ids"], batch["labels"]


def run_training(cfg: TrainConfig) -> dict[str, Any]:
    """Train per `cfg` on this rank; returns the run summary (rank 0's is complete). The rank that
    owns the run folder (`trainers.processes.owns_run_folder`) checks the shards' checksums and
    holds the folder's lock (RunLocked when another run writes it)."""
    gpu = on_gpu()
    owner = owns_run_folder()
    plan = plan_run(cfg, world_size(), gpu, checksums=owner)
    with run_lock(cfg.output) if owner else nullcontext(), process_group(gpu):
        return _train(cfg, plan, gpu)


def _train(cfg: TrainConfig, plan: RunPlan, gpu: bool) -> dict[str, Any]:
    import torch.distributed as dist

    rank = dist.get_rank()
    if rank == 0:
        os.makedirs(cfg.output, exist_ok=True)
        for path in remove_incomplete(cfg.output):
            print(f"removed {path}: a save cut short by the previous run", file=sys.stderr)
    dist.barrier()
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, plan)
    dp_rank = model.dp_rank
    if cfg.mode == "lora" and rank == 0:
        from fullchain.trainers.lora_memory import format_memory_report

        print(format_memory_report(model.memory_report()), file=sys.stderr)

    train_stream = ShardStream(plan.manifest_dir, "train", plan.seq_len, cfg.train.micro_batch_size,
                               rank=dp_rank, world_size=plan.dims.dp, num_workers=cfg.data.num_workers,
                               seed=cfg.data.seed)
    if plan.resume_from:
        model.load(plan.resume_from)
        train_stream.load_state_dict(read_data_state(plan.resume_from, dp_rank))
    batches = _pairs(iter(ShardLoader(train_stream))) if model.reads_data else iter(())

    def evaluate() -> float:
        stream = ShardStream(plan.manifest_dir, "val", plan.seq_len, cfg.train.micro_batch_size,
                             rank=dp_rank, world_size=plan.dims.dp, num_workers=0, seed=cfg.data.seed)
        it = _pairs(iter(stream)) if model.reads_data else iter(())
        return sum(model.eval_step(it) for _ in range(cfg.eval.batches)) / cfg.eval.batches

    last_good = plan.resume_from

    def save(step: int) -> str:
        folder = checkpoint_dir(cfg.output, step)
        model.save(folder)
        if cfg.mode == "lora":
            model.write_hf(os.path.join(folder, "hf"), _tokenizer_source(cfg, plan))
        if model.saves_data_state:
            write_data_state(folder, dp_rank, train_stream.state_dict())
        dist.barrier()
        if rank == 0:
            finish_checkpoint(folder, _checkpoint_state(cfg, plan, step))
            prune(cfg.output, cfg.checkpoint.keep)
        dist.barrier()
        return folder

    metrics = None
    if rank == 0:
        from fullchain.trainers.metrics import MetricsWriter

        metrics = MetricsWriter(cfg.output, cfg.log.sinks, plan.start_step)
        print(_start_line(cfg, plan), file=sys.stderr)
    progress = _progress(cfg, plan, enabled=rank == 0 and cfg.log.progress)
    summary: dict[str, Any] = {"start_step": plan.start_step, "resumed_from": plan.resume_from}
    train_seconds, window_loss, window_steps, window_start = 0.0, 0.0, 0, time.perf_counter()
    val_loss = None
    try:
        for step in range(plan.start_step + 1, cfg.train.steps + 1):
            t0 = time.perf_counter()
            loss = model.train_step(batches)
            train_seconds += time.perf_counter() - t0
            lr = model.lr()
            if not math.isfinite(loss):
                raise NonFiniteLoss(f"loss is {loss} at step {step}; training stopped. Last good checkpoint: "
                                    f"{last_good or 'none'}")
            window_loss, window_steps = window_loss + loss, window_steps + 1
            tokens_per_s = (step - plan.start_step) * plan.tokens_per_step / max(train_seconds, 1e-9)
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", tok_s=f"{tokens_per_s:,.0f}", refresh=False)
            if metrics and (step % cfg.log.every == 0 or step == cfg.train.steps):
                elapsed = time.perf_counter() - window_start
                metrics.write(step, {"train/loss": window_loss / window_steps, "train/lr": lr,
                                     "train/tokens": step * plan.tokens_per_step,
                                     "train/tokens_per_s": window_steps * plan.tokens_per_step / max(elapsed, 1e-9),
                                     "train/step_loss": loss})
                window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
            if cfg.eval.every and (step % cfg.eval.every == 0 or step == cfg.train.steps):
                val_loss = evaluate()
                if metrics:
                    metrics.write(step, {"val/loss": val_loss, "val/ppl": math.exp(min(val_loss, 50.0))})
            if (cfg.checkpoint.every and step % cfg.checkpoint.every == 0) or step == cfg.train.steps:
                last_good = save(step)
            summary["last_loss"] = loss
    finally:
        progress.close()
        if metrics:
            metrics.close()

    steps_run = cfg.train.steps - plan.start_step
    summary.update(steps=cfg.train.steps, steps_run=steps_run, tokens=cfg.train.steps * plan.tokens_per_step,
                   tokens_per_s=steps_run * plan.tokens_per_step / max(train_seconds, 1e-9),
                   val_loss=val_loss, checkpoint=last_good, hf=os.path.join(cfg.output, RUN_HF_FOLDER))
    if rank == 0:
        from fullchain.trainers.hf_interop import export_checkpoint

        export_checkpoint(last_good, summary["hf"])
        print(summary_table(summary))
    dist.barrier()
    return summary


def _tokenizer_source(cfg: TrainConfig, plan: RunPlan) -> str:
    """LoRA keeps the base model's own tokenizer files when it has them (same vocabulary, checked)."""
    base = cfg.lora.base_model
    if base and any(os.path.exists(os.path.join(base, f)) for f in ("tokenizer.json", "tokenizer_config.json")):
        return base
    return plan.tokenizer_dir


def _checkpoint_state(cfg: TrainConfig, plan: RunPlan, step: int) -> dict[str, Any]:
    from fullchain.pipelines.config import config_to_dict

    return {"step": step, "tokens": step * plan.tokens_per_step, "mode": cfg.mode,
            "model": plan.model.to_dict() if plan.model else None,
            "parallel": asdict(plan.dims), "seq_len": plan.seq_len,
            "train": {"micro_batch_size": cfg.train.micro_batch_size, "grad_accum_steps": cfg.train.grad_accum_steps},
            "tokenizer_dir": os.path.abspath(_tokenizer_source(cfg, plan)),
            "config": config_to_dict(cfg), "time": time.time()}


def _start_line(cfg: TrainConfig, plan: RunPlan) -> str:
    d = plan.dims
    what = (f"{plan.model.num_params() / 1e6:.2f}M-parameter decoder" if plan.model
            else f"LoRA on {cfg.lora.base_model}")
    resume = f", resuming from {plan.resume_from}" if plan.resume_from else ""
    return (f"train: {what}, dp={d.dp} pp={d.pp} tp={d.tp} zero={cfg.parallel.zero_stage}, "
            f"{plan.global_batch} x {plan.seq_len} = {plan.tokens_per_step:,} tokens/step, "
            f"{cfg.train.steps} steps, {cfg.train.precision}{resume}")


def _progress(cfg: TrainConfig, plan: RunPlan, enabled: bool):
    from tqdm import tqdm

    # Redirected to a file (CI, `make demo | tee`), every refresh would be kept: refresh seldom.
    return tqdm(total=cfg.train.steps, initial=plan.start_step, unit="step", disable=not enabled,
                file=sys.stderr, dynamic_ncols=True, desc="train", mininterval=0.5 if sys.stderr.isatty() else 15)


def summary_table(summary: dict[str, Any]) -> str:
    """The short table printed at the end of a run."""
    val = summary.get("val_loss")
    rows = [("steps", f"{summary['steps']} ({summary['steps_run']} in this run)"),
            ("tokens", f"{summary['tokens']:,}"),
            ("train loss (last step)", f"{summary.get('last_loss', float('nan')):.4f}"),
            ("val loss / ppl", "-" if val is None else f"{val:.4f} / {math.exp(min(val, 50.0)):.2f}"),
            ("tokens/s (train steps)", f"{summary['tokens_per_s']:,.0f}"),
            ("last checkpoint", str(summary["checkpoint"])),
            ("Hugging Face folder", summary["hf"])]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
