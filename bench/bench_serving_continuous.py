"""Continuous batching (`<name>_llm`) against today's dynamic batching and one request at a time:
output tokens/s and time to first token at rising concurrency, same model, same server, same run.

    .venv/bin/python bench/bench_serving_continuous.py --concurrency "1,2,4,8,16,32" --duration-s 5

Builds a random-weight Llama (hidden 384, 4 layers by default: wide enough that the graph's compute,
not Python, dominates a decoding step on a CPU core) with the tiny BPE tokenizer, exports it in FP32
(so every mode computes the same tokens), and publishes it three times into one repository:
`cb` (`cb_llm`: continuous batching, up to 32 sequences), `dyn` (`dyn_generate_stream`: Triton's
dynamic batcher, max batch 32, 2 ms queue delay, a batch runs to its longest request) and `one`
(`one_generate_stream`: no batching, one request per execution). All three stream over gRPC, so
the time to first token is measured the same way, and each runs ONNX Runtime in its own Python
backend process with `--ort-threads` intra-op threads (1 by default). The levels are interleaved (for each concurrency the
three modes in turn, their order rotating), so load from other jobs hits them alike. Greedy,
`--max-tokens` new tokens per request (or, with `--output-tokens-stddev`, a length drawn around it
for each request, so that the clients do not finish in lockstep), closed loop
(fullchain.deploy.loadtest). With `--request-rate "4,8,16,32"` the levels are request rates
instead: an open loop (Poisson arrivals, loadtest --request-rate), where load does not ease when a
mode falls behind.

Writes bench-output/serving-continuous/result.json and curves.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

from bench_serving import free_port, random_llama

from fullchain.deploy.config import (BatchingConfig, GenerationModelConfig, LlmModelConfig, LoadtestConfig,
                                     PublishConfig, ServeConfig)
from fullchain.deploy.loadtest import resolve_target, run_level, run_rate_level
from fullchain.deploy.repository import publish
from fullchain.deploy.server import TritonServer
from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model

# short prompts: with a long one, time to first token is the prefill's compute, which batching on one
# CPU core cannot hide (seven prompts arriving together take seven prefills' time)
PROMPTS = ["The river", "Local historians", "In the spring", "Nobody remembers"]
# mode -> (published name, load-test endpoint)
MODES = {"continuous": ("cb", "llm"), "dynamic": ("dyn", "stream"), "one_at_a_time": ("one", "stream")}


def publish_modes(export_dir: str, repo: str, max_batch: int, ort_threads: int) -> list[str]:
    """Publish the export once per mode, each with `ort_threads` ONNX Runtime intra-op threads; the
    Triton models to load."""
    no_cache = GenerationModelConfig(response_cache=False, stream_model=True, ort_threads=ort_threads)
    off = LlmModelConfig(enabled=False)
    publish(export_dir, PublishConfig(repository=repo, name="cb", generate=no_cache,
                                      llm=LlmModelConfig(max_batch_size=max_batch, kv_cache_tokens=max_batch * 1024,
                                                         max_queue_size=256)))
    publish(export_dir, PublishConfig(repository=repo, name="dyn", generate=no_cache, llm=off, batching=BatchingConfig(
        max_batch_size=max_batch, preferred_batch_sizes=[], max_queue_delay_us=2000, max_queue_size=256)))
    publish(export_dir, PublishConfig(repository=repo, name="one", generate=no_cache, llm=off, batching=BatchingConfig(
        enabled=False, max_batch_size=1, preferred_batch_sizes=[])))
    return ["cb_llm", "dyn_generate_stream", "one_generate_stream"]


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = result["axis"]
    fig, (tps, ttft) = plt.subplots(1, 2, figsize=(11, 4))
    for (mode, levels), color in zip(result["modes"].items(), ("tab:blue", "tab:orange", "tab:green")):
        x = [lv[axis] for lv in levels]
        tps.plot(x, [lv["output_tokens_per_s"] for lv in levels], marker="o", color=color, label=mode)
        ttft.plot(x, [lv["ttft_p99_ms"] for lv in levels], marker="o", color=color, label=f"{mode} p99")
        ttft.plot(x, [lv["ttft_p50_ms"] for lv in levels], marker=".", linestyle=":", color=color,
                  label=f"{mode} p50")
    tps.set_title(f"output tokens/s (hidden {result['hidden']} x {result['layers']} layers, FP32)")
    ttft.set_title("time to first token (ms)")
    ttft.set_yscale("log")
    for ax in (tps, ttft):
        ax.set_xlabel("request rate (requests/s, open loop)" if axis == "request_rate" else "concurrency")
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [f"{c:g}" for c in x])
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,2,4,8,16,32")
    parser.add_argument("--request-rate", default="",
                        help="Open loop instead of --concurrency: request rates (requests/s, Poisson arrivals).")
    parser.add_argument("--duration-s", type=float, default=5.0)
    parser.add_argument("--warmup-s", type=float, default=0.0,
                        help="Seconds at each level's start whose requests are left out (loadtest --warmup-s).")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--output-tokens-stddev", type=int, default=0,
                        help="Draw each request's max_tokens around --max-tokens (0: all equal, in lockstep).")
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--ort-threads", type=int, default=1,
                        help="ONNX Runtime intra-op threads of every mode's model (the same for all three).")
    parser.add_argument("--export-dir", default="", help="Serve this export instead of building one.")
    parser.add_argument("--output", default="bench-output/serving-continuous")
    args = parser.parse_args()
    rates = [float(r) for r in args.request_rate.split(",")] if args.request_rate else []
    levels = rates or [int(c) for c in args.concurrency.split(",")]
    axis = "request_rate" if rates else "concurrency"

    work = tempfile.mkdtemp(prefix="bench-serving-continuous-")
    export_dir = args.export_dir
    if not export_dir:
        hf = random_llama(os.path.join(work, "hf"), args.hidden, args.layers)
        start = time.perf_counter()
        export_dir = str(export_model(hf, os.path.join(work, "export"), ExportConfig(
            quantize=QuantizeConfig(mode="none"), validation=ValidationConfig(
                seq_len=32, windows=2, greedy_tokens=4, latency_tokens=2, max_ppl_delta_pct=1000.0))))
        print(f"exported hidden {args.hidden} x {args.layers} layers (FP32) in {time.perf_counter() - start:.1f} s")
    repo = os.path.join(work, "repo")
    # an open loop's in-flight requests are not bounded by its rate: the batch gets the closed loop's most
    models = publish_modes(export_dir, repo, 32 if rates else max(levels), args.ort_threads)
    serve = ServeConfig(repository=repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                        cache_size_bytes=0, ready_timeout_s=300)
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    with TritonServer(serve, models, log_path=os.path.join(work, "server.log")):
        targets = {}
        for mode, (name, endpoint) in MODES.items():
            cfg = LoadtestConfig(url=f"127.0.0.1:{serve.grpc_port}", protocol="grpc", model=name, endpoint=endpoint,
                                 max_tokens=args.max_tokens, output_tokens_stddev=args.output_tokens_stddev,
                                 duration_s=args.duration_s, warmup_s=args.warmup_s, prompts=PROMPTS,
                                 timeout_s=300)
            targets[mode] = resolve_target(cfg)
            run_level(dataclasses.replace(targets[mode].cfg, duration_s=1.5, warmup_s=0), 2, targets[mode])  # warm-up
        run = run_rate_level if rates else run_level
        for i, value in enumerate(levels):
            order = list(MODES)[i % len(MODES):] + list(MODES)[:i % len(MODES)]
            for mode in order:
                level = dataclasses.asdict(run(targets[mode].cfg, value, targets[mode]))
                results[mode].append(level)
                print(f"{mode:>14} {'rate' if rates else 'c'}={value:<4g} {level['output_tokens_per_s']:>8} tokens/s  "
                      f"ttft p50 {level['ttft_p50_ms']} p99 {level['ttft_p99_ms']} ms  "
                      f"{level['requests']} requests, {level['errors']} errors"
                      + (f", {level['delayed_requests']} delayed, at most {level['concurrency']} in flight"
                         if rates else ""), flush=True)
    for mode in MODES:
        results[mode].sort(key=lambda lv: lv[axis])
    summary = {}
    if not rates and 1 in levels:
        base = {mode: results[mode][levels.index(1)] for mode in MODES}
        for c in levels:
            row = {mode: results[mode][sorted(levels).index(c)] for mode in MODES}
            summary[str(c)] = {
                "continuous_vs_one_tokens_per_s": round(row["continuous"]["output_tokens_per_s"]
                                                        / max(row["one_at_a_time"]["output_tokens_per_s"], 1e-9), 2),
                "continuous_vs_dynamic_tokens_per_s": round(row["continuous"]["output_tokens_per_s"]
                                                            / max(row["dynamic"]["output_tokens_per_s"], 1e-9), 2),
                "continuous_ttft_p99_vs_idle_p50": round((row["continuous"]["ttft_p99_ms"] or 0)
                                                         / max(base["continuous"]["ttft_p50_ms"] or 1e-9, 1e-9), 2),
                "continuous_ttft_p99_vs_idle_p99": round((row["continuous"]["ttft_p99_ms"] or 0)
                                                         / max(base["continuous"]["ttft_p99_ms"] or 1e-9, 1e-9), 2)}
        for c, s in summary.items():
            print(f"c={c:<3} continuous: {s['continuous_vs_one_tokens_per_s']}x one-at-a-time, "
                  f"{s['continuous_vs_dynamic_tokens_per_s']}x dynamic tokens/s; ttft p99 "
                  f"{s['continuous_ttft_p99_vs_idle_p50']}x idle p50, {s['continuous_ttft_p99_vs_idle_p99']}x idle p99")
    os.makedirs(args.output, exist_ok=True)
    result = {"axis": axis, "hidden": args.hidden, "layers": args.layers, "precision": "fp32",
              "max_tokens": args.max_tokens,
              "ort_threads": args.ort_threads, "output_tokens_stddev": args.output_tokens_stddev,
              "duration_s": args.duration_s, "warmup_s": args.warmup_s,
              "load_average_1m": round(os.getloadavg()[0], 2), "modes": results, "summary": summary}
    path = os.path.join(args.output, "result.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    plot(result, os.path.join(args.output, "curves.png"))
    print(f"wrote {path} and curves.png")


if __name__ == "__main__":
    main()
