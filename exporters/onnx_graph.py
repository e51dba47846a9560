"""The decoder as an ONNX graph with its key/value cache as flat inputs and outputs.

The graph takes the past keys/values of every layer and returns the present ones, so generation
computes one token per step (names and shapes: docs/CONTRACTS.md section 6). It is traced with the
TorchScript exporter (`dynamo=False`, opset 17) from a small module whose forward takes flat
tensors and builds a transformers `DynamicCache`, which the model updates in place.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any

import onnx
import torch
from transformers import DynamicCache

OPSET = 17
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
# tensors smaller than this stay inside model.onnx: ONNX Runtime's shape inference reads small
# constants (shapes, axes) from the graph itself and cannot follow them into external data
EXTERNAL_MIN_TENSOR_BYTES = 1024
_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64", onnx.TensorProto.FLOAT16: "float16"}


def past_names(num_layers: int) -> list[str]:
    """The past key/value input names, layer by layer, key before value."""
    return [f"past_key_values.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]


def present_names(num_layers: int) -> list[str]:
    """The present key/value output names, in the order of `past_names`."""
    return [f"present.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]


class FlatCacheDecoder(torch.nn.Module):
    """A causal LM whose cache goes in and out as flat tensors: forward(input_ids, attention_mask,
    position_ids, *past) -> (logits, *present), past/present ordered as `past_names`."""

    def __init__(self, model: Any):
        super().__init__()
        self.model = model
        self.num_layers = model.config.num_hidden_layers

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cache = DynamicCache(config=self.model.config)
        for i in range(self.num_layers):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def dummy_inputs(model: Any, past_len: int = 3, seq: int = 4) -> tuple[torch.Tensor, ...]:
    """Trace inputs: a batch of 2 whose first row is left-padded, with a past longer than 0, so no
    shape is specialised to 0 or 1 and the mask arithmetic is traced with padding present."""
    config = model.config
    heads = config.num_key_value_heads or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, config.vocab_size, (2, seq), generator=generator)
    mask = torch.ones(2, past_len + seq, dtype=torch.int64)
    mask[0, :2] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, past_len:]
    past = [torch.randn(2, heads, past_len, head_dim, generator=generator)
            for _ in range(2 * config.num_hidden_layers)]
    return (input_ids, mask, positions, *past)


def export_decoder(model: Any, path: str, external_data_threshold_bytes: int) -> onnx.ModelProto:
    """Trace `model` (an HF causal LM in eval mode) to the ONNX file `path`; returns the graph
    (weights included). Weights go to model.onnx.data beside it when over the threshold."""
    layers = model.config.num_hidden_layers
    inputs = ["input_ids", "attention_mask", "position_ids", *past_names(layers)]
    outputs = ["logits", *present_names(layers)]
    axes = {"input_ids": {0: "batch", 1: "seq"}, "position_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "past_seq"}, "logits": {0: "batch", 1: "seq"}}
    axes.update({name: {0: "batch", 2: "past"} for name in past_names(layers)})
    axes.update({name: {0: "batch", 2: "past_seq"} for name in present_names(layers)})
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as scratch:
        # the exporter writes its own external-data layout for big models; load and save it in ours
        traced = os.path.join(scratch, MODEL_FILE)
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer warns at each Python-level branch of the cache and mask code; traced with a
            # past > 0 and padding, the recorded paths also hold for an empty past and for no padding
            # (the tests compare both against PyTorch)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # the TorchScript exporter is deprecated, but the dynamo one needs onnxscript (not a dependency)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(FlatCacheDecoder(model), dummy_inputs(model), traced, dynamo=False,
                              opset_version=OPSET, input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, do_constant_folding=True)
        graph = onnx.load(traced)
    save_onnx(graph, path, external_data_threshold_bytes)
    return graph


def save_onnx(graph: onnx.ModelProto, path: str, external_data_threshold_bytes: int) -> None:
    """Write `graph` to `path`; its weights go to model.onnx.data beside it when they exceed the
    threshold (a protobuf file cannot exceed 2 GB)."""
    external = weight_bytes(graph) > external_data_threshold_bytes
    onnx.save_model(graph, path, save_as_external_data=external, all_tensors_to_one_file=True,
                    location=DATA_FILE if external else None, size_threshold=EXTERNAL_MIN_TENSOR_BYTES)


def weight_bytes(graph: onnx.ModelProto) -> int:
    """Bytes of the graph's initializers (what external data would hold)."""
    total = 0
    for tensor in graph.graph.initializer:
        if tensor.HasField("raw_data"):
            total += len(tensor.raw_data)
        else:
            total += onnx.numpy_helper.to_array(tensor).nbytes
    return total


def graph_io(path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The inputs and outputs of the ONNX file at `path` as export.json lists them: name, dtype
    and dims (-1 where the dimension is dynamic)."""
    graph = onnx.load(path, load_external_data=False).graph

    def describe(value: onnx.ValueInfoProto) -> dict[str, Any]:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        return {"name": value.name, "dtype": _DTYPES.get(tensor.elem_type, str(tensor.elem_type)), "dims": dims}

    initializers = {t.name for t in graph.initializer}
    return ([describe(v) for v in graph.input if v.name not in initializers], [describe(v) for v in graph.output])


def file_bytes(path: str) -> int:
    """Size of an ONNX file plus its external data file, if any."""
    data = os.path.join(os.path.dirname(path), DATA_FILE)
    return os.path.getsize(path) + (os.path.getsize(data) if os.path.isfile(data) else 0)
