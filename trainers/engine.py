"""What the training loop needs from a model wrapped by DeepSpeed, whatever the wrapping.

`trainers.loop` drives any `StepEngine`: the 3D-parallel decoder (`trainers.pretrain_engine`) and
the LoRA fine-tune of a Hugging Face model (`trainers.lora`). The loop owns data positions,
evaluation cadence, checkpoint folders, metrics and progress; an engine owns the model, the
optimizer, the LR scheduler and their DeepSpeed state.
"""

from __future__ import annotations

from typing import Iterator, Protocol

import torch

from trainers.config import TrainConfig
from trainers.parallelize import ParallelDims, deepspeed_config

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
        """The learning rate the last step used."""

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
