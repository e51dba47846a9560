"""INT8 and INT4 versions of the FP32 decoder graph with onnxruntime.quantization.

- dynamic (default): weights INT8 per output channel, activations quantized on the fly per call;
  needs no data and suits a decoder whose activation ranges vary from step to step.
- static: activation ranges calibrated (MinMax) on feeds built from validation text, so nothing
  is computed at run time to find ranges; MatMul and Gather quantized. Format "qdq" (default):
  QuantizeLinear/DequantizeLinear pairs around float operators, ORT's recommended portable form;
  on the CPU the MatMuls then stay float and dequantize their weights every call (slow).
  Format "qoperator": integer operators (QLinearMatMul), fast on the CPU.

- int4: weight-only, block-wise 4-bit weights (block of 32, 64 or 128 weights per scale) with
  ONNX Runtime's MatMulNBits quantizer: MatMul -> MatMulNBits, and the embedding Gather ->
  GatherBlockQuantized; activations stay float, so unlike dynamic INT8 a row's logits do not
  depend on its batch mates. `rtn` rounds each weight to the nearest level of its block's scale;
  `hqq` fits scale and zero point per block (half-quadratic optimisation, MatMul only; the
  embedding then takes rtn). GatherBlockQuantized holds 4-bit data, which needs opset 21: the
  graph is converted from opset 17 first (onnx.version_converter).

The INT8 modes start, when `preprocess` is on, from ONNX Runtime's pre-processing (symbolic shape inference
and offline graph optimisation), as its quantization guide recommends.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Iterator, Sequence

import numpy as np
import onnx
from onnx import version_converter
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from fullchain.exporters import kv_decoding
from fullchain.exporters.onnx_graph import MODEL_FILE, file_bytes, save_onnx

PRECISIONS = {"dynamic": "int8-dynamic", "static": "int8-static", "int4": "int4", "none": "fp32"}
# 4-bit tensors exist from opset 21 (and IR version 10) on
INT4_OPSET = 21
# static mode quantizes the matrix products and the embedding lookup: quantizing the Add/Mul/Softmax
# activations of a decoder costs far more accuracy than it saves time
STATIC_OP_TYPES = ["MatMul", "Gather"]


class FeedReader(CalibrationDataReader):
    """Hands quantize_static a fixed list of graph feeds, one per call."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]):
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def calibration_feeds(run: kv_decoding.Run, spec: kv_decoding.DecoderSpec,
                      windows: Sequence[Sequence[int]]) -> list[dict[str, np.ndarray]]:
    """Feeds that look like serving: each window's first half is computed by the FP32 graph (`run`),
    and its second half is fed with that half's keys/values as the past, so the past inputs get
    calibrated ranges too (an empty past has none)."""
    feeds = []
    for window in windows:
        half = max(1, len(window) // 2)
        first = kv_decoding.prefill_feeds(spec, [window[:half]])
        outputs = run(first)
        rest = np.asarray([window[half:]], dtype=np.int64)
        mask = np.ones((1, len(window)), dtype=np.int64)
        feed = {"input_ids": rest, "attention_mask": mask,
                "position_ids": np.arange(half, len(window), dtype=np.int64)[None, :]}
        for i in range(spec.num_layers):
            for kind in ("key", "value"):
                feed[f"past_key_values.{i}.{kind}"] = outputs[f"present.{i}.{kind}"]
        feeds.append(feed)
    return feeds


def quantize_graph(fp32_path: str, output_path: str, mode: str, per_channel: bool, preprocess: bool,
                   external_data_threshold_bytes: int, calibration: Sequence[dict[str, np.ndarray]] | None = None,
                   static_format: str = "qdq") -> None:
    """Write the INT8 graph of the FP32 ONNX file `fp32_path` to `output_path` (mode "dynamic" or
    "static"; static needs `calibration` feeds and takes `static_format` "qdq" or "qoperator")."""
    if mode == "static" and not calibration:
        raise ValueError("static quantization needs calibration feeds")
    # the scratch graphs keep the FP32 graph's layout; the final one is laid out by its own size
    external = file_bytes(fp32_path) > external_data_threshold_bytes
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(output_path))) as scratch:
        source = fp32_path
        if preprocess:
            source = os.path.join(scratch, "preprocessed.onnx")
            quant_pre_process(fp32_path, source, save_as_external_data=external, all_tensors_to_one_file=True,
                              external_data_location="preprocessed.onnx.data")
        quantized = os.path.join(scratch, MODEL_FILE)
        if mode == "dynamic":
            quantize_dynamic(source, quantized, per_channel=per_channel, weight_type=QuantType.QInt8,
                             use_external_data_format=external)
        elif static_format == "qdq":
            quantize_static(source, quantized, FeedReader(calibration), quant_format=QuantFormat.QDQ,
                            op_types_to_quantize=STATIC_OP_TYPES, per_channel=per_channel,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, use_external_data_format=external,
                            extra_options={"ActivationSymmetric": True})
        else:
            # integer operators (QLinearMatMul) take unsigned activations with a zero point on x86
            quantize_static(source, quantized, FeedReader(calibration), quant_format=QuantFormat.QOperator,
                            op_types_to_quantize=STATIC_OP_TYPES, per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, use_external_data_format=external)
        save_onnx(onnx.load(quantized), output_path, external_data_threshold_bytes)


def quantize_int4(fp32_path: str, output_path: str, block_size: int, algorithm: str, embedding: bool,
                  external_data_threshold_bytes: int) -> None:
    """Write the INT4 weight-only graph of the FP32 ONNX file `fp32_path` to `output_path`:
    MatMulNBits for every MatMul with a constant weight, GatherBlockQuantized for the embedding
    when `embedding` (symmetric blocks of `block_size`; `algorithm` "rtn" or "hqq")."""
    # the quantizer's import needs onnx-ir; only INT4 exports pay for it
    from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                 HQQWeightOnlyQuantConfig, MatMulNBitsQuantizer)

    model = onnx.load(fp32_path)
    if embedding:
        model = version_converter.convert_version(model, INT4_OPSET)
    rtn_ops = ("Gather",) if embedding else ()
    if algorithm == "hqq":
        model = _weight_only(model, MatMulNBitsQuantizer, HQQWeightOnlyQuantConfig(
            block_size=block_size, bits=4, op_types_to_quantize=("MatMul",)))
    else:
        rtn_ops = ("MatMul", *rtn_ops)
    if rtn_ops:
        model = _weight_only(model, MatMulNBitsQuantizer, DefaultWeightOnlyQuantConfig(
            block_size=block_size, is_symmetric=True, bits=4, op_types_to_quantize=rtn_ops,
            quant_axes=(("MatMul", 0), ("Gather", 1))))
    save_onnx(model, output_path, external_data_threshold_bytes)


def _weight_only(model: onnx.ModelProto, quantizer_class: type, config: object) -> onnx.ModelProto:
    # the quantizer logs a line per node it leaves alone, and warns that it raises the IR version (to 10, as 4-bit
    # tensors need): the export's own progress lines say what happens
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.ERROR)
    quantizer = quantizer_class(model, algo_config=config)
    # an all-zero block (the padding token's embedding row) divides 0 by a 0 scale; it is stored as 0
    with np.errstate(invalid="ignore", divide="ignore"):
        quantizer.process()
    return quantizer.model.model
