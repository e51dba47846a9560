"""What one graph run of `<name>_llm`'s scheduler costs on this CPU: a prefill of k prompts against
one decoding step of the whole running batch, the model and thread count that
bench_serving_continuous.py serves (hidden 384 x 4 layers, FP32, one ONNX Runtime intra-op thread).

    .venv/bin/python bench/bench_prefill_cost.py --prompts 1,2,4,7,8 --prompt-tokens 20 --batch 8

It explains the time-to-first-token figures of that benchmark: if a prefill's time grows with the
tokens it takes rather than with the number of prompts, batching the prompts that arrive together
saves little, and the last of k simultaneous arrivals waits for about k single prefills. Times are
the graph alone (ONNX Runtime's run, median of --repeats), no sampling, no Triton. Writes
bench-output/prefill-cost/result.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
import onnxruntime
from bench_serving import random_llama

from fullchain.exporters import kv_decoding
from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model


def median_ms(run, feeds: dict, repeats: int) -> float:
    """Median wall time of `run(feeds)` in ms, after one warm-up run."""
    run(feeds)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(feeds)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def decode_feeds(spec: kv_decoding.DecoderSpec, prefill: dict, outputs: dict) -> dict:
    """The feeds of the decoding step that follows `prefill`: one new token per row, its cache the
    prefill's presents (every prompt of one length, so no padding)."""
    rows, width = prefill["input_ids"].shape
    feeds = {"input_ids": np.ones((rows, 1), dtype=np.int64),
             "attention_mask": np.ones((rows, width + 1), dtype=np.int64),
             "position_ids": np.full((rows, 1), width, dtype=np.int64)}
    feeds.update({name: outputs[name.replace("past_key_values", "present")]
                  for name in prefill if name.startswith("past_key_values")})
    return feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", default="1,2,4,7,8", help="Prefill batch sizes to time.")
    parser.add_argument("--prompt-tokens", type=int, default=20, help="Tokens per prompt (the load test's are 15-26).")
    parser.add_argument("--batch", type=int, default=8, help="Rows of the decoding step.")
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--ort-threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--output", default="bench-output/prefill-cost")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="bench-prefill-cost-")
    hf = random_llama(os.path.join(work, "hf"), args.hidden, args.layers)
    export_dir = export_model(hf, os.path.join(work, "export"), ExportConfig(
        quantize=QuantizeConfig(mode="none"), validation=ValidationConfig(
            seq_len=32, windows=2, greedy_tokens=4, latency_tokens=2, max_ppl_delta_pct=1000.0)))
    with open(os.path.join(export_dir, "export.json"), encoding="utf-8") as fh:
        meta = json.load(fh)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.ort_threads
    session = onnxruntime.InferenceSession(os.path.join(export_dir, meta["model_file"]), options,
                                           providers=["CPUExecutionProvider"])
    run, spec = kv_decoding.session_runner(session), kv_decoding.DecoderSpec.from_export(meta)
    rng = np.random.default_rng(0)

    def prompts(k: int) -> list[list[int]]:
        return rng.integers(3, int(meta["vocab_size"]), size=(k, args.prompt_tokens)).tolist()

    prefill_ms = {}
    for k in [int(k) for k in args.prompts.split(",")]:
        prefill_ms[k] = round(median_ms(run, kv_decoding.prefill_feeds(spec, prompts(k)), args.repeats), 2)
    prefill = kv_decoding.prefill_feeds(spec, prompts(args.batch))
    decode_ms = round(median_ms(run, decode_feeds(spec, prefill, run(prefill)), args.repeats), 2)

    one = prefill_ms.get(1)
    print(f"hidden {args.hidden} x {args.layers} layers, FP32, {args.ort_threads} ORT thread(s), "
          f"{args.prompt_tokens} tokens per prompt, median of {args.repeats}")
    print(f"{'graph run':<28}{'ms':>8}{'x one prompt':>14}")
    for k, ms in prefill_ms.items():
        print(f"{f'prefill of {k} prompt(s)':<28}{ms:>8}{(f'{ms / one:.2f}' if one else '-'):>14}")
    print(f"{f'decoding step, {args.batch} rows':<28}{decode_ms:>8}")
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "result.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"hidden": args.hidden, "layers": args.layers, "ort_threads": args.ort_threads,
                   "prompt_tokens": args.prompt_tokens, "repeats": args.repeats,
                   "prefill_ms": prefill_ms, "decode_rows": args.batch, "decode_ms": decode_ms,
                   "load_average_1m": round(os.getloadavg()[0], 2)}, fh, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
