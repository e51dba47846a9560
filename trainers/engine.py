"""What the training loop needs from a model wrapped by DeepSpeed, whatever the wrapping.

`trainers.loop` drives any `StepEngine`: the 3D-parallel decoder (`trainers.pretrain_engine`) and
the LoRA fine-tune of a Hugging Face model (`trainers.lora`). The loop owns data positions,
evaluation cadence, checkpoint folders, metrics and progress; an engine owns the model, the
optimizer, the LR scheduler and their DeepSpeed state.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import torch
import torch.distributed as dist

from fullchain.trainers.config import TrainConfig
from fullchain.trainers.parallelize import ParallelDims, deepspeed_config

MicroBatches = Iterator[tuple[torch.Tensor, torch.Tensor]]  # (input_ids, labels), each [micro_batch, seq_len]


class StepEngine(Protocol):
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

    def write_hf(self, folder: str, tokenizer_dir: str) -> None:
        """Write a consolidated Hugging Face folder (rank 0 writes; others help gather)."""


def run_deepspeed_config(cfg: TrainConfig, dims: ParallelDims, *, with_optimizer: bool, on_gpu: bool) -> dict:
    """The DeepSpeed config of a training run, from its TrainConfig (both engines use it)."""
    t, o = cfg.train, cfg.optim
    return deepspeed_config(dims, micro_batch=t.micro_batch_size, grad_accum=t.grad_accum_steps, lr=o.lr,
                            betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay,
                            gradient_clipping=o.grad_clip, zero_stage=cfg.parallel.zero_stage,
                            precision=t.precision, optimizer=with_optimizer, torch_adam=not on_gpu)


class MicroBatchSteps:
    """Train and eval steps for engines that feed micro-batches to a plain DeepSpeedEngine themselves
    (the pipeline engine schedules its own). Subclasses set `engine`, `grad_accum`, `dp_size` and
    `dp_group` (None = the whole world)."""

    engine: Any
    grad_accum: int
    dp_size: int
    dp_group: Any = None
    _last_lr: float = 0.0

    def accumulated_train_step(self, micro_batches: MicroBatches,
                               loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
        """grad_accum forward/backward passes and one optimizer step; the data-parallel mean loss."""
        self._last_lr = float(self.engine.get_lr()[0])
        total = torch.zeros((), dtype=torch.float32)
        for _ in range(self.grad_accum):
            input_ids, labels = next(micro_batches)
            loss = loss_of(input_ids, labels)
            self.engine.backward(loss)
            # DeepSpeed steps the optimizer only at the accumulation boundary (the last micro-batch).
            self.engine.step()
            total += loss.detach().float().cpu()
        return self.dp_mean(total / self.grad_accum)

    @torch.no_grad()
    def accumulated_eval_step(self, micro_batches: MicroBatches,
                              loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> float:
        """Mean loss over grad_accum micro-batches in eval mode, no update; the data-parallel mean."""
        self.engine.eval()
        total = torch.zeros((), dtype=torch.float32)
        try:
            for _ in range(self.grad_accum):
                input_ids, labels = next(micro_batches)
                total += loss_of(input_ids, labels).float().cpu()
        finally:
            self.engine.train()
        return self.dp_mean(total / self.grad_accum)

    def dp_mean(self, value: torch.Tensor) -> float:
        """Mean of a scalar over the data-parallel group (the same on every rank)."""
        if self.dp_size > 1:
            # gloo reduces CPU tensors; NCCL needs them on the device.
            value = value.detach().float().reshape(()).to(self.engine.device)
            dist.all_reduce(value, group=self.dp_group)
            value = value / self.dp_size
        return float(value)

    def lr(self) -> float:
        """The learning rate the last train_step used (before any step: the first step's)."""
        return self._last_lr

    def grad_norm(self) -> float | None:
        """Global gradient norm before clipping at the last step (None when DeepSpeed did not record it)."""
        norm = self.engine.get_global_grad_norm()
        return None if norm is None else float(norm)
