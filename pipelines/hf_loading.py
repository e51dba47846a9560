"""How fullchain loads Hugging Face models from a user's folder: safetensors only, never pickle.

Every stage that loads weights (export, `train --model.init-from`, the LoRA base model, the
perplexity filter's reference LM, backtranslation's models) goes through `safetensors_weights`
to decide the weight files and `load_pretrained` to load them. The decision is made from what
the files are, not from which index file exists: transformers, given a folder, also reads
`pytorch_model.bin` (torch.load, a pickle) when an index names it or when it falls back, and
picks up extras such as an adapter folder. `load_pretrained` therefore shows transformers a
temporary folder holding only the config files and the verified safetensors files.
`config_sizes` checks a decoder's config.json sizes before anything divides by them.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
# what from_pretrained reads besides the weights; nothing else of the folder is shown to it
CONFIG_FILES = ("config.json", "generation_config.json")


# the sizes a decoder's config.json must state, each a positive int; the optional ones have defaults
REQUIRED_SIZES = ("num_hidden_layers", "num_attention_heads", "hidden_size", "vocab_size", "max_position_embeddings")
OPTIONAL_SIZES = ("num_key_value_heads", "head_dim")


class ModelFolderError(ValueError):
    """A model folder that cannot be loaded safely: weights that are not whole safetensors files, or
    a config.json without usable sizes; one line naming the folder or file."""


def quiet_model_loading() -> None:
    """Turn off transformers' per-load progress bars: every Beam worker loads the model, and the
    bars would bury the job's own progress lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def model_folder(path: str) -> str:
    """The local folder of `path`: the folder itself, or the cached snapshot of a hub model id
    (never downloaded). ModelFolderError when it is neither."""
    if os.path.isdir(path):
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return snapshot_download(path, local_files_only=True)
    except (HFValidationError, LocalEntryNotFoundError):
        raise ModelFolderError(f"{path}: neither a folder nor a model id in the local Hugging Face cache "
                               f"(nothing is downloaded)") from None


def _weight_map(folder: str, index_path: str) -> dict[str, str]:
    try:
        with open(index_path, encoding="utf-8") as fh:
            index = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFolderError(f"{index_path}: cannot read: {e}") from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelFolderError(f"{index_path}: no weight_map naming the safetensors shards")
    for value in weight_map.values():
        # a shard is a plain file of this folder: no path (which could leave the folder) and no
        # other format (which transformers would hand to torch.load)
        if (not isinstance(value, str) or os.path.basename(value) != value or "/" in value or "\\" in value
                or value in (".", "..") or not value.endswith(".safetensors")):
            raise ModelFolderError(f"{index_path}: weight_map names {value!r}, not a .safetensors file of "
                                   f"{folder} (pickled weights are never loaded)")
    return weight_map


def _check_safetensors(folder: str, name: str) -> None:
    from safetensors import SafetensorError, safe_open

    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise ModelFolderError(f"{path}: missing (named by {SAFETENSORS_INDEX})")
    try:
        # reads and validates the header only: a truncated or foreign file fails here, not mid-load
        with safe_open(path, "pt"):
            pass
    except (SafetensorError, OSError) as e:
        raise ModelFolderError(f"{path}: not a readable safetensors file ({e})") from None


def safetensors_weights(folder: str) -> list[str]:
    """The sorted names of the weight files of the HF model in `folder`: model.safetensors, else the shards
    that model.safetensors.index.json names. Each must be a plain .safetensors file of the folder
    whose header parses; otherwise, or when the folder has neither file (a folder of pickled
    pytorch_model.bin weights), ModelFolderError with one line naming the folder or file."""
    return sorted(set(_verified_weight_map(folder).values()))


def _verified_weight_map(folder: str) -> dict[str, str]:
    """Tensor name -> file for a sharded folder; {"*": "model.safetensors"} for a single file."""
    if os.path.isfile(os.path.join(folder, SAFETENSORS_FILE)):
        weight_map = {"*": SAFETENSORS_FILE}
    elif os.path.isfile(os.path.join(folder, SAFETENSORS_INDEX)):
        weight_map = _weight_map(folder, os.path.join(folder, SAFETENSORS_INDEX))
    else:
        raise ModelFolderError(f"{folder}: no {SAFETENSORS_FILE} or {SAFETENSORS_INDEX} (pickled weights such "
                               f"as pytorch_model.bin are never loaded)")
    for name in sorted(set(weight_map.values())):
        _check_safetensors(folder, name)
    return weight_map


def safetensors_shapes(folder: str, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape over the safetensors files `names` of `folder`, from their headers only."""
    from safetensors import safe_open

    shapes = {}
    for name in names:
        with safe_open(os.path.join(folder, name), "pt") as fh:
            for key in fh.keys():
                shapes[key] = tuple(fh.get_slice(key).get_shape())
    return shapes


def config_sizes(config: dict[str, Any], path: str) -> dict[str, int]:
    """The model sizes of a config.json (`path` names it in errors): the required ones, the kv heads
    (default: the heads) and head_dim (default: hidden_size / heads). ModelFolderError (one line) for a
    missing key, a value that is not a positive int, or heads the sizes do not divide."""
    sizes = {}
    for key in (*REQUIRED_SIZES, *OPTIONAL_SIZES):
        value = config.get(key)
        if value is None and key in OPTIONAL_SIZES:
            continue
        if value is None:
            raise ModelFolderError(f"{path}: no {key}")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ModelFolderError(f"{path}: {key} must be a positive integer, got {value!r}")
        sizes[key] = value
    heads = sizes["num_attention_heads"]
    sizes.setdefault("num_key_value_heads", heads)
    if heads % sizes["num_key_value_heads"]:
        raise ModelFolderError(f"{path}: num_attention_heads {heads} is not a multiple of num_key_value_heads "
                               f"{sizes['num_key_value_heads']}")
    if "head_dim" not in sizes:
        if sizes["hidden_size"] % heads:
            raise ModelFolderError(f"{path}: hidden_size {sizes['hidden_size']} is not a multiple of "
                                   f"num_attention_heads {heads}")
        sizes["head_dim"] = sizes["hidden_size"] // heads
    return sizes


def load_pretrained(model_class: Any, path: str, **kwargs: Any) -> Any:
    """`model_class.from_pretrained` of the model at `path` (a folder or a cached hub id) from its
    verified safetensors files only; `kwargs` go to from_pretrained (dtype, attn_implementation).
    ModelFolderError (one line) when the weights are not safetensors."""
    folder = model_folder(path)
    weight_map = _verified_weight_map(folder)
    names = sorted(set(weight_map.values()))
    with tempfile.TemporaryDirectory(prefix="fullchain-weights-") as view:
        for name in (*CONFIG_FILES, *names):
            source = os.path.join(folder, name)
            if os.path.isfile(source):
                os.symlink(os.path.abspath(source), os.path.join(view, name))
        if names != [SAFETENSORS_FILE]:
            # the index as checked, not the folder's file, which may change after the check
            with open(os.path.join(view, SAFETENSORS_INDEX), "w", encoding="utf-8") as fh:
                json.dump({"metadata": {}, "weight_map": weight_map}, fh)
        model = model_class.from_pretrained(view, local_files_only=True, use_safetensors=True, **kwargs)
    # the model names its source, not the temporary folder (peft records it as the base model)
    model.config._name_or_path = path
    model.name_or_path = path
    return model
