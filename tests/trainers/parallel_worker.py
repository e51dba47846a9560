"""Worker for tests/trainers/test_parallel.py: trains debug_config() for a few steps, writes losses as JSON.

    python parallel_worker.py --single OUT.json                        # 1 process, plain Decoder + torch AdamW
    torchrun --nproc_per_node=8 parallel_worker.py --dp 2 --pp 2 --tp 2 OUT.json   # DeepSpeed pipeline

Both modes see the same global batch per step (GLOBAL rows of a fixed random token stream) and the
same hyper-parameters, so their losses must agree to float rounding.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fullchain.trainers.model import Decoder, debug_config, loss as lm_loss  # noqa: E402

SEED = 1234
STEPS = 4
MICRO = 2
SEQ = 32
HP = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
CLIP = 1.0


def _data(cfg, global_batch):
    g = torch.Generator().manual_seed(SEED + 1)
    # Tokens from a small slice of the vocabulary: the unigram shift is learnt within a few
    # steps, so the losses move visibly and a wrong update would show.
    return torch.randint(0, min(16, cfg.vocab_size), (STEPS, global_batch, SEQ), generator=g)


def _full_model(cfg):
    torch.manual_seed(SEED)
    return Decoder(cfg).float()


def run_single(out, dp, grad_accum):
    cfg = debug_config()
    model = _full_model(cfg)
    data = _data(cfg, MICRO * grad_accum * dp)
    opt = torch.optim.AdamW(model.parameters(), lr=HP["lr"], betas=HP["betas"], eps=HP["eps"],
                            weight_decay=HP["weight_decay"])
    losses = []
    for step in range(STEPS):
        ids = data[step]
        opt.zero_grad(set_to_none=True)
        value = lm_loss(model(ids), ids)
        value.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        if os.environ.get("PARALLEL_WORKER_VERBOSE"):
            print(f"step {step} loss {value.item():.6f} grad_norm {norm.item():.4f}")
        opt.step()
        losses.append(value.item())
    Path(out).write_text(json.dumps(losses))


def run_parallel(out, dp, pp, tp, grad_accum):
    import deepspeed
    import torch.distributed as dist

    from fullchain.trainers.parallelize import (ParallelDims, build_pipeline_module, deepspeed_config,
                                      load_full_weights, make_topology, mark_model_parallel)

    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = debug_config()
    dims = ParallelDims(dp=dp, pp=pp, tp=tp).validate(world, cfg)
    topo = make_topology(dims)
    coord = topo.get_coord(rank)
    full = _full_model(cfg)
    module, _ = build_pipeline_module(cfg, topo)
    load_full_weights(module, full.state_dict(), cfg, coord.model, dims.tp)
    mark_model_parallel(module.named_parameters(), coord.model)
    ds_cfg = deepspeed_config(dims, micro_batch=MICRO, grad_accum=grad_accum, gradient_clipping=CLIP, **HP)
    engine, _, _, _ = deepspeed.initialize(model=module, model_parameters=module.parameters(), config=ds_cfg)

    data = _data(cfg, MICRO * grad_accum * dp)
    d = coord.data

    def batches():
        for step in range(STEPS):
            for m in range(grad_accum):
                start = (d * grad_accum + m) * MICRO
                ids = data[step, start:start + MICRO]
                yield ids, ids.clone()

    it = batches()
    losses = []
    for _ in range(STEPS):
        losses.append(float(engine.train_batch(data_iter=it)))
    if rank == 0:
        Path(out).write_text(json.dumps(losses))
    dist.barrier()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--single", action="store_true")
    p.add_argument("--dp", type=int, default=1)
    p.add_argument("--pp", type=int, default=1)
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--grad-accum", type=int, default=2)
    a = p.parse_args()
    if a.single:
        run_single(a.out, a.dp, a.grad_accum)
    else:
        run_parallel(a.out, a.dp, a.pp, a.tp, a.grad_accum)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
