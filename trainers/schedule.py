"""Learning-rate schedule: linear warm-up, then cosine decay to min_lr at the last step."""

from __future__ import annotations

import math


def lr_at(step: int, *, lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based).

    Warm-up rises linearly to `lr` over `warmup_steps` (step 0 already gets lr / warmup_steps, so
    no step is wasted at 0), then a half cosine falls to `min_lr` at `total_steps - 1` and stays.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - 1 - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def lr_lambda(*, lr: float, min_lr: float, warmup_steps: int, total_steps: int):
    """The schedule as a multiplier of `lr`, for torch.optim.lr_scheduler.LambdaLR."""
    return lambda step: lr_at(step, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps, total_steps=total_steps) / lr
