"""How close a round trip came back, in the field's standard measures: sentence BLEU and chrF from
sacrebleu (0-100), against the original text. Recorded on every augmented document, as Beam
distributions and as the ledger's measures `roundtrip_bleu` and `roundtrip_chrf` (every round trip
the gate judged, kept or rejected); the gate judges by the same chrF on a [0, 1] scale (similarity.py)."""

from __future__ import annotations

import sacrebleu

SCORES = ("bleu", "chrf")
# BLEU needs words: sacrebleu's Chinese tokenizer for Chinese, characters for Japanese and Korean
# (its ja-mecab and ko-mecab tokenizers need MeCab), its default 13a elsewhere
BLEU_TOKENIZERS = {"zh": "zh", "ja": "char", "ko": "char"}


def roundtrip_scores(roundtrip: str, original: str, lang: str) -> dict[str, float]:
    """{"bleu": sentence BLEU, "chrf": sentence chrF} of `roundtrip` against `original` (language `lang`)."""
    tokenize = BLEU_TOKENIZERS.get((lang or "").split("-")[0], "13a")
    bleu = sacrebleu.sentence_bleu(roundtrip, [original], tokenize=tokenize).score
    chrf = sacrebleu.sentence_chrf(roundtrip, [original]).score
    return {"bleu": round(bleu, 2), "chrf": round(chrf, 2)}


def roundtrip_measures(meta: dict) -> list[tuple[str, float]]:
    """The ledger measures of one augmented document's `meta`: ("roundtrip_bleu", its BLEU) and
    ("roundtrip_chrf", its chrF)."""
    return [(f"roundtrip_{name}", float(meta[f"roundtrip_{name}"])) for name in SCORES]
