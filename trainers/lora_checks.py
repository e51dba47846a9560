"""Fail-fast checks of a LoRA run (`fullchain train --mode lora`), run by `trainers.preflight`
before any process group or model exists: the base model folder, its architecture, the target
modules, its safetensors weights and the shards' tokenizer."""

from __future__ import annotations

import os

import torch

from fullchain.pipelines.shard.format import tokenizer_dir
from fullchain.trainers.config import LoraSection, TrainConfig
from fullchain.trainers.lora_adapters import target_modules


def load_base_config(path: str):
    """The config of lora.base_model (a local folder; never downloaded); ValueError (one line) otherwise."""
    from transformers import AutoConfig

    key = "lora.base_model"
    if not path:
        raise ValueError(f"{key} is not set (a local Hugging Face causal LM folder)")
    if not os.path.isdir(path):
        raise ValueError(f"{key} '{path}': not a folder (models are never downloaded here)")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ValueError(f"{key} '{path}': no config.json (not a Hugging Face model folder)")
    try:
        return AutoConfig.from_pretrained(path, local_files_only=True)
    except (ValueError, KeyError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{key} '{path}': config.json does not load: {first}") from None


def _check_causal_lm(path: str, config) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    classes = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.model_type)
    archs = list(getattr(config, "architectures", None) or [])
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    # model_type alone is not enough: BERT has a causal-LM class, but a BertForMaskedLM checkpoint
    # is not a causal LM. The architectures recorded in config.json say what was trained.
    if classes is None or (archs and not any(a in causal for a in archs)):
        what = ", ".join(archs) if archs else f"model_type {config.model_type!r}"
        raise ValueError(f"lora.base_model '{path}': {what} is not a causal language model architecture "
                         f"transformers knows (remote code is never run)")


def _module_names(config) -> list[str]:
    """Names of all modules of the model `config` describes, built on the meta device (no weights)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return [name for name, _ in model.named_modules()]


def _check_targets(path: str, config, lora: LoraSection) -> None:
    targets = target_modules(lora, config.model_type)
    names = _module_names(config)
    # peft's rule for a list of names: a module matches a key when its name is the key or ends in ".key".
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n})
        raise ValueError(f"lora.target_modules: {missing} not in {config.model_type} model '{path}' "
                         f"(its module names: {', '.join(leaves)})")


def _check_tokenizer(path: str, config, manifest_path: str, manifest: dict) -> None:
    from transformers import AutoTokenizer

    from fullchain.pipelines.shard.tokenizer_files import tokenizer_hash

    entry = manifest["tokenizer"]
    folder = tokenizer_dir(manifest_path, manifest)
    where = f"{manifest_path}: tokenizer"
    model_vocab = int(config.get_text_config().vocab_size)
    if int(entry["vocab_size"]) > model_vocab:
        raise ValueError(f"{where} has {entry['vocab_size']} tokens but lora.base_model '{path}' has a vocabulary "
                         f"of {model_vocab} (ids >= {model_vocab} would crash the embedding); shard with the "
                         f"base model's tokenizer")
    files = {}
    for name in entry["files"]:
        try:
            with open(os.path.join(folder, name), "rb") as fh:
                files[name] = fh.read()
        except OSError:
            raise ValueError(f"{where} file {os.path.join(folder, name)} is missing") from None
    if tokenizer_hash(files) != entry["sha256"]:
        raise ValueError(f"{where} files in {folder} do not match the manifest's sha256 (changed since sharding)")
    if any(os.path.isfile(os.path.join(path, name)) for name in ("tokenizer.json", "tokenizer_config.json")):
        # Same size is not enough: frozen embeddings only make sense for the ids they were trained on.
        theirs = AutoTokenizer.from_pretrained(folder, local_files_only=True).get_vocab()
        ours = AutoTokenizer.from_pretrained(path, local_files_only=True).get_vocab()
        if theirs != ours:
            differ = sorted(set(theirs.items()) ^ set(ours.items()), key=lambda kv: kv[1])[:3]
            raise ValueError(f"{where} in {folder} is not lora.base_model's tokenizer ('{path}'): vocabularies "
                             f"differ (e.g. {differ}); shard with the base model's tokenizer")


def check_lora_inputs(cfg: TrainConfig, manifest: dict) -> None:
    """Fail fast, with one line, on what would break a LoRA run later.

    Checks that lora.base_model is a local folder with a config.json of a causal LM architecture, that
    the target modules (configured or default) exist in it, that its weights are whole safetensors
    files (`pipelines.hf_loading.safetensors_weights`; pickle is refused), and that the shards' tokenizer
    (manifest["tokenizer"], files under the shards folder) is intact (sha256), fits the model's
    vocabulary and, when the model folder has a tokenizer, has the same vocabulary. `manifest` is the
    loaded manifest of cfg.data.manifest.
    """
    from fullchain.pipelines.hf_loading import ModelFolderError, safetensors_weights

    path = cfg.lora.base_model
    config = load_base_config(path)
    _check_causal_lm(path, config)
    _check_targets(path, config, cfg.lora)
    try:
        safetensors_weights(path)
    except ModelFolderError as e:
        raise ValueError(f"lora.base_model: {e}") from None
    _check_tokenizer(path, config, cfg.data.manifest, manifest)
