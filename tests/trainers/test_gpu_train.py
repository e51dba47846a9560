"""On a CUDA machine (`make test-gpu`; `make test` deselects these): `fullchain train` with NCCL and
bf16, data x tensor parallel as far as the devices allow (NCCL takes one device per rank: tp=2 on 2
or more, dp=2 on 4 or more, a world of one on a single device), gives the losses of the same run on
the CPU in fp32 (one process, same global batch), within bf16's rounding."""

import pytest
import torch

from fullchain.trainers.metrics import read_metrics

from .launch import run_train
from .train_fixtures import write_text_shards

pytestmark = pytest.mark.gpu

FLAGS = ["--train.steps", "6", "--data.seq-len", "32", "--train.micro-batch-size", "2", "--eval.every", "0",
         "--checkpoint.every", "0", "--log.every", "1", "--optim.warmup-steps", "2", "--optim.lr", "3e-3",
         "--log.progress", "false"]
# bf16 keeps 8 bits of mantissa: losses of ~5 nats agree to a few hundredths over 6 steps
BF16_RTOL = 3e-2


def _losses(output):
    return {r["step"]: r["train/step_loss"] for r in read_metrics(str(output / "metrics.jsonl"))
            if "train/step_loss" in r}


def test_nccl_bf16_dp_x_tp_matches_the_cpu_run(tmp_path):
    gpus = torch.cuda.device_count()
    assert gpus >= 1, "no CUDA device"
    tp = 2 if gpus >= 2 else 1
    dp = 2 if gpus >= 4 else 1
    shards = tmp_path / "shards"
    write_text_shards(str(shards))
    common = ["--data.manifest", str(shards), *FLAGS]
    # one CPU process reads, per step, the micro-batches of dp ranks with 2 micro-batches each
    run_train(*common, "--output", str(tmp_path / "cpu"), "--train.grad-accum-steps", str(2 * dp),
              "--data.num-workers", str(dp))
    result = run_train(*common, "--output", str(tmp_path / "gpu"), "--train.grad-accum-steps", "2",
                       "--parallel.tp", str(tp), "--train.precision", "bf16", nproc=tp * dp, gpu=True)
    assert f"dp={dp} pp=1 tp={tp}" in result.stderr and "bf16" in result.stderr
    cpu, gpu = _losses(tmp_path / "cpu"), _losses(tmp_path / "gpu")
    assert sorted(gpu) == sorted(cpu) == list(range(1, 7))
    for step, value in cpu.items():
        assert gpu[step] == pytest.approx(value, rel=BF16_RTOL), step
    assert gpu[6] < gpu[1] - 0.3  # it learns on the GPU too
