"""Helpers of the `fullchain run` tests: a tiny run config, runs as users start them (their own process
group, so a SIGKILL takes the whole run), a kill on a file the stage writes, and folder comparisons."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import yaml

RUN_TIMEOUT_S = 600
TINY_MODEL = {"hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_heads": 2, "num_kv_heads": 1}
# DirectRunner in this process: a few hundred documents need no worker processes
IN_MEMORY_RUNNERS = {"local": {"runner": "DirectRunner", "options": {"direct_running_mode": "in_memory"}}}


def tiny_config(folder: Path, reference_lm: str) -> Path:
    """A run config of a few hundred template documents, a 1-layer model and a few steps; ppl-filter
    scores with `reference_lm` (so the run trains no reference LM of its own)."""
    runners = folder / "runners.yaml"
    runners.write_text(yaml.safe_dump(IN_MEMORY_RUNNERS))
    train = {"data": {"seq_len": 64, "num_workers": 0}, "model": TINY_MODEL, "optim": {"warmup_steps": 1},
             "train": {"steps": 6, "micro_batch_size": 2}, "eval": {"every": 2, "batches": 1},
             "checkpoint": {"every": 2, "keep": 3}, "log": {"every": 1, "sinks": ["jsonl"], "progress": False}}
    config = {
        "chain": {"nproc_per_node": 1, "runners_file": str(runners)},
        "corpus": {"source": "template", "documents": 200},
        # the run trains a quality classifier and classify filters dedup's output with it
        "quality_classifier": {"train": {"positive_label": "good", "negative_label": "junk"}},
        "ppl_filter": {"model": reference_lm, "mode": "percentile", "window_tokens": 64},
        "backtranslate": {"fraction": 0.02, "generation": {"max_new_tokens": 4}},
        "shard": {"train": {"vocab_size": 300}, "val_fraction": 0.05, "target_shard_mb": 0.1},
        "train": train,
        "export": {"validation": {"seq_len": 32, "windows": 2, "greedy_tokens": 4, "latency_tokens": 2}},
    }
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_run(config: Path, output: Path, *flags: str) -> subprocess.Popen:
    """`fullchain run CONFIG --output OUTPUT FLAGS` in a process group of its own."""
    return subprocess.Popen([sys.executable, "-m", "fullchain", "run", str(config), "--output", str(output), *flags],
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen) -> str:
    """Wait for a run; its output, or AssertionError with it when the run failed."""
    out, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, out[-4000:]
    return out


def run(config: Path, output: Path, *flags: str) -> str:
    """Run to the end; its output."""
    return finish(start_run(config, output, *flags))


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    """SIGKILL the run's whole process group as soon as `ready()` holds (polled; no sleep decides)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the run ended (status {process.returncode}) before {what}:\n{out[-4000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    # the stage's children die with the run (PR_SET_PDEATHSIG); wait until none is left writing
    time.sleep(0.5)


def stage_status(output: Path, stage: str) -> str:
    """The status run.json records for `stage` ('' when absent or unreadable mid-write)."""
    try:
        return json.loads((output / "run.json").read_text())["stages"].get(stage, {}).get("status", "")
    except (OSError, ValueError):
        return ""


def copy_run(source: Path, target: Path, keep: list[str]) -> None:
    """A run folder holding only `keep` of `source`'s stage folders (and its configs and run.json), as a
    run that got that far would have left it."""
    target.mkdir(parents=True)
    for name in [*keep, "configs", "run.json"]:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name)
        elif path.exists():
            shutil.copy2(path, target / name)


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def losses(run_dir: Path) -> dict[int, float]:
    """step -> training loss of a trainer run folder's metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {row["step"]: row["train/step_loss"] for row in rows if "train/step_loss" in row}
