"""What the training loop needs from a model wrapped by DeepSpeed, whatever the wrapping.

`trainers.loop` drives any `DistributedModel`: the 3D-parallel decoder
(`trainers.pretrain_model.PretrainModel`) and the LoRA fine-tune of a Hugging Face model
(`trainers.lora_model.LoraModel`). The loop owns data positions, evaluation cadence, checkpoint
folders, metrics and progress; a DistributedModel owns the model, the optimizer, the LR scheduler
and their DeepSpeed state, in its DeepSpeed engine (`ds_engine`). `deepspeed_config` is the one
DeepSpeed config both build from the TrainConfig.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import torch
import torch.distributed as dist

from fullchain.trainers.config import TrainConfig
from fullchain.trainers.parallelize import ParallelDims

MicroBatches = Iterator[tuple[torch.Tensor, torch.Tensor]]  # (input_ids, labels), each [micro_batch, seq_len]


class DistributedModel(Protocol):
    """A DeepSpeed-wrapped model. All methods are collective: every rank calls them in the same order."""

    dp_rank: int          # this rank's data-parallel index; ranks with the same dp_rank read the same data
    dp_size: int
    reads_data: bool      # whether this rank consumes micro-batches (pipeline middle stages do not)
    saves_data_state: bool  # exactly one rank per dp_rank says True: it records the data position

    def train_step(self, micro_batches: MicroBatches) -> float:
        """One optimizer step over grad_accum micro-batches; the global mean loss, equal on all ranks."""

    def eval_step(self, micro_batches: MicroBatches) -> float:
        """Mean loss over grad_accum micro-batches without updating; equal on all ranks."""

    def lr(self) -> float:
        """The learning rate the last train_step used (before any step: the first step's)."""

    def save(self, folder: str) -> None:
        """Write model, optimizer and scheduler state under `folder` (DeepSpeed checkpoint)."""

    def load(self, folder: str) -> None:
        """Restore what `save` wrote."""


def deepspeed_config(cfg: TrainConfig, dims: ParallelDims, *, with_optimizer: bool, on_gpu: bool) -> dict:
    """The DeepSpeed JSON config of a training run: batch sizes, ZeRO stage, clipping, precision and,
    with `with_optimizer` (else the caller passes its own optimizer object), AdamW: torch's on the CPU,
    DeepSpeed's fused one on a GPU. The combinations DeepSpeed refuses are refused earlier, by
    `trainers.config` (ZeRO >= 2 with pp > 1) and `trainers.preflight` (fp16 on the CPU)."""
    t, o = cfg.train, cfg.optim
    config = {
        "train_batch_size": t.micro_batch_size * t.grad_accum_steps * dims.dp,
        "train_micro_batch_size_per_gpu": t.micro_batch_size,
        "gradient_accumulation_steps": t.grad_accum_steps,
        "gradient_clipping": o.grad_clip,
        "zero_optimization": {"stage": cfg.parallel.zero_stage},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if with_optimizer:
        config["optimizer"] = {"type": "AdamW", "params": {"lr": o.lr, "betas": [o.beta1, o.beta2], "eps": o.eps,
                                                           "weight_decay": o.weight_decay, "torch_adam": not on_gpu}}
    if t.precision == "bf16":
        config["bf16"] = {"enabled": True}
    elif t.precision == "fp16":
        config["fp16"] = {"enabled": True, "initial_scale_power": 16}
    return config


class MicroBatchSteps:
    """Train and eval steps for models that feed micro-batches to a plain DeepSpeedEngine themselves
    (DeepSpeed's PipelineEngine schedules its own). Subclasses set `ds_engine`, `grad_accum`,
    `dp_size` and `dp_group` (None = the whole world)."""

    ds_engine: Any
    grad_accum: int
    dp_size: int
    dp_group: Any = None
    _last_lr: float = 0.0

    def accumulated_train_step(self, micro_batches: MicroBatches,
                               loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
        """grad_accum forward/backward passes and one optimizer step; the data-parallel mean loss."""
        self._last_lr = float(self.ds_engine.get_lr()[0])
        total = torch.zeros((), dtype=torch.float32)
        for _ in range(self.grad_accum):
            input_ids, labels = next(micro_batches)
            loss = loss_of(input_ids, labels)
            self.ds_engine.backward(loss)
            # DeepSpeed steps the optimizer only at the accumulation boundary (the last micro-batch).
            self.ds_engine.step()
            total += loss.detach().float().cpu()
        return self.dp_mean(total / self.grad_accum)

    @torch.no_grad()
    def accumulated_eval_step(self, micro_batches: MicroBatches,
                              loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
        """Mean loss over grad_accum micro-batches in eval mode, no update; the data-parallel mean."""
        self.ds_engine.eval()
        total = torch.zeros((), dtype=torch.float32)
        try:
            for _ in range(self.grad_accum):
                input_ids, labels = next(micro_batches)
                total += loss_of(input_ids, labels).float().cpu()
        finally:
            self.ds_engine.train()
        return self.dp_mean(total / self.grad_accum)

    def dp_mean(self, value: torch.Tensor) -> float:
        """Mean of a scalar over the data-parallel group (the same on every rank)."""
        if self.dp_size > 1:
            # gloo reduces CPU tensors; NCCL needs them on the device.
            value = value.detach().float().reshape(()).to(self.ds_engine.device)
            dist.all_reduce(value, group=self.dp_group)
            value = value / self.dp_size
        return float(value)

    def lr(self) -> float:
        """The learning rate the last train_step used (before any step: the first step's)."""
        return self._last_lr
