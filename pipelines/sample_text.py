"""The prose of the sample corpus: sentences from templates over embedded word lists, and
documents (drafts) of paragraphs of such sentences. pipelines.sample_corpus plants copies and
noise among them and writes the corpus."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from fullchain.pipelines.sample_words import EN_LISTS, EN_TEMPLATES, ZH_LISTS, ZH_TEMPLATES

# A sentence: its text and its units (words, or punctuation marks in Chinese); the text of
# an English sentence is its units joined by spaces, of a Chinese one joined without.
Sentence = tuple[str, list[str]]


@dataclass
class Draft:
    """A document before ids are assigned: its paragraphs as lists of sentences."""

    lang: str
    paragraphs: list[list[Sentence]]
    role: str = "original"  # original, exact, near or a noise kind
    source: int = -1  # index of the original a copy was made from
    target_jaccard: float = 1.0
    edit: str = ""  # how a near copy was made: one of NEAR_EDITS

    def text(self) -> str:
        joiner = "" if self.lang == "zh" else " "
        return "\n\n".join(joiner.join(text for text, _ in paragraph) for paragraph in self.paragraphs) + "\n"


def _compile(templates: list[str], lists: dict[str, list[str]]) -> list[list[list[str]]]:
    """Templates as lists of word lists (a literal word is a list of itself), for fast filling."""
    return [[lists.get(slot, [slot]) for slot in template.split()] for template in templates]


_COMPILED = {"en": _compile(EN_TEMPLATES, EN_LISTS), "zh": _compile(ZH_TEMPLATES, ZH_LISTS)}


def sentence_units(rng: random.Random, lang: str) -> list[str]:
    """One sentence as units: English words (first capitalised, last with "."), or Chinese words and "。"."""
    templates = _COMPILED[lang]
    draw = rng.random
    units = [words[int(draw() * len(words))] for words in templates[int(draw() * len(templates))]]
    if lang == "zh":
        units.append("。")
        return units
    # A subject or connective can be several words; only the sentence's first letter is capitalised.
    units[0] = units[0][0].upper() + units[0][1:]
    units[-1] += "."
    return units


def make_sentence(units: list[str], lang: str) -> Sentence:
    return ("" if lang == "zh" else " ").join(units), units


class SentencePool:
    """Sentences of one language with their sizes in UTF-8 bytes (a separating space included)."""

    def __init__(self, rng: random.Random, lang: str, size: int):
        self.lang = lang
        self.sentences = [make_sentence(sentence_units(rng, lang), lang) for _ in range(size)]
        self.sizes = [len(text.encode("utf-8")) + 1 for text, _ in self.sentences]
        self.mean_size = sum(self.sizes) / len(self.sizes)


def original_draft(rng: random.Random, draws: np.random.Generator, pool: SentencePool, doc_bytes: int) -> Draft:
    """Paragraphs of 3-6 sentences until the text reaches about `doc_bytes` UTF-8 bytes."""
    target = doc_bytes * rng.uniform(0.8, 1.2)
    # Repeats dropped: a sentence twice in one document would fail Gopher's repetition rules.
    drawn = draws.integers(len(pool.sentences), size=int(1.5 * target / pool.mean_size) + 12)
    picks = list(dict.fromkeys(drawn.tolist()))
    paragraphs = []
    size = start = 0
    while size < target and start < len(picks):
        paragraph = picks[start:start + 3 + int(rng.random() * 4)]
        start += len(paragraph)
        size += sum(map(pool.sizes.__getitem__, paragraph))
        paragraphs.append([pool.sentences[k] for k in paragraph])
    return Draft(pool.lang, paragraphs)
