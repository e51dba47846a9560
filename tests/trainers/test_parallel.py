"""Tests for trainers.parallelize and the layout checks of trainers.preflight: layout validation,
tensor-parallel sharding, the model_parallel flags and the DeepSpeed config. The loss parity of a
dp x pp x tp run of `fullchain train` with one process is in test_train.py."""

import pytest
import torch

from fullchain.trainers.config import ParallelSection, TrainConfig, TrainSection
from fullchain.trainers.distributed_model import deepspeed_config
from fullchain.trainers.model import Decoder, debug_config
from fullchain.trainers.parallelize import ParallelDims, TPBlock, TPGroup, mark_model_parallel, shard_block_state
from fullchain.trainers.preflight import TrainConfigError, check_layout


# ---------------------------------------------------------------------------------------
# Fast unit tests
# ---------------------------------------------------------------------------------------


def test_check_layout_accepts_a_valid_layout():
    dims = ParallelDims(dp=2, pp=2, tp=2)
    check_layout(dims, 8, debug_config())
    assert dims.world_size == 8


@pytest.mark.parametrize("dims, world, match", [
    (ParallelDims(dp=2, pp=2, tp=2), 4, "world size"),
    (ParallelDims(dp=1, pp=4, tp=1), 4, "num_layers"),   # debug_config has 2 layers
    (ParallelDims(dp=1, pp=1, tp=8), 8, "num_heads"),    # 4 heads
    (ParallelDims(dp=1, pp=1, tp=4), 4, "num_kv_heads"),  # 2 kv heads
])
def test_check_layout_rejects_bad_layouts(dims, world, match):
    with pytest.raises(TrainConfigError, match=match) as info:
        check_layout(dims, world, debug_config())
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


def test_deepspeed_config_batch_zero_and_optimizer():
    cfg = TrainConfig(parallel=ParallelSection(zero_stage=2),
                      train=TrainSection(micro_batch_size=3, grad_accum_steps=4, precision="bf16"))
    ds = deepspeed_config(cfg, ParallelDims(dp=2, pp=1, tp=2), with_optimizer=True, on_gpu=False)
    assert ds["train_batch_size"] == 24 and ds["zero_optimization"]["stage"] == 2
    assert ds["bf16"] == {"enabled": True} and ds["optimizer"]["params"]["torch_adam"] is True
    assert "optimizer" not in deepspeed_config(cfg, ParallelDims(dp=2), with_optimizer=False, on_gpu=True)


def test_zero2_with_a_pipeline_is_refused_by_the_config():
    with pytest.raises(ValueError, match="incompatible with pipeline parallelism") as info:
        ParallelSection(pp=2, zero_stage=2)
    assert "\n" not in str(info.value)
