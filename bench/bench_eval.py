"""INT4 weight-only against FP32 and INT8 on the CPU: size, ms/token, perplexity (the export's
validation report) and the shipped suite's scores (fullchain eval), on one briefly trained Llama.

    .venv/bin/python bench/bench_eval.py --keep /tmp/bench-eval                # build, export x3, evaluate
    .venv/bin/python bench/bench_eval.py --keep /tmp/bench-eval --algorithm hqq --block-size 64

The model and its held-out val shards are built as bench/bench_export.py builds them (a byte-level
BPE on the generated sample corpus, a Llama trained `--train-steps` AdamW steps; `--keep DIR`
reuses an earlier DIR's). The model is then exported twice, INT8 dynamic and INT4 (MatMulNBits,
`--block-size`, `--algorithm`, embedding included), with the perplexity gates lifted so the
figures print whatever they are, and `fullchain eval` runs the suite and perplexity on the held-out
text on PyTorch FP32, ONNX FP32, ONNX INT8 and ONNX INT4 side by side. The last lines say
whether the issue's aims are met (INT4 <= 0.3x the FP32 size, perplexity within 3% of FP32).
Figures taken on a shared machine are noisy; the latency rows come from one report each, the
engines taking turns within it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from bench_export import VAL_DOCS, build_model_folder  # bench/ is the script's folder, so it is on sys.path

from fullchain.evaluation.config import EvalConfig, PerplexityDataConfig
from fullchain.evaluation.evaluate import evaluate_models
from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model
from fullchain.pipelines.sample_corpus import generate_corpus


def export(work: str, name: str, quantize: QuantizeConfig, latency_tokens: int) -> dict:
    validation = ValidationConfig(manifest=os.path.join(work, "shards"), seq_len=128, windows=8,
                                  latency_tokens=latency_tokens, max_ppl_delta_pct=1e9, max_int4_ppl_delta_pct=1e9)
    folder = export_model(os.path.join(work, "hf"), os.path.join(work, name),
                          ExportConfig(overwrite=True, quantize=quantize, validation=validation),
                          progress=lambda line: print(f"{name}: {line}", file=sys.stderr, flush=True))
    return json.loads((folder / "report.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=1408)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--tokenizer-vocab", type=int, default=4000)
    parser.add_argument("--docs", type=int, default=800)
    parser.add_argument("--train-steps", type=int, default=80)
    parser.add_argument("--train-seq", type=int, default=64)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-tokens", type=int, default=32)
    parser.add_argument("--block-size", type=int, default=32, choices=(32, 64, 128))
    parser.add_argument("--algorithm", default="rtn", choices=("rtn", "hqq"))
    parser.add_argument("--limit", type=int, default=0, help="Suite items per task (0: all).")
    parser.add_argument("--json", metavar="PATH", help="Also write the figures here.")
    parser.add_argument("--keep", metavar="DIR", required=True, help="Work folder (reused when it holds a model).")
    args = parser.parse_args()
    started = time.perf_counter()
    work = args.keep
    os.makedirs(work, exist_ok=True)
    described = os.path.join(work, "bench-model.json")
    if not os.path.isfile(described):
        build_model_folder(args, work, described)
    with open(described, encoding="utf-8") as fh:
        model_line = json.load(fh)["description"]
    held_out = os.path.join(work, "val.jsonl")
    if not os.path.isfile(held_out):
        # the documents bench_export held out of training (its val shards hold their ids, not their text)
        records, _ = generate_corpus(args.docs, seed=args.seed)
        with open(held_out, "w", encoding="utf-8") as fh:
            for record in records[:VAL_DOCS]:
                fh.write(json.dumps({"text": record["text"], "lang": record.get("lang", "en")}, ensure_ascii=False)
                         + "\n")
    int4_name = f"export-int4-{args.algorithm}-b{args.block_size}"
    int8 = export(work, "export-int8", QuantizeConfig(mode="dynamic"), args.latency_tokens)
    int4 = export(work, int4_name, QuantizeConfig(mode="int4", int4_block_size=args.block_size,
                                                  int4_algorithm=args.algorithm), args.latency_tokens)
    config = EvalConfig(overwrite=True, limit=args.limit, perplexity=PerplexityDataConfig(
        data=[held_out]))
    models = [os.path.join(work, "hf"), os.path.join(work, "export-int8") + "#fp32",
              os.path.join(work, "export-int8"), os.path.join(work, int4_name)]
    summary = evaluate_models(models, os.path.join(work, f"eval-{args.algorithm}-b{args.block_size}"), config,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    sizes = {"fp32": int8["sizes_bytes"]["onnx_fp32"], "int8": int8["sizes_bytes"]["onnx_int8"],
             "int4": int4["sizes_bytes"]["onnx_int8"]}
    ppl = {"fp32": int8["perplexity"]["onnx_fp32"], "int8": int8["perplexity"]["onnx_int8"],
           "int4": int4["perplexity"]["onnx_int8"]}
    latency = {"pytorch (int8 report)": int8["latency_ms_per_token"]["pytorch_eager"],
               "fp32 (int8 report)": int8["latency_ms_per_token"]["onnx_fp32"],
               "int8": int8["latency_ms_per_token"]["onnx_int8"],
               "fp32 (int4 report)": int4["latency_ms_per_token"]["onnx_fp32"],
               "int4": int4["latency_ms_per_token"]["onnx_int8"]}
    share = sizes["int4"] / sizes["fp32"]
    delta = 100 * (ppl["int4"] - ppl["fp32"]) / ppl["fp32"]
    print(f"model: {model_line}")
    print("size MB: " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sizes.items()))
    print("perplexity (8 x 128 val tokens): " + ", ".join(f"{k} {v:.3f}" for k, v in ppl.items()))
    print("ms/token (batch 1, KV cache): " + ", ".join(f"{k} {v:.2f}" for k, v in latency.items()))
    print(f"top-1 agreement with FP32: int8 {int8['top1_agreement_int8_fp32']:.3f}, "
          f"int4 {int4['top1_agreement_int8_fp32']:.3f}")
    print(summary["text"])
    print(f"INT4 ({args.algorithm}, block {args.block_size}): {100 * share:.1f}% of the FP32 size (aim <= 30%: "
          f"{'met' if share <= 0.3 else 'NOT met'}), perplexity {delta:+.2f}% (aim within 3%: "
          f"{'met' if abs(delta) <= 3 else 'NOT met'}); INT8 {100 * sizes['int8'] / sizes['fp32']:.1f}%, "
          f"{100 * (ppl['int8'] - ppl['fp32']) / ppl['fp32']:+.2f}%")
    print(f"folder: {work} ({time.perf_counter() - started:.0f}s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"model": model_line, "sizes_bytes": sizes, "perplexity": ppl, "latency_ms_per_token": latency,
                       "int4_size_share": share, "int4_ppl_delta_pct": delta, "suite": summary["scores"],
                       "machine": int4["machine"]}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
