"""Trainer overhead and model FLOPs utilisation.

Trains the same decoder on the same token batches for the same number of steps with a plain
PyTorch loop (model, AdamW, clip, step) and with the DeepSpeed engine that `fullchain train` uses
(`trainers.pretrain_model.PretrainModel`, one process), each side in its own processes,
alternating. Prints tokens/s for both, their ratio, and, on a GPU, MFU = flops_per_token *
tokens/s / peak.

    python bench/bench_trainer.py                                   # CPU, small model (2 cores)
    python bench/bench_trainer.py --device cuda --preset llama-1b --precision bf16 --seq 2048 --micro 4

The first steps (JIT, allocator warm-up) are not timed. Random tokens: speed does not depend on them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fullchain.pipelines.config import load_config  # noqa: E402
from fullchain.trainers.config import MODEL_PRESETS, TrainConfig  # noqa: E402
from fullchain.trainers.model import Decoder, ModelConfig, shifted_loss  # noqa: E402
from fullchain.trainers.parallelize import ParallelDims  # noqa: E402

# Dense bf16 tensor-core peaks (vendor datasheets, SXM parts), for MFU.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def model_config(args) -> ModelConfig:
    base = MODEL_PRESETS[args.preset]().to_dict()
    if args.preset == "debug":
        base.update(hidden_size=args.hidden, intermediate_size=args.hidden * 8 // 3 // 64 * 64 or 128,
                    num_layers=args.layers, num_heads=args.heads, num_kv_heads=args.kv_heads)
    base.update(vocab_size=args.vocab if args.preset == "debug" else base["vocab_size"],
                max_seq_len=max(base["max_seq_len"], args.seq), tie_embeddings=False)
    return ModelConfig(**base)


def batches(cfg: ModelConfig, args, steps: int):
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, cfg.vocab_size, (steps, args.micro, args.seq + 1), generator=g)
    for step in range(steps):
        yield data[step, :, :-1], data[step, :, 1:]


def plain_step(cfg: ModelConfig, args, device):
    """One optimizer step of a plain PyTorch loop (model, AdamW, clip) per call."""
    torch.manual_seed(0)
    model = Decoder(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")
    it = batches(cfg, args, args.warmup + args.rounds * args.steps)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    def step():
        ids, labels = (t.to(device) for t in next(it))
        with autocast:
            value = shifted_loss(model(ids), labels)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def deepspeed_step(cfg: ModelConfig, args, device):
    """One optimizer step of the engine `fullchain train` uses, in this process, per call."""
    from fullchain.trainers.loop import init_distributed
    from fullchain.trainers.pretrain_model import PretrainModel

    init_distributed(device.type == "cuda")
    total = args.warmup + args.rounds * args.steps
    train_cfg = load_config(TrainConfig, None, {
        "train.steps": str(total), "train.micro_batch_size": str(args.micro),
        "train.precision": args.precision, "data.seq_len": str(args.seq), "optim.lr": "3e-4",
        "optim.warmup_steps": "0"})
    model = PretrainModel(train_cfg, cfg, ParallelDims())
    it = batches(cfg, args, total)
    return lambda: model.train_step(it)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--preset", default="debug", choices=sorted(MODEL_PRESETS))
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--micro", type=int, default=8)
    p.add_argument("--steps", type=int, default=5, help="Steps per timed round.")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--only", choices=["plain", "deepspeed"], help="Run one side only, in this process.")
    p.add_argument("--repeats", type=int, default=2, help="Processes per side (alternating); best is reported.")
    p.add_argument("--json", help="Also write the figures to this file.")
    args = p.parse_args()
    if args.device == "cpu":
        os.environ["DS_ACCELERATOR"] = "cpu"
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    cfg = model_config(args)
    tokens_per_step = args.micro * args.seq
    result = {"device": torch.cuda.get_device_name() if args.device == "cuda" else f"cpu x{torch.get_num_threads()}",
              "params": cfg.num_params(), "seq": args.seq, "micro": args.micro, "precision": args.precision,
              "steps_per_round": args.steps, "rounds": args.rounds}
    if args.only:
        step = (plain_step if args.only == "plain" else deepspeed_step)(cfg, args, device)
        for _ in range(args.warmup):
            step()
        best = float("inf")
        for _ in range(args.rounds):
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            sync()
            best = min(best, (time.perf_counter() - t0) / args.steps)
        result[f"{args.only}_tokens_per_s"] = tokens_per_step / best
        print(f"{args.only:>9}: {tokens_per_step / best:12,.0f} tokens/s  ({best * 1000:.1f} ms/step, best of "
              f"{args.rounds} rounds of {args.steps} steps)", flush=True)
    else:
        # Each side in its own process, alternating: once DeepSpeed has initialised a process, a
        # plain loop in that same process ran up to 8x slower on the CPU, which is not what a user runs.
        import subprocess
        import tempfile

        argv = list(sys.argv[1:])
        if "--json" in argv:
            i = argv.index("--json")
            del argv[i:i + 2]
        for _ in range(args.repeats):
            for name in ("plain", "deepspeed"):
                with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                    subprocess.run([sys.executable, __file__, *argv, "--only", name, "--json", tmp.name],
                                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    value = json.loads(Path(tmp.name).read_text())[f"{name}_tokens_per_s"]
                key = f"{name}_tokens_per_s"
                result[key] = max(result.get(key, 0.0), value)
                print(f"{name:>9}: {value:12,.0f} tokens/s", flush=True)
    if "plain_tokens_per_s" in result and "deepspeed_tokens_per_s" in result:
        result["overhead_pct"] = 100 * (result["plain_tokens_per_s"] / result["deepspeed_tokens_per_s"] - 1)
        print(f" overhead: {result['overhead_pct']:+.1f}% (DeepSpeed time per token vs the plain loop)")
    if args.device == "cuda":
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in result["device"]), None)
        flops = cfg.flops_per_token(args.seq)
        for name in ("plain", "deepspeed"):
            if peak and f"{name}_tokens_per_s" in result:
                result[f"{name}_mfu"] = flops * result[f"{name}_tokens_per_s"] / (peak * 1e12)
                print(f"{name:>9} MFU: {100 * result[f'{name}_mfu']:.1f}% of {peak:.0f} TFLOP/s "
                      f"({cfg.num_params() / 1e9:.2f}B params, {flops / 1e9:.2f} GFLOP/token)")
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
