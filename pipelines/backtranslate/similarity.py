"""chrF (Popović, 2015): how much of a text's character n-grams another text shares.

The F-score with beta 2 (recall weighted twice) of character n-gram precision and recall,
averaged over n = 1..6, whitespace removed, as sacrebleu's default chrF but on a [0, 1] scale.
Character n-grams need no tokenizer, so the measure works alike for English and Chinese.
"""

from __future__ import annotations

from collections import Counter

MAX_ORDER = 6
BETA = 2.0


def _ngrams(text: str, n: int) -> Counter:
    return Counter(text[i:i + n] for i in range(len(text) - n + 1))


def chrf(hypothesis: str, reference: str, max_order: int = MAX_ORDER, beta: float = BETA) -> float:
    """chrF of `hypothesis` against `reference` in [0, 1]: 1 for equal texts (ignoring whitespace), 0 for
    texts with no character in common or an empty one."""
    hyp, ref = "".join(hypothesis.split()), "".join(reference.split())
    if not hyp or not ref:
        return 1.0 if hyp == ref else 0.0
    precision = recall = 0.0
    orders = 0
    for n in range(1, max_order + 1):
        hyp_grams, ref_grams = _ngrams(hyp, n), _ngrams(ref, n)
        if not hyp_grams or not ref_grams:
            break  # a text shorter than n: average over the orders both texts have
        common = sum((hyp_grams & ref_grams).values())
        precision += common / sum(hyp_grams.values())
        recall += common / sum(ref_grams.values())
        orders += 1
    precision, recall = precision / orders, recall / orders
    if precision + recall == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)
