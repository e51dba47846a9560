"""Training metrics: JSON lines (always readable with no extra tool) and TensorBoard.

Rank 0 writes. On resume from step k, records of steps after k (written by the run that was
killed) are dropped, so the files describe one consistent run.
"""

from __future__ import annotations

import json
import os
from typing import Any


class MetricsWriter:
    """Append metrics records to OUTPUT/metrics.jsonl and OUTPUT/tensorboard/."""

    def __init__(self, output: str, sinks: list[str], start_step: int):
        self.jsonl_path = os.path.join(output, "metrics.jsonl") if "jsonl" in sinks else None
        self.tensorboard = None
        if self.jsonl_path:
            _truncate_after(self.jsonl_path, start_step)
        if "tensorboard" in sinks:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(os.path.join(output, "tensorboard"), purge_step=start_step + 1)

    def write(self, step: int, values: dict[str, Any]) -> None:
        """One record for optimizer step `step` (1-based); `values` maps names like train/loss to numbers."""
        if self.jsonl_path:
            with open(self.jsonl_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"step": step, **values}) + "\n")
        if self.tensorboard is not None:
            for name, value in values.items():
                if isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(name, value, step)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_metrics(path: str) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _truncate_after(path: str, step: int) -> None:
    if not os.path.exists(path):
        return
    kept = [r for r in read_metrics(path) if r["step"] <= step]
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in kept)
