"""The text of Triton `config.pbtxt` files (protobuf text format) for a published model.

Per published name: `<name>` (the ONNX graph, platform onnxruntime_onnx, its inputs and outputs
exactly as export.json lists them), `<name>_generate` (Python backend: text and sampling parameters
in, text out), optionally `<name>_generate_stream` (the same Python model in decoupled mode, one
response per piece of text), and with the response cache on `<name>_generate_cached`: then
`<name>_generate` only checks requests and forwards the valid ones to it, because Triton 2.51
caches an error response as an empty success (see the model's docstring).
With `llm.enabled`, also `<name>_llm`: the decoupled continuous-batching model (one running batch
that requests join and leave between decoding steps; deploy/triton_models/llm/model.py).
"""

from __future__ import annotations

import json
from typing import Any

from fullchain.deploy.config import BatchingConfig, GenerationModelConfig, LlmModelConfig, PublishConfig

# export.json dtype names -> Triton data types
TRITON_TYPES = {"int64": "TYPE_INT64", "int32": "TYPE_INT32", "float32": "TYPE_FP32", "float16": "TYPE_FP16",
                "bool": "TYPE_BOOL", "string": "TYPE_STRING"}

# The generation model's request: name -> (Triton type, dims without the batch dim, optional)
GENERATE_INPUTS = {
    "text": ("TYPE_STRING", [1], False),
    # INT64, not INT32: Triton's HTTP front wraps a JSON integer beyond int32 silently (2^32 + 1 -> 1),
    # so the model could neither refuse nor report the value as sent
    "max_tokens": ("TYPE_INT64", [1], True),
    "temperature": ("TYPE_FP32", [1], True),
    "top_k": ("TYPE_INT64", [1], True),
    "top_p": ("TYPE_FP32", [1], True),
    "seed": ("TYPE_INT64", [1], True),
    "stop": ("TYPE_STRING", [-1], True),
}
GENERATE_OUTPUTS = {
    "text_output": ("TYPE_STRING", [1]),
    "token_ids": ("TYPE_INT64", [-1]),
    "finish_reason": ("TYPE_STRING", [1]),
}

# The continuous-batching model `<name>_llm` (decoupled): name -> (Triton type, dims without the
# batch dim, optional). One of text / prompt_ids is required; docs/SERVING.md has the meanings.
LLM_INPUTS = {
    "text": ("TYPE_STRING", [1], True),
    "prompt_ids": ("TYPE_INT64", [-1], True),
    "max_tokens": ("TYPE_INT64", [1], True),
    "temperature": ("TYPE_FP32", [1], True),
    "top_k": ("TYPE_INT64", [1], True),
    "top_p": ("TYPE_FP32", [1], True),
    "seed": ("TYPE_INT64", [1], True),
    "stop": ("TYPE_STRING", [-1], True),
    "logprobs": ("TYPE_BOOL", [1], True),
    "echo": ("TYPE_BOOL", [1], True),
}
# Every response carries every output; what does not apply to it is empty ("" or length 0)
LLM_OUTPUTS = {
    "text_output": ("TYPE_STRING", [1]),
    "token_ids": ("TYPE_INT64", [-1]),
    "token_logprobs": ("TYPE_FP32", [-1]),
    "top_token_ids": ("TYPE_INT64", [-1]),
    "top_logprobs": ("TYPE_FP32", [-1]),
    "prompt_token_ids": ("TYPE_INT64", [-1]),
    "prompt_logprobs": ("TYPE_FP32", [-1]),
    "prompt_top_token_ids": ("TYPE_INT64", [-1]),
    "prompt_top_logprobs": ("TYPE_FP32", [-1]),
    "finish_reason": ("TYPE_STRING", [1]),
    "prompt_tokens": ("TYPE_INT64", [1]),
    "completion_tokens": ("TYPE_INT64", [1]),
}
LLM_FINISH_REASONS = ("stop", "length", "cancelled")


def llm_model_name(name: str) -> str:
    """The continuous-batching (decoupled) model of a published model."""
    return f"{name}_llm"


def generate_model_name(name: str) -> str:
    """The generation model of a published model."""
    return f"{name}_generate"


def cached_model_name(name: str) -> str:
    """The cached generation model behind the `<name>_generate` front (response cache on)."""
    return f"{name}_generate_cached"


def stream_model_name(name: str) -> str:
    """The streaming (decoupled) generation model of a published model."""
    return f"{name}_generate_stream"


def _tensor(name: str, data_type: str, dims: list[int], optional: bool = False) -> str:
    text = f'  {{ name: "{name}" data_type: {data_type} dims: [ {", ".join(str(d) for d in dims)} ]'
    return text + (" optional: true }" if optional else " }")


def _block(kind: str, tensors: list[str]) -> str:
    return f"{kind} [\n" + ",\n".join(tensors) + "\n]"


def _version_policy(policy: str) -> str:
    if policy == "all":
        return "version_policy: { all: {} }"
    kind, _, value = policy.partition(":")
    if kind == "latest":
        return f"version_policy: {{ latest: {{ num_versions: {int(value)} }} }}"
    return f"version_policy: {{ specific: {{ versions: [ {', '.join(value.split(','))} ] }} }}"


def _dynamic_batching(batching: BatchingConfig) -> str:
    lines = ["dynamic_batching {"]
    sizes = sorted(set(batching.preferred_batch_sizes))
    if sizes:
        lines.append(f"  preferred_batch_size: [ {', '.join(map(str, sizes))} ]")
    lines.append(f"  max_queue_delay_microseconds: {batching.max_queue_delay_us}")
    # REJECT: a request that cannot be queued or waits too long gets an error instead of waiting forever
    lines += ["  default_queue_policy {", "    timeout_action: REJECT",
              f"    default_timeout_microseconds: {batching.queue_timeout_us}",
              "    allow_timeout_override: true", f"    max_queue_size: {batching.max_queue_size}", "  }", "}"]
    return "\n".join(lines)


def _parameters(params: dict[str, Any]) -> str:
    entries = [f'  {{ key: "{k}" value: {{ string_value: {json.dumps(str(v))} }} }}' for k, v in params.items()]
    return "parameters [\n" + ",\n".join(entries) + "\n]"


def _io_dims(dims: list[int], batched: bool) -> list[int]:
    # with max_batch_size > 0 Triton adds the batch dimension itself
    return list(dims[1:]) if batched else list(dims)


def onnx_io_text(export: dict[str, Any], batched: bool = True) -> str:
    """The input and output blocks of the ONNX model, from export.json's `inputs`/`outputs`."""
    def tensors(entries: list[dict[str, Any]]) -> list[str]:
        out = []
        for t in entries:
            if t["dtype"] not in TRITON_TYPES:
                raise ValueError(f"export.json: tensor {t['name']!r} has dtype {t['dtype']!r}, "
                                 f"which Triton does not take ({', '.join(TRITON_TYPES)})")
            out.append(_tensor(t["name"], TRITON_TYPES[t["dtype"]], _io_dims(t["dims"], batched)))
        return out

    return _block("input", tensors(export["inputs"])) + "\n" + _block("output", tensors(export["outputs"]))


def onnx_model_config(name: str, export: dict[str, Any], cfg: PublishConfig) -> str:
    """config.pbtxt of the ONNX model `<name>`."""
    kind = "KIND_GPU" if cfg.instance_kind == "gpu" else "KIND_CPU"
    batching = cfg.batching
    parts = [f'name: "{name}"', 'platform: "onnxruntime_onnx"', f"max_batch_size: {batching.max_batch_size}",
             _version_policy(cfg.version_policy), onnx_io_text(export)]
    if batching.enabled:
        parts.append(_dynamic_batching(batching))
    parts.append(f"instance_group [ {{ kind: {kind} count: {cfg.instance_count} }} ]")
    return "\n".join(parts) + "\n"


def generation_models(name: str, cfg: PublishConfig) -> dict[str, str]:
    """Model name -> config.pbtxt of every Python-backend model published for `name`."""
    models = {}
    if cfg.generate.response_cache:
        models[generate_model_name(name)] = _python_model_config(
            generate_model_name(name), name, cfg, forward_to=cached_model_name(name))
        models[cached_model_name(name)] = _python_model_config(cached_model_name(name), name, cfg, cache=True)
    else:
        models[generate_model_name(name)] = _python_model_config(generate_model_name(name), name, cfg)
    if cfg.generate.stream_model:
        models[stream_model_name(name)] = _python_model_config(stream_model_name(name), name, cfg, stream=True)
    if cfg.llm.enabled:
        models[llm_model_name(name)] = llm_model_config(name, cfg)
    return models


def llm_model_config(name: str, cfg: PublishConfig) -> str:
    """config.pbtxt of `<name>_llm`. One request per execute (max_batch_size 1, no dynamic batcher):
    execute only enqueues, the model's own scheduler batches, and its own bounded queue refuses
    what does not fit."""
    gen: GenerationModelConfig = cfg.generate
    llm: LlmModelConfig = cfg.llm
    model = llm_model_name(name)
    inputs = [_tensor(k, t, d, opt) for k, (t, d, opt) in LLM_INPUTS.items()]
    outputs = [_tensor(k, t, d) for k, (t, d) in LLM_OUTPUTS.items()]
    params = {"onnx_model": name, "onnx_runner": gen.onnx_runner, "default_max_tokens": gen.default_max_tokens,
              "max_tokens_limit": gen.max_tokens_limit, "max_prompt_bytes": gen.max_prompt_bytes,
              "ort_threads": gen.ort_threads, "max_batch_size": llm.max_batch_size,
              "kv_cache_tokens": llm.kv_cache_tokens, "max_queue_size": llm.max_queue_size,
              "max_prefill_tokens": llm.max_prefill_tokens}
    parts = [f'name: "{model}"', 'backend: "python"', "max_batch_size: 1", _version_policy(cfg.version_policy),
             _block("input", inputs), _block("output", outputs), "model_transaction_policy { decoupled: true }",
             "instance_group [ { kind: KIND_CPU count: 1 } ]", _parameters(params)]
    return "\n".join(parts) + "\n"


def _python_model_config(model: str, name: str, cfg: PublishConfig, stream: bool = False, cache: bool = False,
                         forward_to: str = "") -> str:
    gen: GenerationModelConfig = cfg.generate
    inputs = [_tensor(k, t, d, opt) for k, (t, d, opt) in GENERATE_INPUTS.items()]
    outputs = [_tensor(k, t, d) for k, (t, d) in GENERATE_OUTPUTS.items()]
    parts = [f'name: "{model}"', 'backend: "python"', f"max_batch_size: {cfg.batching.max_batch_size}",
             _version_policy(cfg.version_policy), _block("input", inputs), _block("output", outputs)]
    if stream:
        # decoupled: any number of responses per request; Triton's response cache does not apply to these
        parts.append("model_transaction_policy { decoupled: true }")
    if cfg.batching.enabled:
        parts.append(_dynamic_batching(cfg.batching))
    if cache:
        parts.append("response_cache { enable: true }")
    parts.append(f"instance_group [ {{ kind: KIND_CPU count: {gen.instance_count} }} ]")
    params = {"onnx_model": name, "onnx_runner": gen.onnx_runner, "default_max_tokens": gen.default_max_tokens,
              "max_tokens_limit": gen.max_tokens_limit, "max_prompt_bytes": gen.max_prompt_bytes,
              "ort_threads": gen.ort_threads,
              "response_cache": "true" if gen.response_cache and not stream else "false"}
    if forward_to:
        params["forward_to"] = forward_to
    parts.append(_parameters(params))
    return "\n".join(parts) + "\n"
