"""The Hugging Face folder `fullchain export` reads (docs/CONTRACTS.md section 5): checked before any
work starts, then loaded."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from fullchain.pipelines.hf_loading import ModelFolderError, config_sizes, load_pretrained, safetensors_weights

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)
# either file is enough for AutoTokenizer to build a tokenizer; the others are optional extras
TOKENIZER_REQUIRED = ("tokenizer.json", "tokenizer.model")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja")


class ExportError(ValueError):
    """An export that cannot be made or did not pass its checks; the message is one line."""


@dataclass(frozen=True)
class ModelFacts:
    """What export.json states about the model, read from config.json / generation_config.json."""

    num_layers: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_positions: int
    bos_token_id: int | None
    eos_token_ids: tuple[int, ...]
    pad_token_id: int | None


def check_hf_folder(hf_dir: str) -> ModelFacts:
    """Raise ExportError (one line) unless `hf_dir` holds a supported causal LM whose config.json has
    positive sizes, whose safetensors weights are whole (their headers parse) and which has a
    tokenizer; return the facts export.json needs."""
    if not os.path.isdir(hf_dir):
        raise ExportError(f"{hf_dir}: no such folder")
    config = _read_json(os.path.join(hf_dir, "config.json"), "config.json (not a Hugging Face model folder)")
    architectures = config.get("architectures") or [config.get("model_type", "unknown")]
    if not any(a in SUPPORTED_ARCHITECTURES for a in architectures):
        raise ExportError(f"{hf_dir}: architecture {', '.join(map(str, architectures))} is not supported "
                          f"(export takes {', '.join(SUPPORTED_ARCHITECTURES)})")
    try:
        sizes = config_sizes(config, os.path.join(hf_dir, "config.json"))
        safetensors_weights(hf_dir)
    except ModelFolderError as e:
        raise ExportError(str(e)) from None
    if not any(os.path.isfile(os.path.join(hf_dir, f)) for f in TOKENIZER_REQUIRED):
        raise ExportError(f"{hf_dir}: no tokenizer ({' or '.join(TOKENIZER_REQUIRED)}); save the tokenizer "
                          f"into the model folder")
    generation_path = os.path.join(hf_dir, "generation_config.json")
    generation = _read_json(generation_path, "generation_config.json") if os.path.isfile(generation_path) else {}
    eos = generation.get("eos_token_id", config.get("eos_token_id"))
    try:
        eos_ids = tuple(int(e) for e in (eos if isinstance(eos, list) else [] if eos is None else [eos]))
        bos_id = _optional_int(generation.get("bos_token_id", config.get("bos_token_id")))
        pad_id = _optional_int(generation.get("pad_token_id", config.get("pad_token_id")))
    except (TypeError, ValueError):
        raise ExportError(f"{hf_dir}: bos/eos/pad_token_id in config.json or generation_config.json are not "
                          f"integers") from None
    return ModelFacts(num_layers=sizes["num_hidden_layers"], num_kv_heads=sizes["num_key_value_heads"],
                      head_dim=sizes["head_dim"], vocab_size=sizes["vocab_size"],
                      max_positions=sizes["max_position_embeddings"], bos_token_id=bos_id, eos_token_ids=eos_ids,
                      pad_token_id=pad_id)


def load_model(hf_dir: str) -> Any:
    """The model in FP32, eval mode, with eager attention (its mask arithmetic traces to plain ONNX ops
    and keeps fully padded rows finite), from its safetensors files only."""
    from transformers import AutoModelForCausalLM

    try:
        model = load_pretrained(AutoModelForCausalLM, hf_dir, dtype="float32", attn_implementation="eager")
    except ModelFolderError as e:
        raise ExportError(str(e)) from None
    return model.eval()


def load_tokenizer(hf_dir: str) -> Any:
    """The folder's tokenizer; ExportError when its files do not load."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(hf_dir)
    except (OSError, ValueError) as e:
        raise ExportError(f"{hf_dir}: the tokenizer does not load: {str(e).splitlines()[0]}") from e


def tokenizer_files(hf_dir: str) -> list[str]:
    """The tokenizer files present in `hf_dir` (names), to copy into the export."""
    return [f for f in TOKENIZER_FILES if os.path.isfile(os.path.join(hf_dir, f))]


def _read_json(path: str, what: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ExportError(f"{os.path.dirname(path)}: no {what}") from None
    except (OSError, json.JSONDecodeError) as e:
        raise ExportError(f"{path}: cannot read: {e}") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: not a JSON object")
    return data


def _optional_int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else int(value)
