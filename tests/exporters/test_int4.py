"""INT4 weight-only export (MatMulNBits, block-quantized embedding): the same report rows as INT8,
its graph served by the same decoding loop, smaller than INT8, and its scores do not depend on the batch."""

import json
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from fullchain.exporters import kv_decoding
from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model
from fullchain.exporters.validation_report import table

VALIDATION = ValidationConfig(seq_len=32, windows=3, greedy_tokens=8, latency_tokens=3, max_int4_ppl_delta_pct=50.0)


@pytest.fixture(scope="module")
def int4_export(tiny_lm, tmp_path_factory):
    config = ExportConfig(quantize=QuantizeConfig(mode="int4", int4_block_size=32), validation=VALIDATION)
    return export_model(tiny_lm, str(tmp_path_factory.mktemp("int4") / "tiny4"), config)


def test_int4_export_quantizes_every_matmul_and_the_embedding(int4_export):
    meta = json.loads((int4_export / "export.json").read_text())
    assert meta["precision"] == "int4" and meta["quantize"]["int4_block_size"] == 32
    ops = Counter(node.op_type for node in onnx.load(str(int4_export / "model.onnx")).graph.node)
    fp32_ops = Counter(node.op_type for node in onnx.load(str(int4_export / "fp32" / "model.onnx")).graph.node)
    assert ops["MatMulNBits"] >= 2 * 7 + 1 and ops["GatherBlockQuantized"] == 1
    assert ops["MatMul"] == fp32_ops["MatMul"] - ops["MatMulNBits"]
    report = json.loads((int4_export / "report.json").read_text())
    assert report["quantized"] == "INT4" and "onnx_int8" in report["perplexity"]
    assert report["checks"]["int8_ppl_delta_pct"]["bound"] == 50.0
    assert "ONNX INT4" in table(report) and report["greedy"]["onnx_fp32_equal"]


def test_int4_logits_do_not_depend_on_the_batch(int4_export):
    meta = json.loads((int4_export / "export.json").read_text())
    spec = kv_decoding.DecoderSpec.from_export(meta)
    run = kv_decoding.session_runner(ort.InferenceSession(str(int4_export / "model.onnx"),
                                                          providers=["CPUExecutionProvider"]))
    rows = [[5, 9, 14, 30, 7, 8], [3, 99, 120, 4]]
    together = run(kv_decoding.prefill_feeds(spec, rows))["logits"]
    alone = run(kv_decoding.prefill_feeds(spec, rows[1:]))["logits"]
    assert np.abs(together[1, -4:] - alone[0]).max() < 1e-4
