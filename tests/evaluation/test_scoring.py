"""The pure scoring core: rows, log-likelihoods from logits, batches, stop strings."""

import numpy as np
import pytest

from fullchain.evaluation.scoring import (continuation_scores, cut_at_stop, left_padded, length_batches,
                                          scoring_row)


def test_a_row_reads_context_and_continuation_less_its_last_token_and_cuts_the_context_on_the_left():
    row = scoring_row([1, 2, 3], [4, 5], max_length=10)
    assert row.tokens == [1, 2, 3, 4] and row.continuation == [4, 5]
    cut = scoring_row([1, 2, 3, 4, 5], [6, 7], max_length=4)
    assert cut.tokens == [3, 4, 5, 6] and cut.continuation == [6, 7]
    with pytest.raises(ValueError):
        scoring_row([1], [], max_length=4)


def test_continuation_log_likelihood_and_greedy_flag():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32))
    total, greedy = continuation_scores(logits, [0, 2])
    assert total == pytest.approx(np.log(0.7) + np.log(0.8), abs=1e-6) and greedy
    total, greedy = continuation_scores(logits, [1, 2])
    assert total == pytest.approx(np.log(0.2) + np.log(0.8), abs=1e-6) and not greedy


def test_left_padding_and_longest_first_batches():
    ids, mask = left_padded([[5, 6, 7], [8]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert length_batches([1, 5, 3, 5], 2) == [[1, 3], [2, 0]]


def test_text_is_cut_at_the_first_stop_string():
    assert cut_at_stop("cold\nwarm.", ["\n", "."]) == ("cold", True)
    assert cut_at_stop("cold", ["\n"]) == ("cold", False)


def test_the_plot_has_one_panel_per_kind_of_metric_each_on_its_own_scale(tmp_path):
    import matplotlib.image

    from fullchain.evaluation.summary import metric_kind, plot

    assert [metric_kind(m) for m in ("acc", "exact_match (answer)", "word_perplexity", "bits_per_byte",
                                     "chrf (answer)", "rougeL (answer)", "sample_len")] == \
        ["accuracy", "accuracy", "perplexity", "bits per byte", "generation", "generation", "other"]
    table = {"fc_choice": {"acc": {"a": 0.25, "b": 0.3}}, "fc_ppl_en": {"word_perplexity": {"a": 3000.0, "b": 3100.0},
                                                                       "bits_per_byte": {"a": 2.3, "b": 2.4}}}
    plot(table, ["a", "b"], tmp_path / "scores.png", "two models")
    height, width, _ = matplotlib.image.imread(tmp_path / "scores.png").shape
    assert height > 800 and width < 2000  # three panels in two rows, not one wide strip
