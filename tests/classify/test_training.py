"""Training the hashed classifier: deterministic, separates two sets, honest held-out metrics."""

import numpy as np
import pytest

from fullchain.pipelines.classify.features import FeatureSpec
from fullchain.pipelines.classify.hashed_model import (
    ClassifierFolderError, load_hashed_classifier, read_folder_config, save_classifier,
)
from fullchain.pipelines.classify.metrics import best_f1_threshold, metrics_at, roc_auc, roc_curve
from fullchain.pipelines.classify.training import TrainSettings, train_classifier

PROSE = ["The river shaped the lives of the people in the market town for centuries.",
         "Historians gathered letters and parish records about the great flood.",
         "The committee published its findings after reviewing the evidence.",
         "Local schools teach children about the history of the valley."]
SPAM = ["click here buy now cheap price free shipping", "win win casino bonus click now",
        "best deals free free free limited offer", "lorem ipsum dolor sit amet consectetur"]


def sets(n):
    rng = np.random.default_rng(1)
    pos = [" ".join(rng.choice(PROSE, 2)) + f" ({i})" for i in range(n)]
    neg = [" ".join(rng.choice(SPAM, 2)) + f" ({i})" for i in range(n)]
    return pos, neg


def test_training_is_deterministic_and_separates_the_sets():
    pos, neg = sets(60)
    spec, settings = FeatureSpec(hash_bits=14), TrainSettings(epochs=40, seed=3)
    first = train_classifier(pos, neg, spec, settings)
    second = train_classifier(pos, neg, spec, settings)
    assert np.array_equal(first.model.weights, second.model.weights) and first.model.bias == second.model.bias
    assert first.metrics.auc == 1.0 and first.metrics.f1 == 1.0
    assert (first.metrics.positives, first.metrics.negatives) == (12, 12)
    assert (first.train_positives, first.train_negatives) == (48, 48)
    probs = first.model.probabilities(["The historians of the town wrote about the river.", "buy now cheap casino"])
    assert probs[0] > 0.5 > probs[1]
    other_seed = train_classifier(pos, neg, spec, TrainSettings(epochs=40, seed=4))
    assert not np.array_equal(first.model.weights, other_seed.model.weights)


def test_held_out_metrics_are_measured_not_assumed():
    # the same texts on both sides: nothing to learn, and the held-out AUC must say so
    pos, _ = sets(40)
    trained = train_classifier(pos, list(pos), FeatureSpec(hash_bits=12), TrainSettings(epochs=20))
    assert trained.metrics.auc < 0.8


def test_a_set_too_small_to_hold_out_is_refused():
    with pytest.raises(ValueError, match="negative set has 1 document"):
        train_classifier(["a b", "c d"], ["e f"], FeatureSpec(hash_bits=10), TrainSettings())


def test_metrics():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(scores, labels) == pytest.approx(0.75)
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
    m = metrics_at(scores, labels, 0.3)
    assert (m.precision, m.recall) == (pytest.approx(2 / 3), 1.0)
    assert best_f1_threshold(scores, labels) == pytest.approx((0.1 + 0.35) / 2)
    fpr, tpr = roc_curve(scores, labels)
    assert fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert np.trapz(tpr, fpr) == pytest.approx(roc_auc(scores, labels))


def test_folder_round_trip_and_refusals(tmp_path):
    pos, neg = sets(20)
    trained = train_classifier(pos, neg, FeatureSpec(hash_bits=12), TrainSettings(epochs=10))
    folder = str(tmp_path / "clf")
    save_classifier(folder, trained, ("junk", "good"), TrainSettings(epochs=10), {"positive": "p"})
    loaded = load_hashed_classifier(folder)
    assert loaded.labels == ("junk", "good") and loaded.threshold == pytest.approx(trained.metrics.threshold)
    assert np.array_equal(loaded.model.weights, trained.model.weights)
    scores = loaded.scores([pos[0]])[0]
    assert set(scores) == {"junk", "good"} and scores["good"] + scores["junk"] == pytest.approx(1.0)
    config = read_folder_config(folder)
    assert config["heldout_metrics"]["auc"] == trained.metrics.to_json()["auc"]
    (tmp_path / "clf" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ClassifierFolderError, match="model.safetensors: not a readable safetensors file"):
        load_hashed_classifier(folder)
