"""Served throughput of one exported model with Triton's dynamic batching and without, at one
concurrency (closed loop, greedy, unique prompts so the response cache never answers).

    .venv/bin/python bench/bench_serving.py --concurrency 8 --duration-s 20

(bench/bench_serving_continuous.py compares these with continuous batching.)

Builds a random-weight Llama (hidden 256, 4 layers by default; the tiny test model is all call
overhead) with the tiny BPE tokenizer, exports it with `fullchain export` (INT8 dynamic, as served),
publishes it twice into one repository, as `batched` (dynamic batching, max batch 8, preferred 4
and 8, 2 ms queue delay) and `single` (no dynamic batching: one request per execution), serves
both generation models from the wheel's tritonserver (ONNX Runtime in the Python backend, one
instance each, one intra-op thread) and drives each in turn. Writes bench-output/serving/serving.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket
import tempfile
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from fullchain.deploy.config import (BatchingConfig, GenerationModelConfig, LlmModelConfig, LoadtestConfig, PublishConfig,
                                     ServeConfig)
from fullchain.deploy.loadtest import run_level
from fullchain.deploy.repository import publish
from fullchain.deploy.server import TritonServer
from fullchain.exporters.config import ExportConfig, ValidationConfig
from fullchain.exporters.export import export_model
from fullchain.pipelines.sample_models import tiny_tokenizer


def random_llama(path: str, hidden: int, layers: int) -> str:
    """Save a random-weight Llama of the given width and depth with the tiny tokenizer."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 3,
                         num_hidden_layers=layers, num_attention_heads=max(hidden // 64, 1) * 2,
                         num_key_value_heads=max(hidden // 64, 1), max_position_embeddings=1024,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--export-dir", default="", help="Serve this export instead of building one.")
    parser.add_argument("--output", default="bench-output/serving")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="bench-serving-")
    export_dir = args.export_dir
    if not export_dir:
        hf = random_llama(os.path.join(work, "hf"), args.hidden, args.layers)
        start = time.perf_counter()
        export_dir = str(export_model(hf, os.path.join(work, "export"), ExportConfig(
            validation=ValidationConfig(seq_len=32, windows=3, greedy_tokens=8, latency_tokens=3,
                                        max_ppl_delta_pct=1000.0))))
        print(f"exported hidden {args.hidden} x {args.layers} layers in {time.perf_counter() - start:.1f} s")
    repo = os.path.join(work, "repo")
    generate = GenerationModelConfig(response_cache=False, stream_model=False)
    variants = {"batched": BatchingConfig(max_batch_size=8, preferred_batch_sizes=[4, 8], max_queue_delay_us=2000),
                "single": BatchingConfig(enabled=False, max_batch_size=8, preferred_batch_sizes=[])}
    for name, batching in variants.items():
        publish(export_dir, PublishConfig(repository=repo, name=name, batching=batching, generate=generate,
                                          llm=LlmModelConfig(enabled=False)))
    serve = ServeConfig(repository=repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                        cache_size_bytes=0)
    results = {}
    with TritonServer(serve, [f"{name}_generate" for name in variants], log_path=os.path.join(work, "server.log")):
        for name in variants:
            cfg = LoadtestConfig(url=f"127.0.0.1:{serve.grpc_port}", protocol="grpc", model=name, endpoint="generate",
                                 max_tokens=args.max_tokens, duration_s=args.duration_s)
            run_level(dataclasses.replace(cfg, duration_s=2.0), args.concurrency)  # warm-up
            results[name] = dataclasses.asdict(run_level(cfg, args.concurrency))
    for name, r in results.items():
        print(f"{name:>8}: concurrency {r['concurrency']}, {r['requests']} requests, {r['errors']} errors, "
              f"{r['requests_per_s']} req/s, {r['tokens_per_s']} tokens/s, p50 {r['p50_ms']} ms, "
              f"p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms")
    speedup = results["batched"]["tokens_per_s"] / max(results["single"]["tokens_per_s"], 1e-9)
    print(f"dynamic batching: {speedup:.2f}x the tokens/s of one request per execution")
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "serving.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"hidden": args.hidden, "layers": args.layers, "export": export_dir, "max_tokens": args.max_tokens,
                   "duration_s": args.duration_s, "results": results, "speedup_tokens_per_s": speedup}, fh, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
