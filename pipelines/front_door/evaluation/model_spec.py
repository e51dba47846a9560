"""What a MODEL argument of `fullchain eval` names, checked before any work: an HF folder
(`fullchain-hf`), an export folder (`fullchain-onnx`, its served graph; `EXPORT#fp32` for the FP32
graph beside it; `EXPORT#echo` for its served graph scored as `<name>_llm`'s echo scores it: whole
rows, one at a time), or a served model `http://HOST:PORT/NAME` (`fullchain-served`: Triton's ONNX
model) or `grpc://HOST:PORT/NAME` (`fullchain-served`, scoring through `<name>_llm`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from fullchain.evaluation.harness_lm import BackendError

FP32_SUFFIX = "#fp32"
ECHO_SUFFIX = "#echo"
SUFFIXES = (FP32_SUFFIX, ECHO_SUFFIX)
# URL scheme -> how fullchain-served scores log-likelihoods
SERVED_SCHEMES = {"http": "onnx", "https": "onnx", "grpc": "llm"}


@dataclass(frozen=True)
class ModelSpec:
    """One model to evaluate: its label in tables, the harness backend and its arguments."""

    label: str
    backend: str
    args: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def model_spec(text: str, served_export: str = "", batch_size: int = 8, threads: int = 0) -> ModelSpec:
    """The ModelSpec of one MODEL argument; BackendError (one line) for a path that is neither kind of
    folder, or a URL without a model name."""
    if _served(text):
        url = urlparse(text)
        name = url.path.strip("/")
        if not url.netloc or not name or "/" in name:
            raise BackendError(f"{text}: a served model is http://HOST:PORT/NAME or grpc://HOST:PORT/NAME (NAME: the "
                               f"published name)")
        if not served_export:
            raise BackendError(f"{text}: the served model needs its export folder for the tokenizer (--served-export "
                               f"DIR, or an export folder among the MODELs)")
        scoring = SERVED_SCHEMES[url.scheme]
        return ModelSpec(f"served-{name}" if scoring == "onnx" else f"served-{name}-llm", "fullchain-served",
                         {"url": url.netloc, "model": name, "export": served_export, "batch_size": batch_size,
                          "scoring": scoring}, text)
    suffix = next((s for s in SUFFIXES if text.endswith(s)), "")
    graph = "fp32" if suffix == FP32_SUFFIX else "served"
    path = text.removesuffix(suffix) if suffix else text
    if not os.path.isdir(path):
        raise BackendError(f"{path}: no such model folder")
    if os.path.isfile(os.path.join(path, "export.json")):
        from fullchain.evaluation.onnx_backend import export_graph

        _, _, precision = export_graph(path, graph)
        if suffix == ECHO_SUFFIX:
            return ModelSpec(f"onnx-{precision}-echo", "fullchain-onnx",
                             {"path": path, "graph": graph, "batch_size": 1, "threads": threads, "full_rows": True},
                             text)
        return ModelSpec(f"onnx-{precision}", "fullchain-onnx",
                         {"path": path, "graph": graph, "batch_size": batch_size, "threads": threads}, text)
    if suffix:
        graph_name = "the FP32 graph" if suffix == FP32_SUFFIX else "the served graph"
        raise BackendError(f"{text}: {suffix} names {graph_name} of an export folder; {path} has no export.json")
    if os.path.isfile(os.path.join(path, "config.json")):
        return ModelSpec("pytorch-fp32", "fullchain-hf", {"path": path, "batch_size": batch_size, "threads": threads},
                         text)
    raise BackendError(f"{path}: neither an HF model folder (config.json) nor an export folder (export.json)")


def model_specs(texts: list[str], served_export: str = "", batch_size: int = 8, threads: int = 0) -> list[ModelSpec]:
    """The specs of every MODEL argument, labels made unique; a served model takes its tokenizer from
    `served_export`, else from the (only) export folder among the MODELs."""
    if not texts:
        raise BackendError("no MODEL given")
    exports = [t for t in texts if not _served(t)
               and os.path.isfile(os.path.join(_without_suffix(t), "export.json"))]
    export_dirs = sorted({_without_suffix(t) for t in exports})
    default_export = served_export or (export_dirs[0] if len(export_dirs) == 1 else "")
    specs, seen = [], {}
    for text in texts:
        spec = model_spec(text, default_export, batch_size, threads)
        count = seen.get(spec.label, 0)
        seen[spec.label] = count + 1
        if count:
            spec = ModelSpec(f"{spec.label}-{count + 1}", spec.backend, spec.args, spec.source)
        specs.append(spec)
    return specs


def _served(text: str) -> bool:
    return text.startswith(tuple(f"{scheme}://" for scheme in SERVED_SCHEMES))


def _without_suffix(text: str) -> str:
    return next((text.removesuffix(s) for s in SUFFIXES if text.endswith(s)), text)
