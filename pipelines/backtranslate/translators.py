"""Translation with Hugging Face models, free of Beam: a seq2seq translation model, or a causal LM
prompted to translate. Each uses its own tokenizer; models are loaded once per process.

Decoding never samples (greedy, or beam search with `num_beams`), so a chunk's translation
depends only on the chunk, the model and, through padding, at most in the last float bits on
what it was batched with.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from fullchain.pipelines.backtranslate.config import BacktranslateConfig
from fullchain.pipelines.hf_loading import load_pretrained, quiet_model_loading

_LOADED: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_LOADING = threading.Lock()
# A multilingual tokenizer takes its source language as state (src_lang), and the forward and
# backward steps of one worker share the tokenizer: setting and using it must not interleave.
_SOURCE_LANG_STATE = threading.Lock()


class Translator(Protocol):
    """What the stage needs from a translation step; tests substitute plain functions behind it."""

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` as the model's input, special tokens excluded."""

    def translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        """The translations of `texts`, in order."""


def load_model(kind: str, path: str, device: str) -> tuple[Any, Any]:
    """(model, tokenizer) of the folder `path`, loaded once per process: the forward and backward
    steps of a multilingual model, and several DoFn instances in one worker, share one copy. The
    weights come from the folder's safetensors files only (pickle is never loaded)."""
    key = (kind, path, device)
    with _LOADING:
        if key not in _LOADED:
            model_class = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
            quiet_model_loading()
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = load_pretrained(model_class, path).to(device).eval()
            _LOADED[key] = (model, tokenizer)
        return _LOADED[key]


def translate_nonblank(translator: Translator, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
    """`translator.translate` of the non-blank texts; a blank text (an empty pivot translation) stays
    blank instead of making the model invent something from nothing."""
    positions = [i for i, text in enumerate(texts) if text.strip()]
    results = [""] * len(texts)
    if positions:
        translated = translator.translate([texts[i] for i in positions], source_lang, target_lang)
        for i, text in zip(positions, translated):
            results[i] = text
    return results


class TokenCounter:
    """Counts tokens with a model's tokenizer only (no weights), for cutting documents into chunks."""

    def __init__(self, path: str):
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)

    def __call__(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])


class Seq2SeqTranslator:
    """Translation with an AutoModelForSeq2SeqLM: a one-direction model (MarianMT) or, with
    `cfg.lang_codes`, a multilingual one (NLLB: token codes like eng_Latn; M2M100: en, zh)."""

    def __init__(self, path: str, cfg: BacktranslateConfig, multilingual: bool):
        self._cfg = cfg
        self._model, self._tokenizer = load_model("seq2seq", path, cfg.device)
        self._codes = cfg.codes if multilingual else {}
        self._special = len(self._tokenizer("")["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def _target_token_id(self, code: str) -> int:
        if hasattr(self._tokenizer, "get_lang_id"):  # M2M100 names its language tokens __en__
            return self._tokenizer.get_lang_id(code)
        return self._tokenizer.convert_tokens_to_ids(code)

    def translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        extra = {}
        with _SOURCE_LANG_STATE:
            if self._codes:
                self._tokenizer.src_lang = self._codes[source_lang]
                extra["forced_bos_token_id"] = self._target_token_id(self._codes[target_lang])
            batch = self._tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                                    max_length=self._cfg.max_input_tokens + self._special).to(self._cfg.device)
        with torch.inference_mode():
            output = self._model.generate(**batch, do_sample=False, num_beams=self._cfg.generation.num_beams,
                                          max_new_tokens=self._cfg.generation.max_new_tokens, **extra)
        return [text.strip() for text in self._tokenizer.batch_decode(output, skip_special_tokens=True)]


class CausalTranslator:
    """Translation by prompting a causal LM; only the generated tokens are decoded, and of them only
    the first line, since a chunk never spans a line break and the model may go on talking."""

    def __init__(self, path: str, cfg: BacktranslateConfig):
        self._cfg = cfg
        self._model, self._tokenizer = load_model("causal", path, cfg.device)
        # prompts of different lengths are padded on the left so every row's generation starts at the same column
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._names = cfg.names

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(self, text: str, source_lang: str, target_lang: str) -> str:
        """The model input asking for the translation of `text`."""
        target = self._names.get(target_lang, target_lang)
        message = self._cfg.prompt_template.format(
            source_language=self._names.get(source_lang, source_lang), target_language=target, text=text)
        if getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=False,
                                                       add_generation_prompt=True)
        return f"{message}\n\n{target}:"

    def translate(self, texts: list[str], source_lang: str, target_lang: str) -> list[str]:
        prompts = [self.prompt(text, source_lang, target_lang) for text in texts]
        chat = bool(getattr(self._tokenizer, "chat_template", None))
        # a chat template already writes the model's begin-of-text token
        batch = self._tokenizer(prompts, return_tensors="pt", padding=True,
                                add_special_tokens=not chat).to(self._cfg.device)
        with torch.inference_mode():
            output = self._model.generate(**batch, do_sample=False, num_beams=self._cfg.generation.num_beams,
                                          max_new_tokens=self._cfg.generation.max_new_tokens,
                                          pad_token_id=self._tokenizer.pad_token_id)
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        decoded = self._tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [next((line.strip() for line in text.splitlines() if line.strip()), "") for text in decoded]


def model_path(cfg: BacktranslateConfig, direction: str) -> str:
    """The model folder of `direction` ('forward': source -> pivot, 'backward': pivot -> source)."""
    if direction == "backward" and cfg.backward_model is not None:
        return cfg.backward_model
    return cfg.forward_model
