"""Planted documents on top of real text: exact and near copies of originals and junk, so that every
filter of the chain has something to catch, and the ground truth of what was planted.

A planted document is recorded as {"id", "kind", "source_id"}: kind exact_duplicate,
near_duplicate or junk_<what>; source_id the original a copy was made from (None for junk).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

NEAR_EDITS = ("deletion", "truncation", "insertion")
JUNK_KINDS = ("too_short", "repeated_lines", "symbols", "boilerplate", "gibberish")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


@dataclass(frozen=True)
class Original:
    """A real-text document before planting."""

    text: str
    lang: str
    source: str


@dataclass(frozen=True)
class Planted:
    """A planted document: its text, language, kind and the index of its original (-1 for junk)."""

    text: str
    lang: str
    kind: str
    original: int = -1


def sentences(text: str) -> list[str]:
    """The text cut after each sentence-ending mark (either script), empty pieces dropped."""
    return [piece for piece in _SENTENCE_END.split(text) if piece.strip()]


def rewrap(rng: random.Random, text: str) -> str:
    """The same words with other whitespace: an exact duplicate once whitespace is normalised."""
    kind = rng.randrange(3)
    if kind == 0:
        return text
    if kind == 1:
        return text.replace("\n\n", "\n\n\n").rstrip("\n") + "\n\n"
    return "  " + text.replace(". ", ".  ")


def near_copy(rng: random.Random, text: str, lang: str, edit: str, filler: list[str]) -> str:
    """A copy that shares most of its shingles with `text`: about a tenth of the sentences deleted,
    the last sixth cut off, or a few sentences of `filler` inserted."""
    joiner = "" if lang == "zh" else " "
    units = sentences(text)
    if len(units) < 4:
        units = text.split("\n")
        joiner = "\n"
    if edit == "deletion":
        drop = set(rng.sample(range(len(units)), max(1, len(units) // 10)))
        kept = [u for i, u in enumerate(units) if i not in drop]
    elif edit == "truncation":
        kept = units[:max(1, len(units) - max(1, len(units) // 6))]
    else:
        kept = list(units)
        for piece in rng.sample(filler, min(len(filler), max(1, len(units) // 10))):
            kept.insert(rng.randrange(len(kept) + 1), piece)
    return joiner.join(u.strip() for u in kept)


def junk(rng: random.Random, kind: str, donor: str) -> str:
    """A document a quality filter should drop, built around real words of `donor` (an English text)."""
    words = donor.split()
    line = " ".join(words[:12]) or "nothing to see here"
    if kind == "too_short":
        return line
    if kind == "repeated_lines":
        return "\n".join([line] * rng.randint(20, 40))
    if kind == "symbols":
        return "\n".join(" ".join(rng.choice(["#", "###", "$$$", "***", "|", "{}", "--", "=>"]) for _ in range(8))
                         + " " + " ".join(rng.sample(words, min(len(words), 6))) for _ in range(15))
    if kind == "boilerplate":
        return "\n".join(["Home | About | Contact | Login", "Please enable JavaScript to view this page.",
                          "Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "Cookie policy",
                          "Terms of use", "Copyright 2024. All rights reserved."])
    letters = "bcdfghjklmnpqrstvwxz"
    return "\n".join(" ".join("".join(rng.choices(letters, k=rng.randint(2, 14))) for _ in range(12))
                     for _ in range(20))


def plant(rng: random.Random, originals: list[Original], exact_fraction: float, near_fraction: float,
          junk_fraction: float) -> list[Planted]:
    """Copies and junk for `originals`; every copy is made of an original of its own."""
    n = len(originals)
    n_exact, n_near, n_junk = (int(n * f) for f in (exact_fraction, near_fraction, junk_fraction))
    if n_exact + n_near > n:
        raise ValueError(f"{n_exact + n_near} copies planted on {n} originals: every copy needs its own original")
    chosen = rng.sample(range(n), n_exact + n_near)
    planted = [Planted(rewrap(rng, originals[i].text), originals[i].lang, "exact_duplicate", i)
               for i in chosen[:n_exact]]
    for k, i in enumerate(chosen[n_exact:]):
        original = originals[i]
        same_lang = [o.text for o in originals if o.lang == original.lang and o is not original]
        filler = sentences(rng.choice(same_lang)) if same_lang else []
        edit = NEAR_EDITS[k % len(NEAR_EDITS)] if filler else NEAR_EDITS[k % 2]
        planted.append(Planted(near_copy(rng, original.text, original.lang, edit, filler), original.lang,
                               "near_duplicate", i))
    english = [o.text for o in originals if o.lang == "en"] or [o.text for o in originals]
    planted += [Planted(junk(rng, JUNK_KINDS[k % len(JUNK_KINDS)], rng.choice(english)), "",
                        f"junk_{JUNK_KINDS[k % len(JUNK_KINDS)]}") for k in range(n_junk)]
    return planted
