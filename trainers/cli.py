"""`fullchain train` and `fullchain train export-hf`.

    fullchain train --config run.yaml [--train.steps 100 ...]          # one process
    torchrun --nproc_per_node 8 $(which fullchain) train --config ...  # dp x pp x tp = 8
    fullchain train --nproc-per-node 8 --config ...                    # the same, torchrun started for you
    deepspeed --hostfile hosts $(which fullchain) train --config ...   # several machines
    fullchain train export-hf RUN_OR_CHECKPOINT --output HF_DIR
"""

from __future__ import annotations

import argparse
import os
import sys

from fullchain.pipelines.config import ConfigError, add_config_flags, run_command
from fullchain.pipelines.shard.manifest import ManifestError
from fullchain.trainers.config import TrainConfig


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fullchain train",
        description="Train a Llama-architecture decoder on `fullchain shard` output with DeepSpeed "
                    "(data x pipeline x tensor parallel), or LoRA-fine-tune an HF model (--mode lora). "
                    "`fullchain train export-hf RUN --output DIR` writes an HF folder from any checkpoint.",
        usage="fullchain train [--config YAML] [--nproc-per-node N] [OPTIONS]")
    parser.add_argument("--config", metavar="YAML", help="Train config file; flags override its values.")
    parser.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                        help="Start N >= 1 processes on this machine with torchrun (otherwise launch with "
                             "torchrun or the deepspeed launcher yourself) [default: run in this process].")
    add_config_flags(parser, TrainConfig)
    return parser


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fullchain train export-hf",
        description="Write a consolidated Hugging Face folder (config.json, model.safetensors, tokenizer) "
                    "from a checkpoint; no DeepSpeed and no pickle involved.")
    parser.add_argument("checkpoint", help="A checkpoint folder (RUN/checkpoints/step_N) or a run folder "
                                           "(its newest complete checkpoint).")
    parser.add_argument("--output", required=True, help="Folder to write.")
    return parser


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _relaunch(nproc: int, argv: list[str]) -> int:
    """Re-run this command under torchrun with `nproc` local processes (on a free port), which die
    with this process. The workers see RANK set and train instead of relaunching."""
    from fullchain.trainers.processes import start_torchrun

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return start_torchrun(["--standalone", f"--nproc_per_node={nproc}", "-m", "fullchain", "train", *argv], env)


def _export_hf(argv: list[str]) -> int:
    from fullchain.trainers.checkpoints import CheckpointError, latest_checkpoint
    from fullchain.trainers.hf_interop import export_checkpoint

    args = _export_parser().parse_args(argv)
    folder = args.checkpoint
    if os.path.isdir(os.path.join(folder, "checkpoints")):
        folder = latest_checkpoint(folder)
        if folder is None:
            print(f"fullchain train export-hf: error: {args.checkpoint}: no complete checkpoint", file=sys.stderr)
            return 2
    try:
        out = export_checkpoint(folder, args.output)
    except CheckpointError as e:
        print(f"fullchain train export-hf: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} (from {folder})")
    return 0


def _train(command: str, args: argparse.Namespace, cfg: TrainConfig, argv: list[str]) -> int:
    from fullchain.trainers.loop import run_training
    from fullchain.trainers.preflight import on_gpu, plan_run
    from fullchain.trainers.processes import run_lock

    if args.nproc_per_node is not None and args.nproc_per_node < 1:
        raise ConfigError(f"--nproc-per-node must be at least 1, got {args.nproc_per_node}")
    if args.nproc_per_node is not None and args.nproc_per_node > 1 and "RANK" not in os.environ:
        # Checked here first so a bad config fails once, with one line, not once per process.
        plan_run(cfg, args.nproc_per_node, on_gpu())
        with run_lock(cfg.output):
            return _relaunch(args.nproc_per_node, argv)
    run_training(cfg)
    return 0


def main(command: str, argv: list[str]) -> int:
    """Entry point for `fullchain train ...` (dispatched from fullchain.cli)."""
    if argv and argv[0] == "export-hf":
        return _export_hf(argv[1:])
    from fullchain.trainers.processes import RunLocked, die_with_launcher

    if "RANK" in os.environ:
        # as early as possible: a launcher killed while this worker starts must take it along
        die_with_launcher()
    from fullchain.trainers.loop import NonFiniteLoss

    def reports(error: BaseException) -> bool:
        # every process loads the same config and gets the same NaN loss: rank 0 speaks for all;
        # the run lock and a shard that fails its check concern the process that hit them
        return _is_rank0() or isinstance(error, (RunLocked, ManifestError))

    return run_command(f"fullchain {command}", _train_parser(), TrainConfig,
                       lambda args, cfg: _train(command, args, cfg, argv), argv,
                       failures={RunLocked: 2, ManifestError: 2, NonFiniteLoss: 3}, reports=reports)
