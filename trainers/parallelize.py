"""Data x pipeline x tensor parallelism for the plain `trainers.model.Decoder`, applied from outside.

torchtitan style: model.py stays free of distributed code; the functions here take the plain
model's pieces (embed, layers[Block], norm, lm_head) and turn them into a DeepSpeed
`PipelineModule` whose decoder blocks are Megatron-style tensor-parallel:

- q/k/v and gate/up are column-parallel (each TP rank holds a contiguous slice of heads /
  intermediate features), o and down are row-parallel and their partial outputs are summed
  with an all_reduce over the TP group;
- embedding, norms and lm_head are replicated on every TP rank.

`trainers.pretrain_model.PretrainModel` builds the layers from `pipeline_layer_specs`, loads a
full Decoder's weights with `load_full_weights`, marks the sharded parameters
(`mark_model_parallel`, before deepspeed.initialize, so gradient clipping counts each weight once)
and hands them to DeepSpeed. The layout checks (world size, shapes) are in `trainers.preflight`.

Limits: tied embeddings are not supported with pp/tp here (they would need a TiedLayerSpec).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist
from torch import nn

from fullchain.trainers.model import Block, ModelConfig, RMSNorm

# ---------------------------------------------------------------------------------------
# Dimensions
# ---------------------------------------------------------------------------------------


@dataclass
class ParallelDims:
    """Degrees of data (dp), pipeline (pp) and tensor (tp) parallelism; world size = dp * pp * tp."""

    dp: int = 1
    pp: int = 1
    tp: int = 1

    def __post_init__(self):
        for name in ("dp", "pp", "tp"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ParallelDims.{name} must be a positive int, got {value!r}")

    @property
    def world_size(self) -> int:
        return self.dp * self.pp * self.tp


def make_topology(dims: ParallelDims):
    """DeepSpeed topology; axes pipe, data, model (model varies fastest)."""
    from deepspeed.runtime.pipe.topology import PipeModelDataParallelTopology

    return PipeModelDataParallelTopology(num_pp=dims.pp, num_mp=dims.tp, num_dp=dims.dp)


# ---------------------------------------------------------------------------------------
# Tensor-parallel autograd helpers (Megatron's f and g)
# ---------------------------------------------------------------------------------------


class _CopyToTP(torch.autograd.Function):
    """Identity forward, all_reduce of the gradient backward (entry of a column-parallel region)."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


class _ReduceFromTP(torch.autograd.Function):
    """all_reduce forward, identity backward (exit of a row-parallel region)."""

    @staticmethod
    def forward(ctx, x, group):
        x = x.contiguous().clone()
        dist.all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class TPGroup:
    """Late-bound TP process group: the group exists only once the PipelineModule built its grid."""

    def __init__(self, size: int):
        self.size = size
        self.group = None


# ---------------------------------------------------------------------------------------
# Pipeline layers
# ---------------------------------------------------------------------------------------


def _shard_cfg(cfg: ModelConfig, tp_size: int) -> dict:
    D = cfg.head_dim
    return dict(q=cfg.num_heads // tp_size * D, kv=cfg.num_kv_heads // tp_size * D,
                inter=cfg.intermediate_size // tp_size)


class TPBlock(Block):
    """A `Block` holding this TP rank's shards of q/k/v/o and gate/up/down.

    Attention reads head counts from weight shapes, so the plain Attention / MLP forward runs
    unchanged on the shards; only the entry (copy) and exit (sum) of each region are added.
    """

    def __init__(self, cfg: ModelConfig, tp: TPGroup):
        super().__init__(cfg)
        self.tp = tp
        if tp.size > 1:
            s = _shard_cfg(cfg, tp.size)
            C = cfg.hidden_size
            a, m = self.attn, self.mlp
            a.q_proj = nn.Linear(C, s["q"], bias=False)
            a.k_proj = nn.Linear(C, s["kv"], bias=False)
            a.v_proj = nn.Linear(C, s["kv"], bias=False)
            a.o_proj = nn.Linear(s["q"], C, bias=False)
            m.gate_proj = nn.Linear(C, s["inter"], bias=False)
            m.up_proj = nn.Linear(C, s["inter"], bias=False)
            m.down_proj = nn.Linear(s["inter"], C, bias=False)

    def _region(self, fn, x):
        if self.tp.size == 1:
            return fn(x)
        group = self.tp.group
        if group is None:
            raise RuntimeError("TPBlock used before its TP group was bound (trainers.pretrain_model binds it)")
        return _ReduceFromTP.apply(fn(_CopyToTP.apply(x, group)), group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._region(self.attn, self.attn_norm(x))
        x = x + self._region(self.mlp, self.mlp_norm(x))
        return x


class Embed(nn.Embedding):
    """Token embedding as the first pipeline layer (input_ids [B, T] -> [B, T, C])."""


class FinalNorm(RMSNorm):
    """Final RMSNorm as a pipeline layer."""


class LMHead(nn.Linear):
    """Output projection as the last pipeline layer ([B, T, C] -> logits [B, T, V])."""

    def __init__(self, hidden_size: int, vocab_size: int):
        super().__init__(hidden_size, vocab_size, bias=False)


def pipeline_layer_specs(cfg: ModelConfig, tp: TPGroup) -> list:
    """LayerSpecs in model order: Embed, TPBlock x num_layers, FinalNorm, LMHead (global indices 0..L+2)."""
    from deepspeed.pipe import LayerSpec

    return ([LayerSpec(Embed, cfg.vocab_size, cfg.hidden_size)]
            + [LayerSpec(TPBlock, cfg, tp) for _ in range(cfg.num_layers)]
            + [LayerSpec(FinalNorm, cfg.hidden_size, cfg.rms_norm_eps),
               LayerSpec(LMHead, cfg.hidden_size, cfg.vocab_size)])


# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------

# Block weights split across TP ranks: column-parallel ones along dim 0, row-parallel along dim 1.
COLUMN_PARALLEL = ("attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight",
                   "mlp.gate_proj.weight", "mlp.up_proj.weight")
ROW_PARALLEL = ("attn.o_proj.weight", "mlp.down_proj.weight")


def shard_block_state(block_state: dict[str, torch.Tensor], tp_rank: int, tp_size: int) -> dict[str, torch.Tensor]:
    """One plain Block's state dict -> this TP rank's TPBlock state dict.

    Contiguous chunks: rank r gets query heads [r*H/tp, (r+1)*H/tp) and kv heads
    [r*K/tp, (r+1)*K/tp), which are exactly the kv heads those query heads use (GQA order).
    """
    out = {}
    for name, t in block_state.items():
        if name in COLUMN_PARALLEL:
            t = t.chunk(tp_size, dim=0)[tp_rank]
        elif name in ROW_PARALLEL:
            t = t.chunk(tp_size, dim=1)[tp_rank]
        out[name] = t.detach().clone().contiguous()
    return out


def load_full_weights(module: nn.Module, full_state: dict[str, torch.Tensor], cfg: ModelConfig,
                      tp_rank: int, tp_size: int) -> None:
    """Copy a plain Decoder's state dict into the layers this rank holds (named by global index)."""
    L = cfg.num_layers
    for name, layer in module.named_children():
        if not name.isdigit():
            continue
        idx = int(name)
        if idx == 0:
            state = {"weight": full_state["embed.weight"]}
        elif idx <= L:
            prefix = f"layers.{idx - 1}."
            state = shard_block_state({k[len(prefix):]: v for k, v in full_state.items() if k.startswith(prefix)},
                                      tp_rank, tp_size)
        elif idx == L + 1:
            state = {"weight": full_state["norm.weight"]}
        else:
            state = {"weight": full_state["lm_head.weight"]}
        layer.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=True)


_SHARDED_PARAM = re.compile(r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$")


def mark_model_parallel(named_params: Iterable[tuple[str, nn.Parameter]], tp_rank: int) -> None:
    """Set `p.model_parallel` so DeepSpeed's gradient-norm (clipping) counts each weight once.

    TP-sharded weights: True on every rank. Replicated ones (embed, norms, lm_head): True only
    on tp_rank 0. Call before deepspeed.initialize.
    """
    for name, p in named_params:
        p.model_parallel = bool(_SHARDED_PARAM.search(name)) or tp_rank == 0


__all__ = ["ParallelDims", "make_topology", "TPGroup", "TPBlock", "Embed", "FinalNorm", "LMHead",
           "pipeline_layer_specs", "COLUMN_PARALLEL", "ROW_PARALLEL", "shard_block_state", "load_full_weights",
           "mark_model_parallel"]
