"""What LoRA saves, in bytes: trainable parameters, gradient bytes and AdamW state bytes, for LoRA and
for a full fine-tune of the same model. `lora_memory_report` measures them after one real optimizer
step (bench/bench_lora_memory.py); `estimate_memory_report` computes them for a live model (printed
at the start of a LoRA run); `format_memory_report` prints either."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from fullchain.trainers.config import LoraSection
from fullchain.trainers.lora_adapters import target_modules, wrap_lora


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def _measure_step(model: nn.Module, params: list[nn.Parameter], input_ids: torch.Tensor) -> dict[str, int]:
    """Gradient and AdamW state bytes after one real backward and optimizer step over `params`.

    lr = 0 and weight_decay = 0 so the step leaves the weights as they were.
    """
    optimizer = torch.optim.AdamW(params, lr=0.0, weight_decay=0.0)
    loss = model(input_ids=input_ids, labels=input_ids, use_cache=False).loss
    loss.backward()
    grad_bytes = _tensor_bytes(p.grad for p in model.parameters() if p.grad is not None)
    optimizer.step()
    state_bytes = sum(_tensor_bytes(state.values()) for state in optimizer.state.values())
    optimizer.zero_grad(set_to_none=True)
    return {"grad_bytes": grad_bytes, "optimizer_bytes": state_bytes}


def lora_memory_report(model: nn.Module | str, lora: LoraSection, seq_len: int = 16) -> dict[str, Any]:
    """Trainable parameters and measured gradient + AdamW state bytes: LoRA vs full fine-tune.

    `model` is a causal LM module (left unchanged: the LoRA side wraps a deep copy) or a local
    folder. Both sides run one forward/backward on one random sequence of `seq_len` tokens and one
    AdamW step (lr 0), then sum the bytes of the gradients and of the optimizer state tensors
    (exp_avg, exp_avg_sq, step). Weight bytes are those of all parameters (the frozen base is
    still held in memory). Activations are not counted; they depend on batch and sequence length.
    """
    if isinstance(model, str):
        from fullchain.trainers.hf_interop import load_base_model

        model = load_base_model(model)
    vocab = int(model.config.get_text_config().vocab_size)
    input_ids = torch.randint(0, vocab, (1, seq_len), generator=torch.Generator().manual_seed(0))
    params = list(model.parameters())
    was_training, requires = model.training, [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    model.train()
    full = _measure_step(model, params, input_ids)
    for p, r in zip(params, requires):
        p.requires_grad_(r)
    model.train(was_training)

    peft_model = wrap_lora(copy.deepcopy(model), lora, seed=0)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    peft_model.train()
    adapted = _measure_step(peft_model, trainable, input_ids)

    full["weight_bytes"], adapted["weight_bytes"] = _tensor_bytes(params), _tensor_bytes(peft_model.parameters())
    full["trainable_params"] = sum(p.numel() for p in params)
    adapted["trainable_params"] = sum(p.numel() for p in trainable)
    adapted["trainable_tensors"] = len(trainable)
    return _report(model.config.model_type, lora, full, adapted, "measured after one AdamW step")


def _report(model_type: str, lora: LoraSection, full: dict[str, int], adapted: dict[str, int],
            method: str) -> dict[str, Any]:
    for side in (full, adapted):
        side["total_bytes"] = side["weight_bytes"] + side["grad_bytes"] + side["optimizer_bytes"]

    def reduction(key: str) -> float:
        return 100.0 * (1.0 - adapted[key] / full[key])

    return {
        "model_type": model_type,
        "rank": lora.rank,
        "target_modules": target_modules(lora, model_type),
        "method": method,
        "params": full["trainable_params"],
        "full": full,
        "lora": adapted,
        "trainable_percent": 100.0 * adapted["trainable_params"] / full["trainable_params"],
        "reduction_percent": {key: reduction(key) for key in ("optimizer_bytes", "grad_bytes", "total_bytes")},
    }


def estimate_memory_report(peft_model: nn.Module, lora: LoraSection) -> dict[str, Any]:
    """`lora_memory_report`'s numbers for a live peft model, computed instead of measured.

    For the start of a real run: no copy of the model, no step. fp32 AdamW keeps exp_avg and
    exp_avg_sq (8 bytes per parameter) and a 4-byte step per tensor, which is exactly what
    `lora_memory_report` measures (tests/trainers/test_lora.py checks it); gradients and weights
    take the parameters' dtype. Whole-model numbers: ZeRO divides gradients and optimizer state
    over the data-parallel ranks (stage 2 and 1), and stage 3 the weights too. Reads ZeRO-3
    partitioned parameters' full sizes (ds_numel).
    """
    def numel(p: torch.Tensor) -> int:
        return int(getattr(p, "ds_numel", p.numel()))

    params = list(peft_model.parameters())
    base = [p for p in params if not p.requires_grad]
    trainable = [p for p in params if p.requires_grad]

    def side(tensors: list[torch.Tensor], weights: list[torch.Tensor]) -> dict[str, int]:
        return {"trainable_params": sum(numel(p) for p in tensors),
                "grad_bytes": sum(numel(p) * p.element_size() for p in tensors),
                "optimizer_bytes": sum(8 * numel(p) + 4 for p in tensors),
                "weight_bytes": sum(numel(p) * p.element_size() for p in weights)}

    full = side(base, base)
    adapted = side(trainable, params)
    adapted["trainable_tensors"] = len(trainable)
    model_type = peft_model.get_base_model().config.model_type
    return _report(model_type, lora, full, adapted, "estimated for fp32 AdamW")


def format_memory_report(report: dict[str, Any]) -> str:
    """A report of `lora_memory_report` or `estimate_memory_report` as a short fixed-width table."""
    def mib(n: int) -> str:
        return f"{n / 2**20:,.1f} MiB"

    full, lora, red = report["full"], report["lora"], report["reduction_percent"]
    rows = [
        ("", "full fine-tune", f"LoRA r={report['rank']}", "reduction"),
        ("trainable params", f"{full['trainable_params']:,}", f"{lora['trainable_params']:,}",
         f"{100 - report['trainable_percent']:.2f}%"),
        ("optimizer state", mib(full["optimizer_bytes"]), mib(lora["optimizer_bytes"]),
         f"{red['optimizer_bytes']:.2f}%"),
        ("gradients", mib(full["grad_bytes"]), mib(lora["grad_bytes"]), f"{red['grad_bytes']:.2f}%"),
        ("weights", mib(full["weight_bytes"]), mib(lora["weight_bytes"]),
         f"{100 * (1 - lora['weight_bytes'] / full['weight_bytes']):.2f}%"),
        ("weights+grads+optim", mib(full["total_bytes"]), mib(lora["total_bytes"]), f"{red['total_bytes']:.2f}%"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"LoRA memory ({report['model_type']}, {report['params']:,} params, targets "
             f"{','.join(report['target_modules'])}; {report['method']}, activations not counted)"]
    lines += ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
              for r in rows]
    return "\n".join(lines)
