"""A generated English/Chinese sample corpus with planted duplicates, and its ground truth.

Documents are about 2 KB of grammatical-looking prose built from embedded word lists:
sentences from templates, paragraphs separated by blank lines, sentences ending in "."
or "。", so they pass Gopher/C4-style quality rules and langdetect calls them en or zh.
On top of the originals the generator plants

- exact duplicates: copies of an original, re-wrapped (whitespace changes only);
- near duplicates, each aiming at a target shingle Jaccard drawn from `near_jaccard_range`, made
  by one of NEAR_EDITS: words replaced at evenly spread places (substitution), whole sentences
  deleted or inserted, the end cut off (truncation), the original inside a longer text
  (containment), or an unrelated text sharing a header and footer with the original
  (boilerplate); the truth records the Jaccard actually measured under the dedup stage's shingling;
- noisy documents that a quality filter should drop (too short, repeated lines,
  symbol spam, boilerplate, gibberish).

Everything is a function of the seed. 50,000 documents take a few seconds.
"""

from __future__ import annotations

import gc
import gzip
import json
import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from fullchain.pipelines.dedup.config import ShingleConfig
from fullchain.pipelines.dedup.jaccard import jaccard
from fullchain.pipelines.dedup.shingles import shingle_sets
from fullchain.pipelines.dedup.tokens import tokenize
from fullchain.pipelines.sample_text import Draft, Sentence, SentencePool, make_sentence, original_draft, sentence_units
from fullchain.pipelines.sample_words import EN_SITES, REPLACEABLE, ZH_SITES

@dataclass(frozen=True)
class PlantedDuplicate:
    """One planted copy and the original it was made from."""

    original_id: str
    duplicate_id: str
    kind: str  # "exact" or "near"
    target_jaccard: float  # what the generator aimed at (1.0 for exact copies)
    jaccard: float  # shingle Jaccard measured with the dedup stage's shingling
    edit: str = ""  # how a near copy was made: one of NEAR_EDITS


@dataclass
class CorpusTruth:
    """What was planted in a generated corpus."""

    languages: dict[str, str] = field(default_factory=dict)  # id -> "en", "zh" or "" (gibberish), every document
    duplicates: list[PlantedDuplicate] = field(default_factory=list)
    noisy: dict[str, str] = field(default_factory=dict)  # id -> kind of noise, for the noisy documents

    def summary(self) -> str:
        """One line: how many documents of each language and of each planted kind."""
        langs = list(self.languages.values())
        exact = sum(d.kind == "exact" for d in self.duplicates)
        return (f"{len(langs)} documents ({langs.count('en')} en, {langs.count('zh')} zh): "
                f"{exact} exact duplicates, {len(self.duplicates) - exact} near duplicates, "
                f"{len(self.noisy)} noisy")


NEAR_EDITS = ("substitution", "deletion", "insertion", "truncation", "containment", "boilerplate")


def generate_corpus(n_docs: int, seed: int = 0, zh_fraction: float = 0.2, exact_dup_fraction: float = 0.05,
                    near_dup_fraction: float = 0.1, noise_fraction: float = 0.05,
                    near_jaccard_range: tuple[float, float] = (0.3, 0.98), doc_bytes: int = 2048,
                    shingles: ShingleConfig | None = None,
                    near_edits: tuple[str, ...] = ("substitution",)) -> tuple[list[dict[str, Any]], CorpusTruth]:
    """`n_docs` records {"id", "text", "url", "date"} in id order, and what was planted in them.

    Fractions are of `n_docs`. Every copy, exact or near, is made of an original of its own,
    so planted pairs never chain. Near duplicates aim at a Jaccard drawn uniformly from
    `near_jaccard_range`, made by the `near_edits` (NEAR_EDITS) in turn; the Jaccard measured with
    `shingles` (the dedup default) is in the truth.
    """
    unknown = [edit for edit in near_edits if edit not in NEAR_EDITS]
    if unknown or not near_edits:
        raise ValueError(f"near_edits must be a non-empty choice from {NEAR_EDITS}, got {near_edits}")
    # The corpus is millions of small lists without reference cycles: the cyclic garbage
    # collector would rescan them again and again, a third of the run time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(n_docs, seed, zh_fraction, exact_dup_fraction, near_dup_fraction, noise_fraction,
                         near_jaccard_range, doc_bytes, shingles or ShingleConfig(), near_edits)
    finally:
        if collecting:
            gc.enable()


def _generate(n_docs: int, seed: int, zh_fraction: float, exact_dup_fraction: float, near_dup_fraction: float,
              noise_fraction: float, near_jaccard_range: tuple[float, float], doc_bytes: int,
              shingles: ShingleConfig, near_edits: tuple[str, ...]) -> tuple[list[dict[str, Any]], CorpusTruth]:
    fractions = {"zh_fraction": zh_fraction, "exact_dup_fraction": exact_dup_fraction,
                 "near_dup_fraction": near_dup_fraction, "noise_fraction": noise_fraction}
    for name, value in fractions.items():
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if not 0 < near_jaccard_range[0] <= near_jaccard_range[1] < 1:
        raise ValueError(f"near_jaccard_range must satisfy 0 < low <= high < 1, got {near_jaccard_range}")
    rng = random.Random(seed)
    n_exact, n_near, n_noise = (int(n_docs * f) for f in (exact_dup_fraction, near_dup_fraction, noise_fraction))
    n_original = n_docs - n_exact - n_near - n_noise
    if n_original < n_exact + n_near:
        raise ValueError("more duplicates than originals: every copy needs an original of its own")
    langs = ["zh" if rng.random() < zh_fraction else "en" for _ in range(n_original)]
    # Drawing sentences from a pool is several times faster than filling templates per document;
    # with 4 pool sentences per document, unrelated documents still share almost no shingles.
    pools = {lang: SentencePool(rng, lang, 4 * max(250, langs.count(lang))) for lang in ("en", "zh")}
    draws = np.random.default_rng(rng.getrandbits(64))
    drafts = [original_draft(rng, draws, pools[lang], doc_bytes) for lang in langs]
    sources = rng.sample(range(n_original), n_near + n_exact)
    for k, i in enumerate(sources[:n_near]):
        edit, target = near_edits[k % len(near_edits)], rng.uniform(*near_jaccard_range)
        if edit == "substitution":
            drafts.append(_near_copy(rng, drafts[i], i, target, shingles))
        elif edit == "boilerplate":
            drafts[i], copy = _shared_boilerplate(rng, draws, pools[drafts[i].lang], drafts[i], i, target, doc_bytes)
            drafts.append(copy)
        else:
            drafts.append(_sentence_edit(rng, pools[drafts[i].lang], drafts[i], i, target, edit))
    drafts += [Draft(drafts[i].lang, drafts[i].paragraphs, "exact", i) for i in sources[n_near:]]
    drafts += [_noise(rng, _NOISE_KINDS[k % len(_NOISE_KINDS)]) for k in range(n_noise)]

    order = list(range(len(drafts)))
    rng.shuffle(order)  # copies get ids before and after their originals
    width = len(str(max(len(drafts) - 1, 0)))
    ids = [""] * len(drafts)
    for position, index in enumerate(order):
        ids[index] = f"doc-{position:0{width}d}"
    texts = [draft.text() for draft in drafts]
    for i, draft in enumerate(drafts):
        if draft.role == "exact":
            texts[i] = _rewrap(rng, texts[i])
    truth = CorpusTruth(languages={ids[i]: d.lang for i, d in enumerate(drafts)},
                        noisy={ids[i]: d.role for i, d in enumerate(drafts) if d.role in _NOISE_KINDS})
    near = [i for i, d in enumerate(drafts) if d.role == "near"]
    sets = shingle_sets([t for i in near for t in (texts[drafts[i].source], texts[i])], shingles)
    measured = {i: jaccard(sets[2 * k], sets[2 * k + 1]) for k, i in enumerate(near)}
    for i, d in enumerate(drafts):
        if d.role in ("exact", "near"):
            # Exact copies have the same tokens, hence the same shingles, by construction.
            truth.duplicates.append(PlantedDuplicate(ids[d.source], ids[i], d.role, round(d.target_jaccard, 4),
                                                     round(measured.get(i, 1.0), 4), d.edit))
    records = [_record(rng, ids[index], texts[index], drafts[index].lang) for index in order]
    return records, truth


def write_jsonl(records: list[dict[str, Any]], path: str) -> None:
    """Write records as JSON lines, gzip-compressed when `path` ends with .gz."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False))
            out.write("\n")


def write_sample_corpus(path: str, n_docs: int = 5000, seed: int = 0) -> str:
    """Generate the demo corpus (default fractions) into `path`; returns a one-line summary."""
    records, truth = generate_corpus(n_docs, seed=seed)
    write_jsonl(records, path)
    return f"wrote {path}: {truth.summary()}"


# --- originals --------------------------------------------------------------------------

def _record(rng: random.Random, doc_id: str, text: str, lang: str) -> dict[str, Any]:
    site = rng.choice(ZH_SITES if lang == "zh" else EN_SITES)
    month, day = rng.randrange(1, 13), rng.randrange(1, 29)
    return {"id": doc_id, "text": text, "url": f"https://www.{site}.example/{2020 + rng.randrange(5)}/"
            f"{month:02d}/{rng.getrandbits(32):08x}.html", "date": f"2024-{month:02d}-{day:02d}"}


# --- copies -----------------------------------------------------------------------------

def _rewrap(rng: random.Random, text: str) -> str:
    """The same words with different whitespace: an exact duplicate after normalisation."""
    kind = rng.randrange(3)
    if kind == 0:
        return text
    if kind == 1:
        return text.replace("\n\n", "\n\n\n").rstrip("\n") + "\n\n"
    return "  " + text.replace(". ", ".  ")


@lru_cache(maxsize=None)
def _token_count(unit: str) -> int:
    return len(tokenize(unit))


def _near_copy(rng: random.Random, original: Draft, source: int, target: float, cfg: ShingleConfig) -> Draft:
    """A copy with replaced words spread so that its shingle Jaccard with the original is about `target`.

    A replaced unit of u tokens at least n tokens away from other replacements changes
    u + n - 1 shingles; with S shingles, d changed ones give Jaccard (S - d) / (S + d).
    """
    n = cfg.cjk_char_ngram_size if original.lang == "zh" else cfg.ngram_size
    units = [unit for paragraph in original.paragraphs for _, sentence in paragraph for unit in sentence]
    token_counts = np.array([_token_count(unit) for unit in units])
    starts = np.cumsum(token_counts) - token_counts
    replaceable = np.array([i for i, unit in enumerate(units) if unit in REPLACEABLE])
    n_tokens = int(token_counts.sum())
    mean_unit = float(token_counts[replaceable].mean())
    changed_shingles = max(n_tokens - n + 1, 1) * (1 - target) / (1 + target)
    # Replacements n + 2 units apart share no shingle; that caps their number, and the lowest
    # reachable Jaccard at about 0.25.
    most = n_tokens // (n + 2 * max(1, int(mean_unit)))
    count = int(min(max(1, round(changed_shingles / (mean_unit + n - 1))), most))
    stride = n_tokens / max(count, 1)
    spots = rng.uniform(0, stride) + stride * np.arange(count)
    chosen = np.unique(replaceable[np.minimum(np.searchsorted(starts[replaceable], spots), len(replaceable) - 1)])
    new_units = list(units)
    for i in chosen:
        words = REPLACEABLE[units[i]]
        while new_units[i] == units[i]:
            new_units[i] = words[int(rng.random() * len(words))]
    paragraphs, offset = [], 0
    for paragraph in original.paragraphs:
        sentences = []
        for sentence in paragraph:
            changed_units = new_units[offset:offset + len(sentence[1])]
            offset += len(sentence[1])
            sentences.append(sentence if changed_units == sentence[1] else make_sentence(changed_units, original.lang))
        paragraphs.append(sentences)
    return Draft(original.lang, paragraphs, "near", source, target, "substitution")


def _sentence_tokens(sentence: Sentence) -> int:
    return sum(_token_count(unit) for unit in sentence[1])


def _new_sentences(rng: random.Random, pool: SentencePool, tokens: float) -> list[Sentence]:
    """Sentences drawn from `pool` until they hold at least `tokens` tokens."""
    drawn, size = [], 0
    while size < tokens:
        drawn.append(pool.sentences[int(rng.random() * len(pool.sentences))])
        size += _sentence_tokens(drawn[-1])
    return drawn


def _sentence_edit(rng: random.Random, pool: SentencePool, original: Draft, source: int, target: float,
                   edit: str) -> Draft:
    """A copy made by whole-sentence edits aiming at shingle Jaccard `target`. Deleting sentences or
    cutting the end keeps about `target` of the shingles (J = kept / all); inserting sentences or
    wrapping the original in new text adds shingles (J = all / (all + added))."""
    paragraphs = [list(paragraph) for paragraph in original.paragraphs]
    total = sum(_sentence_tokens(sentence) for paragraph in paragraphs for sentence in paragraph)
    if edit == "truncation":  # the first sentences up to the target, the last one always cut
        flat = [(p, sentence) for p, paragraph in enumerate(paragraphs) for sentence in paragraph][:-1]
        kept, size = [[] for _ in paragraphs], 0
        for p, sentence in flat:
            if size >= target * total:
                break
            kept[p].append(sentence)
            size += _sentence_tokens(sentence)
        paragraphs = kept
    elif edit == "deletion":
        spots = [(p, s) for p, paragraph in enumerate(paragraphs) for s in range(len(paragraph))]
        rng.shuffle(spots)
        removed, dropped = 0, set()
        for p, s in spots[:-1]:  # one sentence always stays
            if removed >= (1 - target) * total:
                break
            dropped.add((p, s))
            removed += _sentence_tokens(paragraphs[p][s])
        paragraphs = [[sentence for s, sentence in enumerate(paragraph) if (p, s) not in dropped]
                      for p, paragraph in enumerate(paragraphs)]
    else:
        added = _new_sentences(rng, pool, total * (1 - target) / target)
        if edit == "insertion":
            for sentence in added:
                paragraph = paragraphs[int(rng.random() * len(paragraphs))]
                paragraph.insert(int(rng.random() * (len(paragraph) + 1)), sentence)
        else:  # containment: the original whole, inside new text before and after it
            half = len(added) // 2
            paragraphs = [added[:half]] + paragraphs + [added[half:]]
    paragraphs = [paragraph for paragraph in paragraphs if paragraph]
    return Draft(original.lang, paragraphs, "near", source, target, edit)


def _shared_boilerplate(rng: random.Random, draws: np.random.Generator, pool: SentencePool, original: Draft,
                        source: int, target: float, doc_bytes: int) -> tuple[Draft, Draft]:
    """`original` and an unrelated text, both given the same header and footer paragraphs, sized so
    that the pair's shingle Jaccard is about `target` (J = block / (block + both bodies)): two pages of
    one site, alike only in their boilerplate."""
    other = original_draft(rng, draws, pool, doc_bytes)
    bodies = sum(_sentence_tokens(s) for draft in (original, other) for p in draft.paragraphs for s in p)
    block = _new_sentences(rng, pool, bodies * target / (1 - target))
    header, footer = block[:len(block) // 2], block[len(block) // 2:]

    def framed(draft: Draft, role: str, edit: str) -> Draft:
        paragraphs = [p for p in [header, *draft.paragraphs, footer] if p]
        return Draft(draft.lang, paragraphs, role, draft.source if role == "original" else source, target, edit)

    return framed(original, "original", ""), framed(other, "near", "boilerplate")


# --- noise ------------------------------------------------------------------------------

_NOISE_KINDS = ("too_short", "repeated_lines", "symbols", "boilerplate", "gibberish")


def _noise(rng: random.Random, kind: str) -> Draft:
    """A document a quality filter should drop, as one paragraph of one sentence per line."""
    if kind == "too_short":
        lines = [" ".join(sentence_units(rng, "en"))]
    elif kind == "repeated_lines":
        line = " ".join(sentence_units(rng, "en"))
        lines = [line] * rng.randint(20, 40)
    elif kind == "symbols":
        lines = [" ".join(rng.choice(["#", "###", "$$$", "***", "|", "{}", "--", "=>"]) for _ in range(8))
                 + " " + " ".join(sentence_units(rng, "en")) for _ in range(15)]
    elif kind == "boilerplate":
        lines = ["Home | About | Contact | Login", "Please enable JavaScript to view this page.",
                 "Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "Cookie policy", "Terms of use",
                 "Copyright 2024. All rights reserved."]
    else:
        letters = "bcdfghjklmnpqrstvwxz"
        lines = [" ".join("".join(rng.choices(letters, k=rng.randint(2, 14))) for _ in range(12))
                 for _ in range(20)]
    return Draft("" if kind == "gibberish" else "en", [[("\n".join(lines), [])]], kind)
