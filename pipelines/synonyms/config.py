"""The options of `fullchain synonyms`: which documents are augmented, how many words are replaced,
and where the lexical resources are."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option

METHOD = "synonym_replacement"
METRICS_NAMESPACE = "fullchain.synonyms"
LANGUAGES = ("en", "zh")
DEFAULT_WORDNET_DIR = "/usr/share/wordnet"


@dataclass(kw_only=True)
class SynonymsConfig:
    """fullchain synonyms: synonym replacement (EDA's SR) of a seeded share of documents, added as new documents."""

    fraction: float = option(
        0.1, "Share of documents (of `languages`) to augment, chosen by a hash of id and seed (as backtranslate), "
             "so the same documents are chosen on every run and runner.")
    synonym_ratio: float = option(
        0.1, "Share of a document's replaceable content words that are replaced (at least one when there is "
             "any); EDA (Wei and Zou, 2019) used 0.05-0.3.")
    seed: int = option(0, "Seed of the selection and of which words and synonyms are picked.")
    languages: list[str] = option(
        ["en", "zh"], "Document languages that are augmented: en (WordNet), zh (Cilin); a document's `lang` "
                      "from clean, else detected. Documents in other languages pass through untouched.")
    max_senses: int = option(
        2, "English: synonyms come from the word's first max_senses WordNet senses (WordNet orders senses by "
           "frequency), fewer senses drift less in meaning.")
    wordnet_dir: str = option(
        DEFAULT_WORDNET_DIR, "Folder of the WordNet 3.0 database files (data.noun, index.noun, ...): Debian's "
                             "wordnet-base package installs them here.")

    def __post_init__(self) -> None:
        for name in ("fraction", "synonym_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)!r}")
        unknown = [lang for lang in self.languages if lang not in LANGUAGES]
        if unknown or not self.languages:
            raise ValueError(f"languages must be a non-empty subset of {', '.join(LANGUAGES)}, got {self.languages}")
        if self.max_senses < 1:
            raise ValueError(f"max_senses must be at least 1, got {self.max_senses}")
