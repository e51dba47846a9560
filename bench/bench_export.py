"""PyTorch eager vs ONNX FP32 vs ONNX INT8 on a Llama of realistic width: latency per token with the
key/value cache (batch 1), model size, and the INT8 perplexity delta.

    .venv/bin/python bench/bench_export.py --hidden 768 --layers 8 --train-steps 40

Builds, in a temporary folder: a byte-level BPE tokenizer trained on the generated sample corpus
(pipelines.sample_corpus), a Llama with a 32,000-row vocabulary (the tokenizer uses its first rows;
the size of the embedding and output layers is what a real model of this width pays), trained for
`--train-steps` AdamW steps on that corpus so its perplexity is not the uniform one of random
weights (a brief training, not a usable model), a val shard output of held-out documents, and then
runs `exporters.export_model` with INT8 dynamic quantization. The figures are those of the export's
validation report (exporters/validation_report.py): latency is the median over `--latency-tokens`
cached steps after a warm-up, the engines taking turns, on this machine, with the threads each
runtime picks by default (`--torch-threads` to change PyTorch's). On a machine whose cores are
busy with other work, PyTorch's OpenMP threads stall far more than ONNX Runtime's: read the load
average the table prints, and re-measure a built model later with `--keep DIR` (it reuses DIR's
model and shards). The INT8 perplexity bound is lifted for the bench so the figures print even when the delta is over
2%; the last lines say whether the issue's aims (INT8 >= 2x faster than PyTorch eager, < 1/3 of
its size, perplexity within 2%) are met.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model
from fullchain.exporters.validation_report import table
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus
from fullchain.pipelines.sample_models import tiny_tokenizer
from fullchain.pipelines.shard.manifest import build_manifest, manifest_bytes, shard_entry
from fullchain.pipelines.shard.samples import encode_sample
from fullchain.pipelines.shard.tar_writing import shard_bytes

VAL_DOCS = 40


def corpus_ids(docs: int, vocab: int, seed: int) -> tuple[object, list[list[int]], list[list[int]]]:
    """(tokenizer, train documents' ids, val documents' ids) from the generated sample corpus."""
    records, _ = generate_corpus(docs, seed=seed)
    texts = [r["text"] for r in records]
    tokenizer = tiny_tokenizer(vocab, texts)
    eos = tokenizer.eos_token_id
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] + [eos] for t in texts]
    return tokenizer, ids[VAL_DOCS:], ids[:VAL_DOCS]


def train_briefly(model: LlamaForCausalLM, documents: list[list[int]], steps: int, seq_len: int, batch: int,
                  seed: int) -> float:
    """AdamW steps on random windows of the concatenated documents; returns the last loss."""
    stream = np.concatenate([np.asarray(d, dtype=np.int64) for d in documents])
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(steps):
        starts = rng.integers(0, len(stream) - seq_len - 1, size=batch)
        ids = torch.from_numpy(np.stack([stream[s:s + seq_len] for s in starts]))
        loss = model(input_ids=ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0 or step == steps - 1:
            print(f"train step {step + 1}/{steps}: loss {loss.item():.3f}", file=sys.stderr, flush=True)
    model.eval()
    return float(loss.item())


def write_val_shards(root: str, documents: list[list[int]], eos: int, vocab: int) -> None:
    """A shard output (docs/CONTRACTS.md section 3) holding `documents` as its val split."""
    os.makedirs(os.path.join(root, "val"))
    samples = [encode_sample(Document(id=f"val-{i}", text=""), ids, "uint16") for i, ids in enumerate(documents)]
    data = shard_bytes(samples)
    path = "val/shard-000000.tar"
    with open(os.path.join(root, path), "wb") as fh:
        fh.write(data)
    entry = shard_entry("val", path, len(samples), sum(s.tokens for s in samples), data)
    manifest = build_manifest([entry], len(samples), {}, {"source": "bench", "eos_id": eos, "vocab_size": vocab},
                              "uint16", {}, [])
    with open(os.path.join(root, "manifest.json"), "wb") as fh:
        fh.write(manifest_bytes(manifest))


def build_model_folder(args: argparse.Namespace, work: str, described: str) -> None:
    """Write WORK/hf (tokenizer + Llama, trained briefly), WORK/shards (held-out val split) and, last,
    `described`: a one-line description of the model, so a later run with --keep can reuse them."""
    tokenizer, train_docs, val_docs = corpus_ids(args.docs, args.tokenizer_vocab, args.seed)
    if len(tokenizer) > args.vocab:
        raise SystemExit(f"--vocab {args.vocab} is smaller than the tokenizer's {len(tokenizer)} tokens")
    torch.manual_seed(args.seed)
    config = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                         num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         num_key_value_heads=args.kv_heads, max_position_embeddings=2048,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params / 1e6:.1f}M parameters, hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}",
          file=sys.stderr)
    if args.train_steps:
        loss = train_briefly(model, train_docs, args.train_steps, args.train_seq, args.train_batch, args.seed)
        weights = (f"trained {args.train_steps} steps of {args.train_batch}x{args.train_seq} tokens "
                   f"(last loss {loss:.2f})")
    else:
        weights = "random weights"
    model.save_pretrained(os.path.join(work, "hf"))
    tokenizer.save_pretrained(os.path.join(work, "hf"))
    write_val_shards(os.path.join(work, "shards"), val_docs, tokenizer.eos_token_id, len(tokenizer))
    description = (f"Llama {params / 1e6:.1f}M parameters (hidden {args.hidden}, {args.layers} layers, {args.heads} "
                   f"heads / {args.kv_heads} kv heads, vocab {args.vocab}), {weights}")
    with open(described, "w", encoding="utf-8") as fh:
        json.dump({"description": description}, fh)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--kv-heads", type=int, default=4)
    parser.add_argument("--intermediate", type=int, default=2048)
    parser.add_argument("--vocab", type=int, default=32000, help="Model vocabulary rows [default: 32000].")
    parser.add_argument("--tokenizer-vocab", type=int, default=4000)
    parser.add_argument("--docs", type=int, default=800, help="Generated corpus documents (40 held out for val).")
    parser.add_argument("--train-steps", type=int, default=40, help="0 keeps the random weights.")
    parser.add_argument("--train-seq", type=int, default=64)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--latency-tokens", type=int, default=64)
    parser.add_argument("--mode", default="dynamic", choices=("dynamic", "static"))
    parser.add_argument("--static-format", default="qdq", choices=("qdq", "qoperator"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads; 0 keeps torch's default.")
    parser.add_argument("--json", metavar="PATH", help="Also write the figures (report.json's and the ratios) here.")
    parser.add_argument("--keep", metavar="DIR", help="Write the model and export here instead of a temp folder; "
                                                     "a DIR from an earlier run is reused (model flags ignored).")
    args = parser.parse_args()

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    work = args.keep or tempfile.mkdtemp(prefix="bench-export-")
    started = time.perf_counter()
    described = os.path.join(work, "bench-model.json")
    if os.path.isfile(described):
        print(f"reusing the model and shards of {work}", file=sys.stderr)
    else:
        build_model_folder(args, work, described)
    with open(described, encoding="utf-8") as fh:
        model_line = json.load(fh)["description"]
    quantize = QuantizeConfig(mode=args.mode, static_format=args.static_format)
    validation = ValidationConfig(manifest=os.path.join(work, "shards"), seq_len=128, windows=8,
                                  latency_tokens=args.latency_tokens, max_ppl_delta_pct=1e9)
    export_config = ExportConfig(overwrite=True, quantize=quantize, validation=validation)
    folder = export_model(os.path.join(work, "hf"), os.path.join(work, "export"), export_config,
                          progress=lambda line: print(line, file=sys.stderr, flush=True))
    report = json.loads((folder / "report.json").read_text())
    latency, sizes = report["latency_ms_per_token"], report["sizes_bytes"]
    speedup = latency["pytorch_eager"] / latency["onnx_int8"]
    size_share = sizes["onnx_int8"] / sizes["pytorch"]
    delta = report["perplexity"]["int8_delta_pct"]
    how = f"static {args.static_format}" if args.mode == "static" else "dynamic"
    print(f"model: {model_line}; INT8 {how}; {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs")
    print(table(report))
    print(f"INT8 vs PyTorch eager: {speedup:.2f}x faster per token "
          f"(aim >= 2x: {'met' if speedup >= 2 else 'NOT met'}), "
          f"{100 * size_share:.1f}% of the size (aim < 33.3%: {'met' if size_share < 1 / 3 else 'NOT met'}), "
          f"perplexity {delta:+.2f}% (aim within 2%: {'met' if abs(delta) <= 2 else 'NOT met'})")
    print(f"ONNX FP32 vs PyTorch eager: {latency['pytorch_eager'] / latency['onnx_fp32']:.2f}x faster per token")
    print(f"folder: {work} ({time.perf_counter() - started:.0f}s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"model": model_line, "quantize": how, "latency_ms_per_token": latency, "sizes_bytes": sizes,
                       "perplexity": report["perplexity"], "int8_speedup_vs_pytorch": speedup,
                       "fp32_speedup_vs_pytorch": latency["pytorch_eager"] / latency["onnx_fp32"],
                       "int8_size_share": size_share, "machine": report["machine"]}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
