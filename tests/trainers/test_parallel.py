"""Tests for trainers.parallelize: layout validation, sharding, and loss parity of DeepSpeed
data x pipeline x tensor parallel training with a single-process run.

The parity tests launch `parallel_worker.py` under torchrun on CPU (DS_ACCELERATOR=cpu, gloo).
The first DeepSpeed launch on a machine JIT-compiles a comm op (~90 s), hence the long timeout.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fullchain.trainers.model import Decoder, debug_config
from fullchain.trainers.parallelize import (ParallelDims, TPBlock, TPGroup, deepspeed_config, mark_model_parallel,
                                  shard_block_state)

WORKER = Path(__file__).with_name("parallel_worker.py")
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 600
# Measured differences are ~1e-7; dropping the model_parallel flags (wrong clipping norm) gives
# 7e-5 .. 2e-4 by steps 3-4, so 1e-4 would barely catch it.
RTOL = 1e-5
GRAD_ACCUM = 2


# ---------------------------------------------------------------------------------------
# Fast unit tests
# ---------------------------------------------------------------------------------------


def test_parallel_dims_accepts_valid_layout():
    dims = ParallelDims(dp=2, pp=2, tp=2).validate(8, debug_config())
    assert dims.world_size == 8


@pytest.mark.parametrize("dims, world, match", [
    (ParallelDims(dp=2, pp=2, tp=2), 4, "world size"),
    (ParallelDims(dp=1, pp=4, tp=1), 4, "num_layers"),   # debug_config has 2 layers
    (ParallelDims(dp=1, pp=1, tp=8), 8, "num_heads"),    # 4 heads
    (ParallelDims(dp=1, pp=1, tp=4), 4, "num_kv_heads"),  # 2 kv heads
])
def test_parallel_dims_rejects_bad_layouts(dims, world, match):
    with pytest.raises(ValueError, match=match) as info:
        dims.validate(world, debug_config())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_parallel_dims_rejects_non_positive(bad):
    with pytest.raises(ValueError, match="positive int"):
        ParallelDims(dp=bad)


def test_tp_shards_reassemble_to_full_block_output():
    """Sum of the row-parallel partial outputs of the shards == the full block's sublayer outputs."""
    cfg = debug_config()
    torch.manual_seed(0)
    full = Decoder(cfg).layers[0]
    x = torch.randn(2, 8, cfg.hidden_size)
    tp = 2
    tp_group = TPGroup(tp)  # never bound: only the sublayers are called, not the block's forward
    attn_sum = torch.zeros(2, 8, cfg.hidden_size)
    mlp_sum = torch.zeros(2, 8, cfg.hidden_size)
    for r in range(tp):
        shard = TPBlock(cfg, tp_group)
        shard.load_state_dict(shard_block_state(full.state_dict(), r, tp))
        attn_sum += shard.attn(x)
        mlp_sum += shard.mlp(x)
    torch.testing.assert_close(attn_sum, full.attn(x), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(mlp_sum, full.mlp(x), atol=1e-6, rtol=1e-5)


def test_mark_model_parallel_flags():
    params = [(n, torch.nn.Parameter(torch.zeros(1))) for n in
              ("1.attn.q_proj.weight", "1.mlp.down_proj.weight", "1.attn_norm.weight", "0.weight")]
    mark_model_parallel(params, tp_rank=1)
    assert [p.model_parallel for _, p in params] == [True, True, False, False]
    mark_model_parallel(params, tp_rank=0)
    assert all(p.model_parallel for _, p in params)


def test_deepspeed_config_batch_and_zero():
    ds = deepspeed_config(ParallelDims(dp=2, pp=2, tp=2), micro_batch=3, grad_accum=4)
    assert ds["train_batch_size"] == 24 and ds["zero_optimization"]["stage"] == 1
    with pytest.raises(ValueError, match="pipeline"):
        deepspeed_config(ParallelDims(pp=2), micro_batch=1, grad_accum=1, zero_stage=2)


# ---------------------------------------------------------------------------------------
# Loss parity with a single process (subprocess launches)
# ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, out: Path, nproc: int | None) -> list[float]:
    env = dict(os.environ, DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    if nproc is None:
        cmd = [sys.executable, str(WORKER), *args, str(out)]
    else:
        port = _free_port()
        env["MASTER_PORT"] = str(port)
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               f"--master_port={port}", str(WORKER), *args, str(out)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("dp, pp, tp", [(2, 2, 2), (1, 1, 2), (1, 2, 1)], ids=["dp2xpp2xtp2", "tp2", "pp2"])
def test_parallel_losses_match_single_process(tmp_path, dp, pp, tp):
    ref = _run(["--single", "--dp", str(dp), "--grad-accum", str(GRAD_ACCUM)], tmp_path / "single.json", None)
    got = _run(["--dp", str(dp), "--pp", str(pp), "--tp", str(tp), "--grad-accum", str(GRAD_ACCUM)],
               tmp_path / "parallel.json", dp * pp * tp)
    assert len(ref) == len(got) == 4
    rel = [abs(a - b) / abs(a) for a, b in zip(ref, got)]
    print(f"dp{dp} pp{pp} tp{tp}: single {ref} parallel {got} max rel diff {max(rel):.2e}")
    assert max(rel) < RTOL, (ref, got, rel)
    assert ref[-1] < ref[0]  # training actually moved the model
