"""chrF (Popović, 2015): how much of a text's character n-grams another text shares, as the gate
measures it: sacrebleu's sentence chrF (character n-grams 1..6, beta 2, whitespace removed) on a
[0, 1] scale. Character n-grams need no tokenizer, so the measure works alike for English and
Chinese. The same number times 100 is the `roundtrip_chrf` every augmented document records
(roundtrip_scores.py), so the gate's band reads directly on that distribution.
"""

from __future__ import annotations

import sacrebleu


def chrf(hypothesis: str, reference: str) -> float:
    """chrF of `hypothesis` against `reference` in [0, 1]: 1 for equal texts (ignoring whitespace), 0 for
    texts with no character in common or an empty one."""
    if not "".join(hypothesis.split()) or not "".join(reference.split()):
        return 1.0 if "".join(hypothesis.split()) == "".join(reference.split()) else 0.0
    return sacrebleu.sentence_chrf(hypothesis, [reference]).score / 100
