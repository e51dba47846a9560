"""Data x pipeline x tensor parallelism for the plain `trainers.model.Decoder`, applied from outside.

torchtitan style: model.py stays free of distributed code; the functions here take the plain
model's pieces (embed, layers[Block], norm, lm_head) and turn them into a DeepSpeed
`PipelineModule` whose decoder blocks are Megatron-style tensor-parallel:

- q/k/v and gate/up are column-parallel (each TP rank holds a contiguous slice of heads /
  intermediate features), o and down are row-parallel and their partial outputs are summed
  with an all_reduce over the TP group;
- embedding, norms and lm_head are replicated on every TP rank.

Typical use (under torchrun, DS_ACCELERATOR=cpu for CPU runs):

    dims = ParallelDims(dp=2, pp=2, tp=2); dims.validate(world_size, cfg)
    topo = make_topology(dims)
    module, tp = build_pipeline_module(cfg, topo)   # tp.group = this rank's TP process group
    tp_rank = topo.get_coord(rank).model
    load_full_weights(module, full_decoder.state_dict(), cfg, tp_rank, dims.tp)
    mark_model_parallel(module.named_parameters(), tp_rank)  # before deepspeed.initialize (clipping)
    engine, *_ = deepspeed.initialize(model=module, model_parameters=module.parameters(),
                                      config=deepspeed_config(dims, micro_batch=..., grad_accum=...))
    loss = engine.train_batch(data_iter)   # data_iter yields (input_ids, labels) micro-batches

A working example (and the parity test against a single process) is tests/trainers/parallel_worker.py.

Limits: tied embeddings are not supported with pp/tp here (they would need a TiedLayerSpec).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.distributed as dist
from torch import nn

from .model import Block, ModelConfig, RMSNorm, loss as lm_loss

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

    def validate(self, world_size: int, cfg: ModelConfig | None = None) -> "ParallelDims":
        """Raise ValueError (one line) unless the layout fits the world size and the model shapes."""
        if self.world_size != world_size:
            raise ValueError(f"dp*pp*tp = {self.dp}*{self.pp}*{self.tp} = {self.world_size} "
                             f"!= world size {world_size}")
        if cfg is not None:
            if cfg.num_layers % self.pp:
                raise ValueError(f"num_layers ({cfg.num_layers}) must be divisible by pp ({self.pp})")
            if cfg.num_heads % self.tp:
                raise ValueError(f"num_heads ({cfg.num_heads}) must be divisible by tp ({self.tp})")
            if cfg.num_kv_heads % self.tp:
                raise ValueError(f"num_kv_heads ({cfg.num_kv_heads}) must be divisible by tp ({self.tp})")
            if cfg.intermediate_size % self.tp:
                raise ValueError(f"intermediate_size ({cfg.intermediate_size}) must be divisible by tp ({self.tp})")
            if cfg.tie_embeddings and (self.pp > 1 or self.tp > 1):
                raise ValueError("tie_embeddings is not supported with pp > 1 or tp > 1")
        return self


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
            raise RuntimeError("TPBlock used before its TP group was bound (see build_pipeline_module)")
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


def build_pipeline_module(cfg: ModelConfig, topo, loss_fn: Callable = lm_loss):
    """PipelineModule for `cfg` over `topo`; returns (module, tp) with tp.group bound.

    Must run after torch.distributed is initialised, on every rank.
    """
    from deepspeed.pipe import PipelineModule

    tp = TPGroup(topo.get_dim("model"))
    module = PipelineModule(layers=pipeline_layer_specs(cfg, tp), loss_fn=loss_fn, topology=topo,
                            partition_method=f"type:{TPBlock.__name__}", activation_checkpoint_interval=0)
    # Not mpu().get_model_parallel_group(): in this grid that spans pipe x model.
    tp.group = module.mpu().get_slice_parallel_group()
    return module, tp


# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------

_COLUMN = ("attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight",
           "mlp.gate_proj.weight", "mlp.up_proj.weight")
_ROW = ("attn.o_proj.weight", "mlp.down_proj.weight")


def shard_block_state(block_state: dict[str, torch.Tensor], tp_rank: int, tp_size: int) -> dict[str, torch.Tensor]:
    """One plain Block's state dict -> this TP rank's TPBlock state dict.

    Contiguous chunks: rank r gets query heads [r*H/tp, (r+1)*H/tp) and kv heads
    [r*K/tp, (r+1)*K/tp), which are exactly the kv heads those query heads use (GQA order).
    """
    out = {}
    for name, t in block_state.items():
        if name in _COLUMN:
            t = t.chunk(tp_size, dim=0)[tp_rank]
        elif name in _ROW:
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


# ---------------------------------------------------------------------------------------
# DeepSpeed config
# ---------------------------------------------------------------------------------------


def deepspeed_config(dims: ParallelDims, *, micro_batch: int, grad_accum: int, lr: float = 1e-3,
                     betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8, weight_decay: float = 0.1,
                     gradient_clipping: float = 1.0, zero_stage: int = 1, precision: str = "fp32",
                     optimizer: bool = True, torch_adam: bool = True) -> dict:
    """DeepSpeed JSON config: batch sizes, ZeRO stage (2/3 do not work with pp > 1), clipping,
    precision, and (unless `optimizer` is False, when the caller passes its own) AdamW; torch's
    AdamW when `torch_adam`, DeepSpeed's fused one otherwise (GPU)."""
    if zero_stage > 1 and dims.pp > 1:
        raise ValueError("ZeRO-2/3 are incompatible with pipeline parallelism (pp > 1); use zero_stage <= 1")
    config = {
        "train_batch_size": micro_batch * grad_accum * dims.dp,
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": gradient_clipping,
        "zero_optimization": {"stage": zero_stage},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if optimizer:
        config["optimizer"] = {"type": "AdamW", "params": {"lr": lr, "betas": list(betas), "eps": eps,
                                                           "weight_decay": weight_decay, "torch_adam": torch_adam}}
    if precision == "bf16":
        config["bf16"] = {"enabled": True}
    elif precision == "fp16":
        config["fp16"] = {"enabled": True, "initial_scale_power": 16}
    return config


__all__ = ["ParallelDims", "make_topology", "TPGroup", "TPBlock", "Embed", "FinalNorm", "LMHead",
           "pipeline_layer_specs", "build_pipeline_module", "shard_block_state", "load_full_weights",
           "mark_model_parallel", "deepspeed_config"]
