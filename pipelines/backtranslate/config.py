"""Settings of the `fullchain backtranslate` stage: one tree of dataclasses, every field an `option`.

Field types are limited to what the generic YAML loader and CLI flag generator understand, so
the language-code and language-name maps are lists of "iso=value" entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from fullchain.pipelines.config import option

MODEL_KINDS = ("seq2seq", "causal")
# Beam metrics of the stage, RunInference's own among them
METRICS_NAMESPACE = "fullchain.backtranslate"
DEFAULT_PROMPT = (
    "Translate the following {source_language} text into {target_language}. "
    "Reply with the translation only.\n\n{text}"
)
DEFAULT_LANGUAGE_NAMES = [
    "en=English", "zh=Chinese", "ja=Japanese", "ko=Korean", "fr=French", "de=German", "es=Spanish",
    "pt=Portuguese", "it=Italian", "ru=Russian", "ar=Arabic", "hi=Hindi", "vi=Vietnamese", "id=Indonesian",
]


def _fail(name: str, requirement: str, value: object) -> NoReturn:
    raise ValueError(f"{name} {requirement}, got {value!r}")


def parse_pairs(name: str, entries: list[str]) -> dict[str, str]:
    """'iso=value' entries as a dict; ValueError naming `name` for an entry without '='."""
    pairs = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip() or not value.strip():
            _fail(name, "entries must look like 'en=value'", entry)
        pairs[key.strip()] = value.strip()
    return pairs


@dataclass(kw_only=True)
class GenerationConfig:
    """Decoding settings of both translation directions. There is no sampling: output is a function of the input."""

    num_beams: int = option(1, "Beam width; 1 is greedy decoding, the cheapest and fully deterministic on CPU.")
    max_new_tokens: int = option(
        256, "Most tokens generated per chunk. Twice the default max_input_tokens, since a pivot like Chinese or "
             "German can take more tokens than English for the same sentence.")

    def __post_init__(self) -> None:
        if self.num_beams < 1:
            _fail("num_beams", "must be at least 1", self.num_beams)
        if self.max_new_tokens < 1:
            _fail("max_new_tokens", "must be at least 1", self.max_new_tokens)


@dataclass(kw_only=True)
class GateConfig:
    """Which round trips are kept. Similarity is chrF (Popović, 2015): the F-score (beta 2) of character
    n-grams, n = 1..6, whitespace ignored, between the round trip and the original, scaled to [0, 1].
    It is cheap, needs no model, is deterministic and works for scripts without spaces."""

    check_language: bool = option(
        True, "Reject a round trip whose detected language (langdetect, seeded) is not the document's language.")
    min_similarity: float = option(
        0.3, "Reject a round trip with chrF below this as drifted (meaning lost). Project choice: good MT "
             "round trips of English prose via Chinese or German score about 0.4-0.7.")
    max_similarity: float = option(
        0.95, "Reject a round trip with chrF above this as too similar: a near copy adds no variety.")
    langid_prefix_chars: int = option(500, "Characters of the round trip given to langdetect (as clean.langid).")
    langid_seed: int = option(0, "Seed of langdetect's sampling, so the language check gives the same answer on every run.")

    def __post_init__(self) -> None:
        for name in ("min_similarity", "max_similarity"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                _fail(name, "must be within [0, 1]", getattr(self, name))
        if self.min_similarity > self.max_similarity:
            _fail("min_similarity", f"must be <= max_similarity ({self.max_similarity!r})", self.min_similarity)
        if self.langid_prefix_chars < 1:
            _fail("langid_prefix_chars", "must be at least 1", self.langid_prefix_chars)


@dataclass(kw_only=True)
class BacktranslateConfig:
    """fullchain backtranslate: round-trip translation of a share of documents as data augmentation."""

    fraction: float = option(
        0.1, "Share of documents (of the source languages) to augment, chosen by a hash of id and seed, so "
             "the same documents are chosen on every run and runner.")
    seed: int = option(0, "Seed of the selection hash; change it to augment a different subset.")
    source_languages: list[str] = option(
        ["en"], "Document languages (the `lang` set by clean; detected when empty) that are augmented. "
                "Documents in other languages pass through untouched.")
    pivot_lang: str = option("zh", "The language translated into and back from.")
    model_kind: str = option(
        "seq2seq", "'seq2seq': translation models (AutoModelForSeq2SeqLM: a MarianMT pair or one NLLB/M2M100 "
                   "model); 'causal': a causal (instruction-tuned) LM prompted to translate.")
    forward_model: str = option(
        "", "Folder (or cached hub id) of the model translating source -> pivot; for one multilingual or "
            "causal model, the model used for both directions.")
    backward_model: str | None = option(
        None, "Folder of the model translating pivot -> source (e.g. the MarianMT model of the opposite "
              "direction); null: forward_model translates both ways.")
    lang_codes: list[str] = option(
        [], "For one multilingual seq2seq model: the model's code of each language, e.g. "
            "['en=eng_Latn', 'zh=zho_Hans'] for NLLB or ['en=en', 'zh=zh'] for M2M100.")
    language_names: list[str] = option(
        DEFAULT_LANGUAGE_NAMES, "Names of languages in the causal prompt ('iso=Name').")
    prompt_template: str = option(
        DEFAULT_PROMPT, "Causal kind: the user message ({source_language}, {target_language}, {text}); sent "
                        "through the tokenizer's chat template when it has one, else followed by "
                        "'\\n\\n{target_language}:'.")
    max_input_tokens: int = option(
        128, "Most tokens of one chunk given to the model. Text is cut at sentence ends (also 。！？) and "
             "line breaks into chunks under this; MarianMT was trained on sentences, so shorter chunks "
             "translate more faithfully.")
    batch_size: int = option(16, "Most chunks per model call; RunInference batches chunks of many documents.")
    generation: GenerationConfig = option(GenerationConfig(), "Decoding settings.")
    gate: GateConfig = option(GateConfig(), "Which round trips are kept.")
    device: str = option("cpu", "torch device of the models: 'cpu', 'cuda', 'cuda:1', 'mps'.")

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0:
            _fail("fraction", "must be within [0, 1]", self.fraction)
        if self.model_kind not in MODEL_KINDS:
            _fail("model_kind", f"must be one of {list(MODEL_KINDS)}", self.model_kind)
        for lang in self.source_languages:
            if not lang or lang != lang.strip().lower():
                _fail("source_languages", "entries must be non-empty lower-case codes", lang)
        if not self.pivot_lang or self.pivot_lang != self.pivot_lang.strip().lower():
            _fail("pivot_lang", "must be a non-empty lower-case code", self.pivot_lang)
        if self.pivot_lang in self.source_languages:
            _fail("pivot_lang", "must not be one of source_languages", self.pivot_lang)
        if self.backward_model is not None and len(self.source_languages) != 1:
            _fail("source_languages", "must hold one language when a backward_model pair is given",
                  self.source_languages)
        parse_pairs("lang_codes", self.lang_codes)
        parse_pairs("language_names", self.language_names)
        try:
            filled = self.prompt_template.format(source_language="", target_language="", text="\x00")
        except (KeyError, IndexError, ValueError) as err:
            _fail("prompt_template", f"may only use {{source_language}}, {{target_language}}, {{text}} ({err!r})",
                  self.prompt_template)
        if "\x00" not in filled:
            _fail("prompt_template", "must contain {text}", self.prompt_template)
        if self.max_input_tokens < 8:
            _fail("max_input_tokens", "must be at least 8", self.max_input_tokens)
        if self.batch_size < 1:
            _fail("batch_size", "must be at least 1", self.batch_size)
        if not self.device:
            _fail("device", "must be set", self.device)

    @property
    def codes(self) -> dict[str, str]:
        """The model's language code of each ISO code (lang_codes as a dict)."""
        return parse_pairs("lang_codes", self.lang_codes)

    @property
    def names(self) -> dict[str, str]:
        """The prompt name of each ISO code (language_names as a dict)."""
        return parse_pairs("language_names", self.language_names)
