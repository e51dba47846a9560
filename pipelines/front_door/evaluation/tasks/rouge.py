"""ROUGE-L for the harness's metric_list (`metric: !function rouge.rougeL`), from the rouge-score
library (the harness registers no ROUGE metric of its own)."""

from rouge_score import rouge_scorer

_SCORER = rouge_scorer.RougeScorer(["rougeL"])


def rougeL(references, predictions):  # noqa: N802 (the metric's name in results.json)
    """ROUGE-L F-measure of one prediction against its reference."""
    return _SCORER.score(references[0], predictions[0])["rougeL"].fmeasure
