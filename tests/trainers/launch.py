"""The one way tests/trainers start training processes: `fullchain train` as users run it (one process,
or `--nproc-per-node N`, which starts torchrun), and a test script under torchrun. Every launch runs
on the CPU (DS_ACCELERATOR=cpu, gloo) with one thread per process and a timeout; torchrun picks its
own free port (--standalone), so no port is chosen here."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A DeepSpeed launch of 8 processes on 2 cores takes ~30 s; the first one on a machine also
# JIT-compiles a comm op (~90 s).
TIMEOUT = 600


def cpu_env(**extra: str) -> dict[str, str]:
    """The environment of a CPU training launch: no inherited rank variables (a test run under a
    launcher would otherwise make the child think it is a worker)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                            "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu", **extra)
    return env


def gpu_env() -> dict[str, str]:
    """The environment of a CUDA training launch (NCCL): `cpu_env` without the CPU accelerator."""
    env = cpu_env()
    del env["DS_ACCELERATOR"]
    return env


def train_command(*flags: str, nproc: int = 1) -> list[str]:
    """The command line of `fullchain train FLAGS` with `nproc` local processes."""
    cmd = [sys.executable, "-m", "fullchain", "train", *flags]
    return cmd + (["--nproc-per-node", str(nproc)] if nproc > 1 else [])


def run_train(*flags: str, nproc: int = 1, check: bool = True, gpu: bool = False) -> subprocess.CompletedProcess:
    """Run `fullchain train FLAGS` to its end (on the CPU, or with `gpu` on CUDA); with `check`,
    AssertionError (with its output) unless it exits 0."""
    result = subprocess.run(train_command(*flags, nproc=nproc), cwd=REPO, env=gpu_env() if gpu else cpu_env(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def run_script(script: Path, *args: str, nproc: int | None) -> subprocess.CompletedProcess:
    """Run a test script directly (`nproc` None) or under torchrun with `nproc` processes; AssertionError
    (with its output) unless it exits 0."""
    if nproc is None:
        cmd = [sys.executable, str(script), *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               str(script), *args]
    result = subprocess.run(cmd, cwd=REPO, env=cpu_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result
