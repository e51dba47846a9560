"""A small run folder written from the documented formats (docs/CONTRACTS.md sections 2, 3 and 6,
docs/RUN.md), with known counts, so the report's numbers can be checked against what was planted.

The corpus: 12 documents d00..d11. clean rejects d10 (junk, gopher_too_few_words) and d11 (read:
bad_encoding, junk); dedup removes d01 as an exact duplicate of d00, d02 as a near duplicate of d01
(a chain: d02 -> d01 -> d00) and d04 near of d03; ppl-filter (absolute, max_ppl 100) rejects d05
and d06 and keeps d00 d03 d07 d08 d09; backtranslate adds 2 augmentations and rejects 1 of them.
"""

from __future__ import annotations

import json
import os
import shutil

import matplotlib
import pyarrow as pa
import pyarrow.parquet as pq

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fullchain.pipelines.ledger import build_ledger, summarize_measure
from fullchain.pipelines.real_text.corpus import PLANTED_FILE
from fullchain.pipelines.shard.manifest import build_manifest, manifest_bytes
from fullchain.pipelines.stage_folder import describe_part

BASE = ("the river that runs through the old town carries the snow of the mountains down to the sea "
        "and every spring the water rises over the stones of the bridge")
TEXT = {f"d{i:02d}": f"{BASE} document {i} " + " ".join(f"w{i}x{j}" for j in range(30)) for i in range(12)}
TEXT["d01"] = TEXT["d00"]
TEXT["d02"] = TEXT["d00"].replace("w0x5 ", "changed words ")
TEXT["d04"] = TEXT["d03"].replace("w3x20", "other")
PPL = {"d00": 20.5, "d03": 35.25, "d07": 60.0, "d08": 99.5, "d09": 12.0, "d05": 150.0, "d06": 900.75}
PLANTED = [{"id": "d01", "kind": "exact_duplicate", "source_id": "d00"},
           {"id": "d02", "kind": "near_duplicate", "source_id": "d00"},
           {"id": "d04", "kind": "near_duplicate", "source_id": "d03"},
           {"id": "d07", "kind": "near_duplicate", "source_id": "d08"},   # missed by dedup
           {"id": "d03", "kind": "near_duplicate", "source_id": "d04"},   # dedup kept the copy, removed its source
           {"id": "d10", "kind": "junk_short", "source_id": None},
           {"id": "d11", "kind": "junk_binary", "source_id": None}]
LOSSES = [(10, 9.0), (20, 6.0), (30, 4.5), (40, 3.5)]
VAL = [(20, 5.5, 244.69), (40, 3.2, 24.53)]


def _doc(doc_id: str, meta: dict | None = None) -> dict:
    return {"id": doc_id, "text": TEXT[doc_id], "lang": "en", "source": "corpus/c.jsonl.gz",
            "meta": json.dumps(meta or {})}


def _rejected(doc_id: str, stage: str, reason: str, duplicate_of: str | None = None, meta: dict | None = None):
    return {**_doc(doc_id, meta), "stage": stage, "reason": reason, "detail": "", "duplicate_of": duplicate_of}


def write_stage(run_dir: str, folder: str, stage: str, input_count: int, kept: list[dict], rejected: list[dict],
                params: dict, added: int = 0, added_kept: int = 0, measures: dict | None = None,
                tallies: dict | None = None) -> dict:
    """A stage folder as stage_job writes it: data/ and rejected/ Parquet, then ledger.json."""
    out = os.path.join(run_dir, folder)
    for part, rows in (("data", kept), ("rejected", rejected)):
        os.makedirs(os.path.join(out, part))
        if rows:
            pq.write_table(pa.Table.from_pylist(rows), os.path.join(out, part, "part-00000-of-00001.parquet"))
    parts = [describe_part(os.path.join(out, "data", name)) for name in sorted(os.listdir(os.path.join(out, "data")))]
    reasons: dict[str, int] = {}
    for row in rejected:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    ledger = build_ledger(stage, input_count, len(kept), reasons.items(), params, ["in"], "local", parts,
                          added=added, added_kept=added_kept, measures=measures, tallies=tallies)
    with open(os.path.join(out, "ledger.json"), "w") as fh:
        json.dump(ledger, fh)
    return ledger


def write_run(run_dir: str, stages: str = "all") -> str:
    """Write the run folder; stages="data" stops after the shards (no train, export, serving)."""
    os.makedirs(os.path.join(run_dir, "corpus"))
    with open(os.path.join(run_dir, "corpus", PLANTED_FILE), "w") as fh:
        json.dump(PLANTED, fh)
    ids = sorted(TEXT)
    clean_kept = [_doc(i) for i in ids if i not in ("d10", "d11")]
    write_stage(run_dir, "clean", "clean", 12, clean_kept,
                [_rejected("d10", "clean", "gopher_too_few_words"), _rejected("d11", "read", "bad_encoding")],
                {"clean": {}}, tallies={"pii_documents.email": 2, "pii_redacted.email": 3})
    removed = {"d01": ("exact_duplicate", "d00"), "d02": ("near_duplicate", "d01"), "d04": ("near_duplicate", "d03")}
    write_stage(run_dir, "dedup", "dedup", 10, [d for d in clean_kept if d["id"] not in removed],
                [_rejected(i, "dedup", reason, parent) for i, (reason, parent) in removed.items()], {"dedup": {}})
    ppl_params = {"ppl_filter": {"mode": "absolute", "max_ppl": 100.0, "max_ppl_by_lang": []}}
    write_stage(run_dir, "ppl-filter", "ppl_filter", 7,
                [_doc(i, {"ppl": PPL[i], "ppl_bucket": "head"}) for i in ("d00", "d03", "d07", "d08", "d09")],
                [_rejected(i, "ppl_filter", "perplexity", meta={"ppl": PPL[i], "ppl_bucket": "tail"})
                 for i in ("d05", "d06")], ppl_params)
    write_stage(run_dir, "backtranslate", "backtranslate", 5,
                [_doc(i) for i in ("d00", "d03", "d07", "d08", "d09")] + [{**_doc("d00"), "id": "aug-1"}],
                [{**_rejected("d03", "backtranslate", "roundtrip_language"), "id": "aug-2"}],
                {"backtranslate": {"gate": {"min_similarity": 0.25, "max_similarity": 0.9}}}, added=2, added_kept=1,
                measures={"roundtrip_bleu": summarize_measure([40.0, 10.0]),
                          "roundtrip_chrf": summarize_measure([60.0, 20.0])})
    os.makedirs(os.path.join(run_dir, "shard"))
    shards = [{"split": "train", "path": "train/shard-000000.tar", "samples": 5, "tokens": 400, "bytes": 10240,
               "sha256": "0" * 64},
              {"split": "val", "path": "val/shard-000000.tar", "samples": 1, "tokens": 80, "bytes": 2048,
               "sha256": "1" * 64}]
    manifest = build_manifest(shards, 6, {"empty_after_tokenization": 0}, {"source": "trained", "sha256": "2" * 64},
                              "uint16", {}, [])
    with open(os.path.join(run_dir, "shard", "manifest.json"), "wb") as fh:
        fh.write(manifest_bytes(manifest))
    if stages == "data":
        return run_dir
    _write_model_stages(run_dir)
    return run_dir


def _write_model_stages(run_dir: str) -> None:
    train = os.path.join(run_dir, "train")
    checkpoint = os.path.join(train, "checkpoints", "step_00000040")
    os.makedirs(checkpoint)
    os.makedirs(os.path.join(train, "hf"))
    with open(os.path.join(train, "hf", "model.safetensors"), "wb") as fh:
        fh.write(b"weights")
    with open(os.path.join(checkpoint, "state.json"), "w") as fh:
        json.dump({"step": 40, "tokens": 20480, "config": {"data": {"manifest": os.path.join(run_dir, "shard")}}}, fh)
    open(os.path.join(checkpoint, "COMPLETE"), "w").close()
    with open(os.path.join(train, "metrics.jsonl"), "w") as fh:
        for step, loss in LOSSES:
            fh.write(json.dumps({"step": step, "train/loss": loss, "train/lr": 0.001, "train/tokens": step * 512,
                                 "train/tokens_per_s": 1000.0 + step}) + "\n")
        for step, loss, ppl in VAL:
            fh.write(json.dumps({"step": step, "val/loss": loss, "val/ppl": ppl}) + "\n")
    reference = os.path.join(run_dir, "reference-lm", "train")
    os.makedirs(reference)
    with open(os.path.join(reference, "metrics.jsonl"), "w") as fh:
        fh.writelines(json.dumps({"step": step, "val/loss": loss, "val/ppl": 2.0 ** loss}) + "\n" for step, loss in
                      ((5, 8.0), (10, 6.0)))
    with open(os.path.join(train, "samples.json"), "w") as fh:
        json.dump({"prompts": ["The river"], "max_new_tokens": 8, "val_windows": 2, "seq_len": 16,
                   "samples": [{"step": 0, "model": "untrained", "val_ppl": 8000.5, "texts": ["zq xv zq"]},
                               {"step": 40, "model": "trained", "val_ppl": 24.5,
                                "texts": ["The river that runs through"]}]}, fh)
    export = os.path.join(run_dir, "export")
    os.makedirs(export)
    report = {"precision": "int8-dynamic", "passed": True, "logits_rel_error": 5e-7,
              "perplexity": {"pytorch": 24.5, "onnx_fp32": 24.5, "onnx_int8": 24.9, "onnx_int4": 26.0,
                             "int8_delta_pct": 1.63},
              "top1_agreement_int8_fp32": 0.95,
              "latency_ms_per_token": {"pytorch_eager": 2.5, "onnx_fp32": 1.0, "onnx_int8": 0.8, "onnx_int4": 0.7},
              "sizes_bytes": {"pytorch": 11_000_000, "onnx_fp32": 11_200_000, "onnx_int8": 3_000_000,
                              "onnx_int4": 2_000_000},
              "machine": {"cpus": 2, "torch_threads": 2, "load_average_1m": 1.5}, "validation_text": "val split"}
    with open(os.path.join(export, "report.json"), "w") as fh:
        json.dump(report, fh)
    with open(os.path.join(export, "export.json"), "w") as fh:
        json.dump({"format": "fullchain-onnx-export", "precision": "int8-dynamic", "source": os.path.join(train, "hf")},
                  fh)
    version = os.path.join(run_dir, "publish", "demo_generate", "1")
    os.makedirs(version)
    shutil.copy(os.path.join(export, "export.json"), version)
    os.makedirs(os.path.join(run_dir, "serve"))
    with open(os.path.join(run_dir, "serve", "smoke.json"), "w") as fh:
        json.dump({"prompt": "The river", "completion": " that runs", "tokens": 2, "latency_s": 0.25, "seconds": 0.3,
                   "finish_reason": "length"}, fh)
    os.makedirs(os.path.join(run_dir, "loadtest"))
    levels = [{"concurrency": c, "requests": 10 * c, "errors": 0, "duration_s": 5.0, "requests_per_s": 2.0 * c,
               "tokens_per_s": 64.0 * c, "p50_ms": 100.0 + c, "p95_ms": 150.0 + c, "p99_ms": 200.0 + c,
               "ttft_p50_ms": 20.0 + c, "itl_p50_ms": 3.0 + c / 10, "first_error": None} for c in (1, 2, 4)]
    with open(os.path.join(run_dir, "loadtest", "loadtest.json"), "w") as fh:
        json.dump({"model": "demo_generate", "protocol": "grpc", "max_tokens": 32, "duration_s": 5.0,
                   "levels": levels}, fh)
    os.makedirs(os.path.join(run_dir, "eval"))
    with open(os.path.join(run_dir, "eval", "results.json"), "w") as fh:
        json.dump({"results": {"lambada": {"alias": "lambada", "sample_len": 4, "acc,none": 0.25,
                                           "acc_stderr,none": "N/A"}}, "fullchain_model": {"label": "onnx-int8"}}, fh)
    with open(os.path.join(run_dir, "eval", "comparison.json"), "w") as fh:
        json.dump({"format": "fullchain-eval-comparison", "labels": ["hf", "onnx-int8"],
                   "scores": {"lambada": {"acc": {"hf": 0.3, "onnx-int8": 0.25}, "perplexity": {"hf": 80.5}}}}, fh)
    plt.imsave(os.path.join(run_dir, "eval", "comparison.png"), [[0.0, 1.0], [1.0, 0.0]])
    os.makedirs(os.path.join(run_dir, "served-eval"))
    with open(os.path.join(run_dir, "served-eval", "comparison.json"), "w") as fh:
        json.dump({"format": "fullchain-eval-comparison", "labels": ["served-demo-llm", "onnx-int8-echo"],
                   "scores": {"lambada": {"acc": {"served-demo-llm": 0.25, "onnx-int8-echo": 0.25},
                                          "perplexity": {"served-demo-llm": 80.5, "onnx-int8-echo": 80.4}}}}, fh)
    os.makedirs(os.path.join(run_dir, "publish", "demo", "1"))
    with open(os.path.join(run_dir, "publish", "demo", "1", "release.json"), "w") as fh:
        json.dump({"precision": "int8-dynamic", "forced": False, "decision": "passed", "reference": "hf",
                   "quantized": "onnx-int8", "failures": [],
                   "checked": [{"task": "lambada", "metric": "acc", "fp32": 0.3, "quantized": 0.25,
                                "drop_points": 5.0}]}, fh)
    with open(os.path.join(run_dir, "run.json"), "w") as fh:
        json.dump({"format_version": 1, "config": "examples/quickstart.yaml", "status": "complete",
                   "started": "2026-12-02T03:00:00Z", "finished": "2026-12-02T03:12:00Z",
                   "stages": {"clean": {"status": "ran", "seconds": 12.5, "key_figure": {"text": "10 of 12 kept"}},
                              "publish": {"status": "ran", "seconds": 1.0, "key_figure": {"value": 1, "text": "v1"}},
                              "lora": {"status": "not_configured"}}}, fh)
