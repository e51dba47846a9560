"""`fullchain train`: the schedule, preflight checks and checkpoint bookkeeping (in process), and
real runs of the command under torchrun on the CPU (DeepSpeed, gloo): every layout and ZeRO stage
gives the losses of one process, SIGKILL + resume reproduces the losses, a NaN stops the run, the HF
folder equals the model.
"""

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fullchain.pipelines.config import load_config
from fullchain.trainers.checkpoints import (CheckpointError, checkpoint_dir, complete_checkpoints, finish_checkpoint, prune,
                                  read_checkpoint_state, remove_incomplete)
from fullchain.trainers.config import TrainConfig
from fullchain.trainers.data import ShardStream
from fullchain.trainers.hf_interop import merge_weight_shards
from fullchain.trainers.metrics import MetricsWriter, read_metrics
from fullchain.trainers.model import Decoder, debug_config
from fullchain.trainers.parallelize import ParallelDims, shard_block_state
from fullchain.trainers.preflight import TrainConfigError, plan_run
from fullchain.trainers.schedule import lr_at

from .launch import REPO, TIMEOUT, cpu_env, run_train, train_command
from tests.tiny_models import tiny_llama

from .train_fixtures import write_hf_llama, write_text_shards

BASE = ["--train.steps", "6", "--data.seq-len", "32", "--train.micro-batch-size", "2",
        "--train.grad-accum-steps", "2", "--eval.every", "3", "--eval.batches", "2", "--checkpoint.every", "2",
        "--log.every", "1", "--optim.warmup-steps", "2", "--optim.lr", "3e-3", "--log.progress", "false"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    write_text_shards(str(root))
    return str(root)


def _cfg(shards, output, **overrides):
    flat = {"data.manifest": shards, "output": str(output), **{k: str(v) for k, v in overrides.items()}}
    return load_config(TrainConfig, None, flat)


def _train(shards, output, *extra, nproc=1, check=True):
    return run_train("--data.manifest", shards, "--output", str(output), *BASE, *extra, nproc=nproc, check=check)


def _popen_train(shards, output, *extra, nproc):
    """`fullchain train` started in the background (for the tests that kill it)."""
    cmd = train_command("--data.manifest", shards, "--output", str(output), *BASE, *extra, nproc=nproc)
    return subprocess.Popen(cmd, cwd=REPO, env=cpu_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _descendants(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            for child in fh.read().split():
                found += [int(child)] + _descendants(int(child))
    return found


def _kill_tree(pid):
    """SIGKILL a process and every descendant at once (torchrun's workers run in their own sessions)."""
    victims = [pid] + _descendants(pid)
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            continue  # exited between the listing and the kill: nothing left to stop


def _losses(output, key="train/step_loss"):
    return {r["step"]: r[key] for r in read_metrics(os.path.join(output, "metrics.jsonl")) if key in r}


# ---------------------------------------------------------------------------------------
# Pure parts
# ---------------------------------------------------------------------------------------


def test_lr_schedule_warms_up_then_decays_to_min():
    kw = dict(lr=1.0, min_lr=0.1, warmup_steps=4, total_steps=20)
    lrs = [lr_at(s, **kw) for s in range(20)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    assert lrs[-1] == pytest.approx(0.1)
    assert lr_at(100, **kw) == pytest.approx(0.1)


@pytest.mark.parametrize("overrides, world, match", [
    ({"parallel.dp": 2}, 1, "world size 1"),
    ({"parallel.pp": 2}, 3, "does not divide the world size"),
    ({"train.global_batch_size": 6}, 1, "global_batch_size 6"),
    ({"parallel.tp": 2, "model.num_heads": 2, "model.num_kv_heads": 1}, 2, "num_kv_heads"),
    ({"parallel.pp": 4}, 4, "num_layers"),
    ({"train.precision": "fp16"}, 1, "fp16 needs a GPU"),
])
def test_plan_rejects_bad_layouts_and_batches(shards, tmp_path, overrides, world, match):
    with pytest.raises(TrainConfigError, match=match) as info:
        plan_run(_cfg(shards, tmp_path / "run", **overrides), world, gpu=False)
    assert "\n" not in str(info.value)


def test_plan_rejects_manifest_with_missing_shard(shards, tmp_path):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    os.remove(copy / "train" / "shard-000002.tar")
    with pytest.raises(TrainConfigError, match="shard-000002.tar: listed in the manifest but missing"):
        plan_run(_cfg(str(copy), tmp_path / "run"), 1, gpu=False)


def test_plan_rejects_a_corrupt_shard_before_any_model_is_built(shards, tmp_path):
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    shard = copy / "train" / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the checksum can tell
    shard.write_bytes(bytes(data))
    with pytest.raises(TrainConfigError, match="shard-000001.tar: sha256 differs from the manifest") as info:
        plan_run(_cfg(str(copy), tmp_path / "run"), 1, gpu=False)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("breakage, match", [
    ("truncated", "model.safetensors: not a readable safetensors file"),
    ("zero_heads", "num_attention_heads must be a positive integer, got 0"),
    ("missing_key", "config.json: no hidden_size"),
    ("missing_tensor", "do not fit config.json: no tensor model.norm.weight"),
    ("wrong_shape", "model.norm.weight has shape [16], config.json needs [32]"),
])
def test_plan_rejects_a_broken_init_from_folder(shards, tmp_path, breakage, match):
    from safetensors.torch import load_file, save_file

    folder = Path(write_hf_llama(str(tmp_path / "hf")))
    weights, config = folder / "model.safetensors", folder / "config.json"
    if breakage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-64])
    elif breakage in ("zero_heads", "missing_key"):
        values = json.loads(config.read_text())
        if breakage == "zero_heads":
            values["num_attention_heads"] = 0
        else:
            del values["hidden_size"]
        config.write_text(json.dumps(values))
    else:
        tensors = load_file(str(weights))
        if breakage == "missing_tensor":
            del tensors["model.norm.weight"]
        else:
            tensors["model.norm.weight"] = tensors["model.norm.weight"][:16].clone()
        save_file(tensors, str(weights), metadata={"format": "pt"})
    with pytest.raises(TrainConfigError, match=re.escape(match)) as info:
        plan_run(_cfg(shards, tmp_path / "run", **{"model.init_from": str(folder)}), 1, gpu=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_a_run_folder_has_one_writer(tmp_path):
    from fullchain.trainers.processes import RunLocked, run_lock

    out = str(tmp_path / "run")
    with run_lock(out):
        with pytest.raises(RunLocked, match=f"another training run \\(pid {os.getpid()}\\) is writing") as info:
            with run_lock(out):
                pass
        assert "\n" not in str(info.value)
    with run_lock(out):  # released with the block (and by the kernel when the holder dies)
        pass


@pytest.mark.parametrize("nproc", ["0", "-1"])
def test_cli_refuses_a_process_count_below_one(tmp_path, capsys, nproc):
    from fullchain.trainers.cli import main

    assert main("train", ["--nproc-per-node", nproc, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fullchain train: error: --nproc-per-node must be at least 1, got {nproc}"]
    assert not (tmp_path / "run").exists()


def test_plan_rejects_zero3_with_pipeline(shards, tmp_path):
    with pytest.raises(Exception, match="incompatible with pipeline parallelism"):
        _cfg(shards, tmp_path, **{"parallel.pp": 2, "parallel.zero_stage": 3})


def test_checkpoint_bookkeeping(tmp_path):
    out = str(tmp_path)
    for step in (2, 4, 6):
        os.makedirs(checkpoint_dir(out, step))
        finish_checkpoint(checkpoint_dir(out, step), {"step": step})
    os.makedirs(checkpoint_dir(out, 8))  # a save cut short
    assert [s for s, _ in complete_checkpoints(out)] == [2, 4, 6]
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        read_checkpoint_state(checkpoint_dir(out, 8))
    assert remove_incomplete(out) == [checkpoint_dir(out, 8)]
    prune(out, keep=2)
    assert [s for s, _ in complete_checkpoints(out)] == [4, 6]
    assert read_checkpoint_state(checkpoint_dir(out, 6))["step"] == 6


def test_metrics_drop_records_after_the_resume_step(tmp_path):
    writer = MetricsWriter(str(tmp_path), ["jsonl"], start_step=0)
    for step in range(1, 6):
        writer.write(step, {"train/loss": float(step)})
    writer.close()
    MetricsWriter(str(tmp_path), ["jsonl"], start_step=3).close()
    assert [r["step"] for r in read_metrics(str(tmp_path / "metrics.jsonl"))] == [1, 2, 3]


def test_metrics_reach_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = MetricsWriter(str(tmp_path), ["tensorboard"], start_step=0)
    for step in (1, 2):
        writer.write(step, {"train/loss": 3.0 - step, "train/note": "text is skipped"})
    writer.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(1, 2.0), (2, 1.0)]
    assert not (tmp_path / "metrics.jsonl").exists()


def test_merge_weight_shards_inverts_pipeline_and_tensor_split(tmp_path):
    from safetensors.torch import save_file

    from fullchain.trainers.checkpoints import weights_file_name

    cfg = debug_config()
    full = Decoder(cfg).state_dict()
    dims = ParallelDims(dp=1, pp=2, tp=2)
    L = cfg.num_layers
    for t in range(2):
        per_stage = [{"0.weight": full["embed.weight"]}, {}]
        for i in range(L):
            block = {k[len(f"layers.{i}."):]: v for k, v in full.items() if k.startswith(f"layers.{i}.")}
            target = per_stage[0] if i < L // 2 else per_stage[1]
            target.update({f"{i + 1}.{k}": v for k, v in shard_block_state(block, t, 2).items()})
        per_stage[1].update({f"{L + 1}.weight": full["norm.weight"], f"{L + 2}.weight": full["lm_head.weight"]})
        for stage in range(2):
            save_file({k: v.contiguous() for k, v in per_stage[stage].items()},
                      str(tmp_path / weights_file_name(stage, t)))
    merged = merge_weight_shards(str(tmp_path), cfg, dims)
    assert merged.keys() == full.keys()
    for k in full:
        assert torch.equal(merged[k], full[k]), k


# ---------------------------------------------------------------------------------------
# Real runs (torchrun, DeepSpeed on the CPU)
# ---------------------------------------------------------------------------------------


# Measured differences from one process are ~1e-7; a tensor-parallel run that counts the replicated
# weights tp times in the clipping norm (no model_parallel flags) differs by ~1e-4 within 6 steps.
PARITY_RTOL = 1e-5
RECOMPUTE = ["--train.activation-checkpointing", "true"]


def test_layouts_and_zero_stages_give_the_losses_of_one_process(shards, tmp_path):
    """One process with 4 micro-batches per step and 2 DataLoader workers reads, per step, the micro-batches
    that 2 data-parallel ranks of 2 micro-batches read (global worker g is rank * workers + worker).
    dp=2 with ZeRO 2 and 3 (plain engine), dp=2 x tp=2, and dp=2 x pp=2 x tp=2 on 8 processes (pipeline
    engine) through `fullchain train --nproc-per-node`: the same training losses as that one process,
    and the same validation losses as each other (validation is split over the dp ranks). ZeRO 3 and
    the pipeline recompute their blocks in backward (activation checkpointing), which changes memory,
    not numbers, in either engine."""
    single = tmp_path / "one_process"
    _train(shards, single, "--train.grad-accum-steps", "4", "--data.num-workers", "2")
    ref_train = _losses(single)
    assert sorted(ref_train) == list(range(1, 7))
    assert ref_train[6] < ref_train[1] - 0.3  # it learns
    vals = {}
    for name, extra, nproc in (("zero2", ["--parallel.zero-stage", "2"], 2),
                               ("zero3", ["--parallel.zero-stage", "3", *RECOMPUTE], 2),
                               ("dp2tp2", ["--parallel.tp", "2"], 4),
                               ("dp2pp2tp2", ["--parallel.pp", "2", "--parallel.tp", "2", *RECOMPUTE], 8)):
        out = tmp_path / name
        _train(shards, out, *extra, nproc=nproc)
        train = _losses(out)
        assert sorted(train) == sorted(ref_train), name
        for step in ref_train:
            assert train[step] == pytest.approx(ref_train[step], rel=PARITY_RTOL, abs=0), (name, step)
        vals[name] = _losses(out, "val/loss")
    ref_val = vals["zero2"]
    assert sorted(ref_val) == [3, 6]
    for name, val in vals.items():
        for step in ref_val:
            assert val[step] == pytest.approx(ref_val[step], rel=PARITY_RTOL, abs=0), (name, step)


def test_sigkill_then_resume_reproduces_the_losses(shards, tmp_path):
    """Killed (SIGKILL, whole process group) after a checkpoint, resumed: the same losses as a run
    that was never interrupted, with 2 data-parallel ranks and a DataLoader worker each."""
    extra = ["--train.steps", "40", "--checkpoint.every", "3", "--eval.every", "0", "--data.num-workers", "1"]
    full = tmp_path / "full"
    _train(shards, full, *extra, nproc=2)
    reference = _losses(full)

    killed = tmp_path / "killed"
    proc = _popen_train(shards, killed, *extra, nproc=2)
    deadline = time.time() + TIMEOUT
    while not complete_checkpoints(str(killed)) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    _kill_tree(proc.pid)
    proc.wait(timeout=TIMEOUT)
    resumed_from = complete_checkpoints(str(killed))[-1][0]
    assert resumed_from < 40 and not (killed / "hf").exists(), "the run finished before it was killed"

    result = _train(shards, killed, *extra, nproc=2)
    assert f"resuming from {checkpoint_dir(str(killed), resumed_from)}" in result.stderr
    resumed = _losses(killed)
    assert sorted(resumed) == list(range(1, 41))
    for step in range(resumed_from + 1, 41):
        assert resumed[step] == pytest.approx(reference[step], rel=1e-6, abs=0), step


def test_a_run_killed_between_its_last_checkpoint_and_its_hf_folder_only_writes_the_folder(shards, tmp_path):
    out = tmp_path / "run"
    _train(shards, out, "--eval.every", "0")
    with open(out / "hf" / "model.safetensors", "rb") as fh:
        weights = fh.read()
    shutil.rmtree(out / "hf")  # what a kill after the step-6 checkpoint, before the export, leaves
    result = _train(shards, out, "--eval.every", "0")
    assert "6 (0 in this run)" in result.stdout
    with open(out / "hf" / "model.safetensors", "rb") as fh:
        assert fh.read() == weights
    again = _train(shards, out, "--eval.every", "0", check=False)
    assert again.returncode == 2 and "nothing left to train" in again.stderr


def _processes_mentioning(text):
    """Pids of the processes whose command line contains `text`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if text.encode() in fh.read():
                    found.append(int(entry))
        except OSError:
            continue  # exited while listed
    return found


def test_killing_the_launcher_kills_its_workers_and_a_second_writer_is_refused(shards, tmp_path, capsys):
    """SIGKILL of the `--nproc-per-node 2` launcher alone (torchrun and its workers run in other
    sessions): every process of the run is gone within seconds. While it runs, a second run into the
    same folder, launched either way, is refused with one line."""
    out = tmp_path / "run"
    proc = _popen_train(shards, out, "--train.steps", "100000", "--checkpoint.every", "0", "--eval.every", "0",
                        nproc=2)
    try:
        deadline = time.time() + TIMEOUT
        while not (out / "metrics.jsonl").exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it was killed"
        assert len(_processes_mentioning(str(out))) >= 3  # launcher, torchrun, 2 workers (+ data workers)
        from fullchain.trainers.cli import main

        # in this process, which is cheap: both refusals come before any process group or model
        for launch in (["--nproc-per-node", "2"], []):
            capsys.readouterr()
            assert main("train", ["--data.manifest", shards, "--output", str(out), *BASE, "--train.steps", "2",
                                  *launch]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith(f"fullchain train: error: {out}: another training run "
                                                       f"(pid {proc.pid}) is writing this folder"), err
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
        deadline = time.time() + 15
        while _processes_mentioning(str(out)) and time.time() < deadline:
            time.sleep(0.2)
        assert _processes_mentioning(str(out)) == []
    finally:
        # whatever the outcome, no training is left behind by the test
        for pid in _processes_mentioning(str(out)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue  # exited between the listing and the kill


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(shards, tmp_path):
    out = tmp_path / "run"
    # An absurd learning rate blows the weights up after the first update: the loss turns inf/nan.
    result = _train(shards, out, "--optim.lr", "1e20", "--optim.min-lr", "1e20", "--optim.grad-clip", "0",
                    "--checkpoint.every", "1", "--eval.every", "0", "--optim.warmup-steps", "0", check=False)
    assert result.returncode == 3, result.stderr[-3000:]
    line = [x for x in result.stderr.splitlines() if x.startswith("fullchain train: error:")]
    assert len(line) == 1 and "at step" in line[0] and "training stopped" in line[0]
    bad_step = int(line[0].split("at step ")[1].split(";")[0])
    good = complete_checkpoints(str(out))
    assert good and good[-1][0] == bad_step - 1
    assert checkpoint_dir(str(out), bad_step - 1) in line[0]


def test_cli_refuses_a_layout_that_does_not_fit_the_world(shards, tmp_path):
    result = _train(shards, tmp_path / "run", "--parallel.tp", "2", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("fullchain train: error: pp*tp = 1*2 does not divide")
    assert not (tmp_path / "run").exists()


def test_hf_init_pipeline_tensor_parallel_and_export(shards, tmp_path):
    """Initialise dp=1 x pp=2 x tp=2 from an HF Llama folder, take one step with a negligible learning
    rate, export: the HF folder's logits equal the source model's, and its validation loss equals
    the loss the sharded model reported; `export-hf` from the checkpoint writes the same weights."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    source = write_hf_llama(str(tmp_path / "source"))
    out = tmp_path / "run"
    _train(shards, out, "--model.init-from", source, "--parallel.pp", "2", "--parallel.tp", "2",
           "--train.steps", "1", "--optim.lr", "1e-12", "--optim.min-lr", "0", "--optim.warmup-steps", "0",
           "--eval.every", "1", "--train.grad-accum-steps", "2", nproc=4)
    exported = AutoModelForCausalLM.from_pretrained(out / "hf").eval()
    original = AutoModelForCausalLM.from_pretrained(source).eval()
    ids = torch.randint(0, original.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(exported(ids).logits, original(ids).logits, rtol=1e-5, atol=1e-5)
        stream = ShardStream(shards, "val", 32, 2, rank=0, world_size=1, num_workers=0, seed=0)
        it = iter(stream)
        # transformers' own loss on the whole token rows (it shifts the labels itself): the trainer
        # must score next tokens exactly like it.
        rows = [torch.cat([b["input_ids"], b["labels"][:, -1:]], dim=1) for b in (next(it) for _ in range(4))]
        losses = [exported(input_ids=r, labels=r).loss.item() for r in rows]
    trainer_val = _losses(out, "val/loss")[1]
    assert math.isclose(sum(losses) / len(losses), trainer_val, rel_tol=1e-5)
    again = tmp_path / "again"
    result = subprocess.run([sys.executable, "-m", "fullchain", "train", "export-hf", str(out), "--output",
                             str(again)], cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    a, b = load_file(str(out / "hf" / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((again / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]


def test_lora_mode_trains_and_writes_a_merged_hf_folder(shards, tmp_path):
    """`--mode lora` through the same loop: memory report at start, checkpoints, a merged HF folder
    whose weights moved away from the base model's; a base model of another vocabulary is refused."""
    from transformers import AutoModelForCausalLM

    base = write_hf_llama(str(tmp_path / "base"))
    out = tmp_path / "run"
    result = _train(shards, out, "--mode", "lora", "--lora.base-model", base, "--train.steps", "4",
                    "--eval.every", "2", "--lora.dropout", "0")
    assert "optimizer" in result.stderr.lower()  # the LoRA vs full fine-tune memory table
    assert sorted(_losses(out, "val/loss")) == [2, 4]
    tuned = AutoModelForCausalLM.from_pretrained(out / "hf").eval()
    original = AutoModelForCausalLM.from_pretrained(base).eval()
    ids = torch.randint(0, original.config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.allclose(tuned(ids).logits, original(ids).logits, atol=1e-4)

    other = tiny_llama(tmp_path / "other", vocab_size=100, layers=1)
    refused = _train(shards, tmp_path / "refused", "--mode", "lora", "--lora.base-model", str(other), check=False)
    assert refused.returncode == 2
    assert "has a vocabulary of 100" in refused.stderr.strip().splitlines()[-1]

