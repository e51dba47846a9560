"""Worker for tests/trainers/test_lora.py: trains a LoRA model with LoraModel, writes the losses as JSON.

    python lora_worker.py BASE OUT.json --zero-stage 2 --grad-accum 4      # 1 process (dp 1)
    torchrun --nproc_per_node=2 lora_worker.py BASE OUT.json --zero-stage 2 --grad-accum 2   # dp 2

Every step sees the same global batch (GLOBAL = MICRO * grad_accum * dp rows of a fixed token
stream); data-parallel rank d takes the rows of its micro-batches, so runs with equal
grad_accum * dp train on the same data and their losses must agree to float rounding.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fullchain.trainers.config import LoraSection, OptimSection, ParallelSection, TrainConfig, TrainSection  # noqa: E402

STEPS = 4
MICRO = 2
SEQ = 16
ROWS = 8  # global batch rows per step: MICRO * grad_accum * dp must equal it


def main():
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("out")
    p.add_argument("--zero-stage", type=int, default=2)
    p.add_argument("--grad-accum", type=int, default=2)
    a = p.parse_args()
    from fullchain.trainers.loop import process_group

    with process_group(gpu=False):
        _train(a)


def _train(a: argparse.Namespace) -> None:
    from fullchain.trainers.lora_model import LoraModel

    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    if MICRO * a.grad_accum * world != ROWS:
        raise SystemExit(f"MICRO {MICRO} * grad_accum {a.grad_accum} * world {world} != {ROWS}")

    # Dropout off: with it, the masks would depend on how the batch is split over ranks.
    cfg = TrainConfig(mode="lora", lora=LoraSection(base_model=a.base, dropout=0.0),
                      parallel=ParallelSection(zero_stage=a.zero_stage),
                      optim=OptimSection(lr=1e-2, warmup_steps=1, grad_clip=1.0),
                      train=TrainSection(steps=STEPS, micro_batch_size=MICRO, grad_accum_steps=a.grad_accum))
    model = LoraModel(cfg)
    data = torch.randint(0, 16, (STEPS, ROWS, SEQ + 1), generator=torch.Generator().manual_seed(7))

    def micro_batches():
        for step in range(STEPS):
            for m in range(a.grad_accum):
                start = (rank * a.grad_accum + m) * MICRO
                rows = data[step, start:start + MICRO]
                yield rows[:, :-1], rows[:, 1:]

    it = micro_batches()
    losses = [model.train_step(it) for _ in range(STEPS)]
    gathered = [None] * world
    torch.distributed.all_gather_object(gathered, losses)
    if rank == 0:
        Path(a.out).write_text(json.dumps({"losses": losses, "per_rank": gathered}))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    main()
