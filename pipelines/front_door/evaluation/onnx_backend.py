"""`fullchain-onnx`: an export folder's ONNX graph (the served one, FP32, INT8 or INT4, or the FP32
graph beside it) run with ONNX Runtime through the project's own decoding loop
(exporters/kv_decoding.py), as lm-evaluation-harness's `LM`.

    lm_eval --model fullchain-onnx --model_args path=out/export,graph=fp32 ...   (see lm_eval_cli.py)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from fullchain.deploy.repository import RepositoryError, read_export
from fullchain.evaluation.harness_lm import BackendError, FullchainLM, batch_count, flag, loop_generation
from fullchain.exporters import kv_decoding

GRAPHS = ("served", "fp32")
# dynamic INT8 quantizes each call's activations with one scale for the whole batch: a row's
# logits then depend on its batch mates, so its rows are generated alone, as one request is served
BATCH_DEPENDENT_PRECISIONS = ("int8-dynamic",)


def export_graph(path: str, graph: str) -> tuple[dict[str, Any], Path, str]:
    """(export.json, the graph file, its precision) of an export folder; BackendError in one line
    for a folder that is not a complete export or has no such graph."""
    if graph not in GRAPHS:
        raise BackendError(f"graph must be one of {', '.join(GRAPHS)}, got {graph!r}")
    try:
        meta = read_export(path)
    except RepositoryError as e:
        raise BackendError(str(e)) from None
    if graph == "served":
        return meta, Path(path) / meta["model_file"], str(meta.get("precision", "unknown"))
    if meta.get("fp32_model_file") is None:
        if meta.get("precision") == "fp32":
            return meta, Path(path) / meta["model_file"], "fp32"
        raise BackendError(f"{path}: export.json names no FP32 graph (fp32_model_file)")
    fp32 = Path(path) / meta["fp32_model_file"]
    if not fp32.is_file():
        raise BackendError(f"{path}: the FP32 graph {meta['fp32_model_file']} is missing")
    return meta, fp32, "fp32"


class OnnxLM(FullchainLM):
    """lm-evaluation-harness model over an export folder (`path`), graph `served` (model.onnx,
    default) or `fp32`; `threads` sets ONNX Runtime's intra-op threads (0: its default); `full_rows`
    scores rows whole, as a server's echo does (harness_lm.py)."""

    def __init__(self, path: str, graph: str = "served", batch_size: int | str = 8,
                 generation_batch_size: int | str | None = None, threads: int | str = 0,
                 full_rows: bool | str = False, **kwargs: Any):
        meta, model_file, precision = export_graph(path, graph)
        self.precision = precision
        batch = batch_count(batch_size, 8)
        gen_batch = batch_count(generation_batch_size, 1 if precision in BATCH_DEPENDENT_PRECISIONS else batch)
        super().__init__(path, int(meta.get("max_positions") or 2048), meta.get("bos_token_id"),
                         meta.get("stop_token_ids") or [], batch, gen_batch, f"onnx {precision}", flag(full_rows))
        self.spec = kv_decoding.DecoderSpec.from_export(meta)
        options = ort.SessionOptions()
        if int(threads) > 0:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(os.fspath(model_file), options, providers=["CPUExecutionProvider"])
        self.run = kv_decoding.session_runner(self.session)
        self.model_file = os.fspath(model_file)

    def batch_logits(self, rows: list[list[int]]) -> np.ndarray:
        return self.run(kv_decoding.prefill_feeds(self.spec, rows))["logits"]

    def generate_tokens(self, prompts: list[list[int]], texts: list[str], max_tokens: int,
                        until: list[str]) -> list[list[int]]:
        return loop_generation(self.run, self.spec, prompts, max_tokens, self.eos_token_ids, until, self.tok_decode)

