import pytest

from fullchain.pipelines.backtranslate.config import BacktranslateConfig, GateConfig
from fullchain.pipelines.backtranslate.gate import RoundTripGate
from fullchain.pipelines.backtranslate.roundtrip import judged_augmentation
from fullchain.pipelines.backtranslate.similarity import chrf
from tests.backtranslate.samples import english_documents, slight_edit, to_chinese, unrelated

CFG = BacktranslateConfig(fraction=1.0)


@pytest.fixture(scope="module")
def gate():
    return RoundTripGate(CFG.gate)


def test_chrf_bounds():
    assert chrf("same text", "same  text") == 1.0
    assert chrf("", "x") == 0.0 and chrf("abc", "xyz") == 0.0
    near, far = chrf("the stream flows", "the river flows"), chrf("the stream flows", "a cat sat down")
    assert 0.0 < far < near < 1.0


@pytest.mark.parametrize("edit, reason", [
    (lambda text: text, "roundtrip_too_similar"),
    (to_chinese, "roundtrip_language"),
    (unrelated, "roundtrip_drifted"),
    (lambda text: "", "roundtrip_empty"),
    (slight_edit, None),
])
def test_gate_decisions(gate, edit, reason):
    doc = english_documents(1)[0]
    # the judgement the Beam stage makes of each reassembled round trip (tests/backtranslate/test_beam.py
    # runs it with translators)
    augmentation = judged_augmentation(doc, edit(doc.text), "en", CFG, gate)
    assert augmentation.decision.reason == reason, augmentation.decision.detail
    assert augmentation.document.meta["augmented_from"] == doc.id
    if reason not in (None, "roundtrip_empty"):
        assert "chrF" in augmentation.decision.detail


def test_language_check_can_be_switched_off():
    cfg = BacktranslateConfig(fraction=1.0, gate=GateConfig(check_language=False, min_similarity=0.0))
    doc = english_documents(1)[0]
    augmentation = judged_augmentation(doc, to_chinese(doc.text), "en", cfg, RoundTripGate(cfg.gate))
    assert augmentation.decision.reason is None
