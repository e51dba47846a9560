"""The options of `fullchain export`: the ONNX graph, INT8 quantization and the validation report."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option

QUANTIZE_MODES = ("dynamic", "static", "int4", "none")
STATIC_FORMATS = ("qdq", "qoperator")
INT4_BLOCK_SIZES = (32, 64, 128)
INT4_ALGORITHMS = ("rtn", "hqq")
# protobuf cannot serialize one message over 2 GiB; stay a little below it
PROTO_LIMIT_BYTES = 2_000_000_000
MIN_SEQ_LEN = 16


@dataclass(kw_only=True)
class GraphConfig:
    """How the decoder is traced to ONNX."""

    external_data_threshold_bytes: int = option(
        PROTO_LIMIT_BYTES, "Save the weights in model.onnx.data beside model.onnx when they exceed this many bytes "
                           "(a protobuf file cannot exceed 2 GB).")

    def __post_init__(self) -> None:
        if self.external_data_threshold_bytes < 0:
            raise ValueError(f"external_data_threshold_bytes must be >= 0, got {self.external_data_threshold_bytes}")


@dataclass(kw_only=True)
class QuantizeConfig:
    """INT8 and INT4 quantization with onnxruntime.quantization."""

    mode: str = option("dynamic", "dynamic: INT8 per-channel weights, activations quantized at run time; static: "
                                  "QDQ with activation ranges calibrated on validation text; int4: 4-bit block-wise "
                                  "weights (MatMulNBits), activations stay float; none: serve FP32.")
    per_channel: bool = option(True, "One scale per output channel of each weight (more accurate than per tensor).")
    preprocess: bool = option(True, "Run ONNX Runtime's quantization pre-processing (shape inference and graph "
                                    "optimisation) on the FP32 graph first, as ORT recommends.")
    calibration_windows: int = option(16, "Static mode: validation windows used to calibrate activation ranges.")
    static_format: str = option("qdq", "Static mode: qdq (QuantizeLinear/DequantizeLinear around float ops, "
                                       "portable; slow on the CPU) or qoperator (integer ops such as "
                                       "QLinearMatMul; fast on the CPU).")

    int4_block_size: int = option(32, "int4: weights per block sharing one scale (32, 64 or 128; smaller is more "
                                      "accurate and larger).")
    int4_algorithm: str = option("rtn", "int4: rtn (round to nearest, ONNX Runtime's block quantizer) or hqq "
                                        "(half-quadratic, fits scales and zero points; MatMul only, the embedding "
                                        "then rtn).")
    int4_embedding: bool = option(True, "int4: block-quantize the embedding Gather too (GatherBlockQuantized); off: "
                                        "it stays FP32.")

    def __post_init__(self) -> None:
        if self.int4_block_size not in INT4_BLOCK_SIZES:
            raise ValueError(f"int4_block_size must be one of {', '.join(map(str, INT4_BLOCK_SIZES))}, got "
                             f"{self.int4_block_size}")
        if self.int4_algorithm not in INT4_ALGORITHMS:
            raise ValueError(f"int4_algorithm must be one of {', '.join(INT4_ALGORITHMS)}, got {self.int4_algorithm!r}")
        if self.mode not in QUANTIZE_MODES:
            raise ValueError(f"mode must be one of {', '.join(QUANTIZE_MODES)}, got {self.mode!r}")
        if self.static_format not in STATIC_FORMATS:
            raise ValueError(f"static_format must be one of {', '.join(STATIC_FORMATS)}, got {self.static_format!r}")
        if self.calibration_windows < 1:
            raise ValueError(f"calibration_windows must be >= 1, got {self.calibration_windows}")


@dataclass(kw_only=True)
class ValidationConfig:
    """The validation report: accuracy of the ONNX graphs against PyTorch, and speed."""

    manifest: str = option("", "Shard output folder (or its manifest.json) whose val split is the validation "
                               "text; empty for a small built-in English sample.")
    seq_len: int = option(128, "Tokens per perplexity window.")
    windows: int = option(8, "Perplexity windows (of seq_len tokens) scored on each graph.")
    max_logits_rel_error: float = option(1e-4, "Fail when the FP32 graph's logits differ from PyTorch's by more "
                                               "than this: max |onnx - torch| / max |torch|.")
    max_ppl_delta_pct: float = option(2.0, "Fail when the quantized (INT8 or INT4) graph's perplexity exceeds the "
                                           "FP32 graph's by more than this many percent.")
    max_int4_ppl_delta_pct: float = option(3.0, "The same bound for an INT4 graph (4-bit weights cost more than "
                                                "INT8's 8).")
    greedy_tokens: int = option(16, "New tokens generated greedily by PyTorch and ONNX for the equality check.")
    latency_tokens: int = option(32, "Decode steps timed per engine for the latency per token.")

    def __post_init__(self) -> None:
        for name in ("seq_len", "windows", "greedy_tokens", "latency_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seq_len < MIN_SEQ_LEN:
            raise ValueError(f"seq_len must be >= {MIN_SEQ_LEN} (the greedy check's prompts are cut from the "
                             f"windows), got {self.seq_len}")
        if self.max_logits_rel_error <= 0 or self.max_ppl_delta_pct < 0 or self.max_int4_ppl_delta_pct < 0:
            raise ValueError("max_logits_rel_error must be > 0, max_ppl_delta_pct and max_int4_ppl_delta_pct >= 0")


@dataclass(kw_only=True)
class ExportConfig:
    """fullchain export: an HF Llama-architecture causal LM to ONNX with a key/value cache, INT8, and a report."""

    overwrite: bool = option(False, "Replace an existing export folder (one holding export.json); without it an "
                                     "existing non-empty output is refused.")
    graph: GraphConfig = option(GraphConfig(), "The ONNX graph.")
    quantize: QuantizeConfig = option(QuantizeConfig(), "INT8 quantization.")
    validation: ValidationConfig = option(ValidationConfig(), "The validation report.")
