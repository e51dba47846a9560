"""What LoRA saves against a full fine-tune: trainable parameters, gradient and AdamW state memory, measured.

    .venv/bin/python bench/bench_lora_memory.py                    # ~250M-parameter Llama shape, r = 8 and 64
    .venv/bin/python bench/bench_lora_memory.py --layers 24 --json out.json

Builds a Llama-shaped LlamaForCausalLM from a config (random weights: memory depends on the shapes,
not on the values; nothing is downloaded) and runs `trainers.lora_memory.lora_memory_report` for each LoRA
rank with the architecture's default target modules (all attention and MLP projections). Each
report runs one real forward/backward on a 16-token sequence and one fp32 AdamW step, then sums the
bytes of the gradients and of the optimizer state tensors, for LoRA and for a full fine-tune.
Activations are not counted (they depend on batch and sequence length, and LoRA does not shrink
them); "weights+grads+optim" is the model-state memory a data-parallel rank holds without ZeRO.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from fullchain.trainers.config import LoraSection
from fullchain.trainers.lora_memory import format_memory_report, lora_memory_report


def main(argv: list[str] | None = None) -> list[dict]:
    """Run the bench; print one table per rank and a summary line; return the reports."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--intermediate", type=int, default=2816)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--ranks", type=int, nargs="+", default=[8, 64])
    p.add_argument("--json", default="", help="Also write the reports to this JSON file.")
    a = p.parse_args(argv)

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.intermediate,
                         num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads,
                         max_position_embeddings=2048, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    print(f"Llama shape (random weights): hidden {a.hidden}, MLP {a.intermediate}, {a.layers} layers, "
          f"{a.heads} heads / {a.kv_heads} kv heads, vocab {a.vocab}: "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, fp32, torch {torch.__version__}")
    reports = []
    for rank in a.ranks:
        start = time.perf_counter()
        report = lora_memory_report(model, LoraSection(rank=rank, alpha=2 * rank))
        report["seconds"] = time.perf_counter() - start
        reports.append(report)
        print()
        print(format_memory_report(report))
    print()
    for r in reports:
        red = r["reduction_percent"]
        print(f"r={r['rank']}: trainable {r['trainable_percent']:.3f}% of the parameters; optimizer state "
              f"-{red['optimizer_bytes']:.2f}%, gradients -{red['grad_bytes']:.2f}%, "
              f"weights+grads+optim -{red['total_bytes']:.2f}%")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(reports, fh, indent=2)
    return reports


if __name__ == "__main__":
    main()
