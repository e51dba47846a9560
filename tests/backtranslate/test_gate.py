import pytest

from fullchain.pipelines.backtranslate.config import BacktranslateConfig, GateConfig
from fullchain.pipelines.backtranslate.gate import RoundTripGate
from fullchain.pipelines.backtranslate.roundtrip import backtranslate_document, round_trip
from fullchain.pipelines.backtranslate.similarity import chrf
from tests.backtranslate.samples import FakeTranslator, english_documents, slight_edit, to_chinese, unrelated

CFG = BacktranslateConfig(fraction=1.0)


@pytest.fixture(scope="module")
def gate():
    return RoundTripGate(CFG.gate)


def test_chrf_bounds():
    assert chrf("same text", "same  text") == 1.0
    assert chrf("", "x") == 0.0 and chrf("abc", "xyz") == 0.0
    assert 0.0 < chrf("the stream flows", "the river flows") < 1.0


def test_round_trip_goes_through_the_pivot_and_keeps_layout():
    doc = english_documents(1)[0]
    assert round_trip(doc.text, "en", "zh", FakeTranslator(), CFG.max_input_tokens) == doc.text


@pytest.mark.parametrize("edit, reason", [
    (lambda text: text, "roundtrip_too_similar"),
    (to_chinese, "roundtrip_language"),
    (unrelated, "roundtrip_drifted"),
    (lambda text: "", "roundtrip_empty"),
    (slight_edit, None),
])
def test_gate_decisions(gate, edit, reason):
    doc = english_documents(1)[0]
    augmentation = backtranslate_document(doc, "en", CFG, FakeTranslator(edit), gate)
    assert augmentation.decision.reason == reason, augmentation.decision.detail
    assert augmentation.document.meta["augmented_from"] == doc.id
    if reason not in (None, "roundtrip_empty"):
        assert "chrF" in augmentation.decision.detail


def test_language_check_can_be_switched_off():
    cfg = BacktranslateConfig(fraction=1.0, gate=GateConfig(check_language=False, min_similarity=0.0))
    doc = english_documents(1)[0]
    augmentation = backtranslate_document(doc, "en", cfg, FakeTranslator(to_chinese), RoundTripGate(cfg.gate))
    assert augmentation.decision.reason is None
