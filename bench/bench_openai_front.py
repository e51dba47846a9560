"""What the OpenAI-compatible front costs: the same streamed greedy requests sent straight to
`<name>_llm` over gRPC and through the front (openai's AsyncOpenAI client), interleaved rounds in one
run on one server, at each concurrency.

    .venv/bin/python bench/bench_openai_front.py --concurrency 1 8 --requests 48 --rounds 2

The model is the sample tiny Llama (2 layers, hidden 32), where a token costs the model least, so
the front's share of each request is the largest it gets. A third path reads the front's events as
raw lines (httpx), without the openai client's parsing, to tell the front's cost from the client's
(client, server and model share the same cores). Prints one table row per path and concurrency
(tokens/s, requests/s, time to first token and request latency p50/p95), and the ratio of each
front path's tokens/s to the direct path's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio
from openai import AsyncOpenAI

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fullchain.deploy.config import PublishConfig, ServeConfig  # noqa: E402
from fullchain.deploy.repository import list_models, publish  # noqa: E402
from fullchain.deploy.serving_stack import ServingStack  # noqa: E402
from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig  # noqa: E402
from fullchain.exporters.export import export_model  # noqa: E402
from fullchain.pipelines.sample_models import tiny_causal_lm  # noqa: E402
from tests.ports import candidate_ports  # noqa: E402

PROMPTS = ["The river that runs through", "Local historians have gathered letters", "A", "The"]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def direct_request(client: grpcaio.InferenceServerClient, prompt: str,
                         max_tokens: int) -> tuple[float, float, int]:
    def tensor(name, value, datatype):
        t = grpcclient.InferInput(name, list(value.shape), datatype)
        t.set_data_from_numpy(value)
        return t

    inputs = [tensor("text", np.array([[prompt.encode()]], dtype=np.object_), "BYTES"),
              tensor("max_tokens", np.array([[max_tokens]], dtype=np.int64), "INT64")]

    async def one():
        yield {"model_name": "tiny_llm", "inputs": inputs}

    start, first, tokens = time.perf_counter(), None, 0
    async for result, error in client.stream_infer(one()):
        if error is not None:
            raise RuntimeError(error.message())
        new = result.as_numpy("token_ids").size
        if new and first is None:
            first = time.perf_counter() - start
        tokens += new
        if result.as_numpy("finish_reason").reshape(-1)[0]:
            break
    return first or 0.0, time.perf_counter() - start, tokens


async def front_request(client: AsyncOpenAI, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    start, first, tokens = time.perf_counter(), None, 0
    stream = await client.completions.create(model="tiny", prompt=prompt, max_tokens=max_tokens, temperature=0,
                                             stream=True, stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].text and first is None:
            first = time.perf_counter() - start
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return first or 0.0, time.perf_counter() - start, tokens


async def raw_sse_request(client: httpx.AsyncClient, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    # the front without the openai client's parsing: lines of server-sent events, counted
    start, first, tokens = time.perf_counter(), None, 0
    body = {"model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    async with client.stream("POST", "/completions", json=body) as answer:
        async for line in answer.aiter_lines():
            if line.startswith('data: {"id"') and '"text":"' in line and '"text":""' not in line and first is None:
                first = time.perf_counter() - start
            if '"usage":{' in line:
                tokens = json.loads(line[6:])["usage"]["completion_tokens"]
    return first or 0.0, time.perf_counter() - start, tokens


async def run_level(send, concurrency: int, requests: int, max_tokens: int) -> dict:
    queue = list(range(requests))
    results = []

    async def worker():
        while queue:
            i = queue.pop()
            results.append(await send(PROMPTS[i % len(PROMPTS)], max_tokens))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    ttft = [r[0] * 1000 for r in results]
    latency = [r[1] * 1000 for r in results]
    return {"tokens_per_s": sum(r[2] for r in results) / wall, "requests_per_s": len(results) / wall,
            "ttft_p50_ms": percentile(ttft, 50), "ttft_p95_ms": percentile(ttft, 95),
            "latency_p50_ms": percentile(latency, 50), "latency_p95_ms": percentile(latency, 95)}


async def measure(stack: ServingStack, args: argparse.Namespace) -> list[tuple[str, int, dict]]:
    direct = grpcaio.InferenceServerClient(f"127.0.0.1:{stack.cfg.grpc_port}")
    front = AsyncOpenAI(base_url=stack.openai_url, api_key="none", max_retries=0, timeout=120)
    raw = httpx.AsyncClient(base_url=stack.openai_url, timeout=120)
    paths = {"direct gRPC": lambda p, n: direct_request(direct, p, n),
             "OpenAI front": lambda p, n: front_request(front, p, n),
             "OpenAI front, raw SSE": lambda p, n: raw_sse_request(raw, p, n)}
    for send in paths.values():  # warm both paths (connections, first sessions)
        await run_level(send, 2, 4, args.max_tokens)
    rows: dict[tuple[str, int], list[dict]] = {}
    for _ in range(args.rounds):
        for concurrency in args.concurrency:
            for name, send in paths.items():
                rows.setdefault((name, concurrency), []).append(
                    await run_level(send, concurrency, args.requests, args.max_tokens))
    await direct.close()
    await front.close()
    await raw.aclose()
    merged = []
    for (name, concurrency), runs in rows.items():
        merged.append((name, concurrency, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--requests", type=int, default=48, help="requests per path, concurrency and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-openai-front-"))
    lm = tiny_causal_lm(str(work / "lm"))
    export = export_model(lm, str(work / "export"), ExportConfig(
        quantize=QuantizeConfig(mode="none"), validation=ValidationConfig(seq_len=32, windows=2, greedy_tokens=4,
                                                                           latency_tokens=2)))
    publish(export, PublishConfig(repository=str(work / "repo"), name="tiny"))
    models = [m for m, backend in list_models(str(work / "repo")).items() if backend == "python"]
    http, grpc, metrics, openai_port = candidate_ports(4)
    cfg = ServeConfig(repository=str(work / "repo"), http_port=http, grpc_port=grpc, metrics_port=metrics,
                      openai_port=openai_port, cache_dir=str(work / "cache"), stop_timeout_s=15)
    with ServingStack(cfg, models, log_path=work / "serve.log") as stack:
        rows = asyncio.run(measure(stack, args))
    print("| path | concurrency | tokens/s | req/s | TTFT p50 ms | TTFT p95 ms | latency p50 ms | latency p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, concurrency, r in rows:
        print(f"| {name} | {concurrency} | {r['tokens_per_s']:.0f} | {r['requests_per_s']:.1f} | "
              f"{r['ttft_p50_ms']:.1f} | {r['ttft_p95_ms']:.1f} | {r['latency_p50_ms']:.1f} | {r['latency_p95_ms']:.1f} |")
    by = {(n, c): r for n, c, r in rows}
    for concurrency in args.concurrency:
        for name in ("OpenAI front", "OpenAI front, raw SSE"):
            ratio = by[(name, concurrency)]["tokens_per_s"] / by[("direct gRPC", concurrency)]["tokens_per_s"]
            print(f"concurrency {concurrency}: {name} gives {ratio:.2f}x the direct path's tokens/s")


if __name__ == "__main__":
    main()
