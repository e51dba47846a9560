"""exporters.validation_report: the pure scoring parts."""

import numpy as np
import pytest

from fullchain.exporters.validation_report import window_scores

VOCAB = 50


def test_window_scores_perplexity_and_top1():
    uniform = window_scores(lambda window: np.zeros((len(window), VOCAB), dtype=np.float32), [[1, 2, 3, 4]] * 2)
    assert uniform[0] == pytest.approx(VOCAB)

    def certain(window):
        # puts almost all mass on the true next token
        logits = np.full((len(window), VOCAB), -30.0, dtype=np.float32)
        logits[np.arange(len(window) - 1), window[1:]] = 30.0
        return logits

    ppl, top1 = window_scores(certain, [[5, 6, 7], [8, 9, 10]])
    assert ppl == pytest.approx(1.0, abs=1e-6)
    assert top1.tolist() == [6, 7, 9, 10]
