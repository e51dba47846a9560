"""Fail-fast checks of the configured models, run before a pipeline starts: a wrong path or a
model of the wrong kind costs one line, not a job that dies in its workers."""

from __future__ import annotations

import os

from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES

from fullchain.pipelines.backtranslate.config import BacktranslateConfig
from fullchain.pipelines.config import ModelCheckError
from fullchain.pipelines.hf_loading import ModelFolderError, model_folder, safetensors_weights


def _is_hub_id(name: str) -> bool:
    # "name" or "org/name" that is not a file or folder here; anything else is a filesystem path
    return not os.path.exists(name) and not name.startswith(("/", ".", "~")) and name.count("/") <= 1


def _check_model(option_name: str, path: str, kind: str) -> PreTrainedTokenizerBase:
    if not path:
        raise ModelCheckError(f"backtranslate.{option_name} is not set: give the folder of a {kind} model")
    # a hub id (org/name) is looked up in the local cache; a filesystem path must exist
    if not _is_hub_id(path) and not os.path.isdir(os.path.expanduser(path)):
        raise ModelCheckError(f"backtranslate.{option_name}: no model folder at {path!r}")
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelCheckError(f"backtranslate.{option_name}: cannot load a model config from {path!r} "
                              f"({first_line})") from None
    architecture = (config.architectures or [config.model_type])[0]
    if kind == "seq2seq" and (not config.is_encoder_decoder
                              or config.model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES):
        raise ModelCheckError(f"backtranslate.{option_name}: {path!r} is a {architecture}, not a seq2seq "
                              f"translation model (model_kind is 'seq2seq'; use 'causal' for a decoder-only LM)")
    if kind == "causal" and config.is_encoder_decoder:
        raise ModelCheckError(f"backtranslate.{option_name}: {path!r} is a {architecture}, an encoder-decoder "
                              f"model (model_kind is 'causal'; use 'seq2seq' for translation models)")
    try:
        safetensors_weights(model_folder(os.path.expanduser(path)))
    except ModelFolderError as err:
        raise ModelCheckError(f"backtranslate.{option_name}: {err}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError) as err:
        raise ModelCheckError(f"backtranslate.{option_name}: no usable tokenizer in {path!r} ({err})") from None
    return tokenizer


def _check_codes(cfg: BacktranslateConfig, tokenizer: PreTrainedTokenizerBase) -> None:
    codes = cfg.codes
    needed = [*cfg.source_languages, cfg.pivot_lang]
    missing = [lang for lang in needed if lang not in codes]
    if missing:
        raise ModelCheckError(f"backtranslate.lang_codes: one multilingual seq2seq model needs the model's code of "
                              f"{missing} (e.g. 'en=eng_Latn' for NLLB); got {cfg.lang_codes}")
    for lang in needed:
        code = codes[lang]
        token = f"__{code}__" if hasattr(tokenizer, "get_lang_id") else code
        if tokenizer.convert_tokens_to_ids(token) in (None, tokenizer.unk_token_id):
            raise ModelCheckError(f"backtranslate.lang_codes: the tokenizer of {cfg.forward_model!r} has no "
                                  f"language token {token!r} (for {lang})")


def check_models(cfg: BacktranslateConfig) -> None:
    """Raise ModelCheckError (one line) if a configured model is missing, not of `cfg.model_kind`, has no
    tokenizer, has weights that are not whole safetensors files (pickle is never loaded), or (one
    multilingual seq2seq model) lacks a language code. Loads configs, safetensors headers and
    tokenizers only, never weights."""
    tokenizer = _check_model("forward_model", cfg.forward_model, cfg.model_kind)
    if cfg.backward_model is not None:
        _check_model("backward_model", cfg.backward_model, cfg.model_kind)
    elif cfg.model_kind == "seq2seq":
        _check_codes(cfg, tokenizer)
