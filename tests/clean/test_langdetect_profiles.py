"""ProfileDetector computes what langdetect computes: same languages in the same order, the same
probabilities up to rounding, on real registers, generated documents and texts that exercise each
branch of langdetect's text preparation."""

import json
from pathlib import Path

import pytest
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from fullchain.pipelines.clean.langdetect_profiles import ProfileDetector
from fullchain.pipelines.sample_corpus import generate_corpus
from tests.clean.samples import CHINESE, ENGLISH

REGISTERS = Path(__file__).parent / "data" / "langid_registers.jsonl"

EDGE_CASES = [
    "Hello WORLD, THIS is an ABC test of NASA and the UN",  # capital words: langdetect skips their n-grams
    "Ça va très bien, merci ! Voir http://example.org/a?b=c ou écrire à jean.dupont@example.fr",
    "Tiếng Việt có dấu: Hà Nội, Thành phố Hồ Chí Minh",  # Vietnamese combining marks folded
    "Tie\u0301ng Vie\u0323t vo\u0301i da\u0302u to\u0302\u0309 hop",  # decomposed diacritics
    "Привет, как дела? Это текст на русском языке с латиницей: Linux, Python",  # mostly non-Latin
    "مرحبا بك في هذا النص العربي، یک متن فارسی",
    "日本語のテキストです。カタカナもあります。",
    "한국어 텍스트입니다. 서울은 큰 도시입니다.",
    "ΑΒΓ δέλτα έψιλον ζήτα, ελληνικά κείμενα",
    "ends without a space" + " word" * 30,
    "  leading   and  trailing  spaces,,, and — punctuation…  ",
    "ẞtraße Ꞵeta \U0001d400\U0001d401 𝒳 emoji 😀 text in English here",
    "!!! ??? 123 456 ...",  # no feature: langdetect raises, we return []
    "",
]


def _langdetect(factory: DetectorFactory, text: str, trials: int) -> list[tuple[str, float]]:
    detector = factory.create()
    detector.n_trial = trials
    detector.append(text)
    try:
        return [(item.lang, item.prob) for item in detector.get_probabilities()]
    except LangDetectException:
        return []


def _texts(every: int) -> list[str]:
    rows = [json.loads(line) for line in REGISTERS.read_text(encoding="utf-8").splitlines()]
    records, _ = generate_corpus(100, seed=11)
    prefixes = [row["text"][:500] for row in rows[::every]] + [r["text"][:500] for r in records[::every]]
    return prefixes + [ENGLISH, CHINESE, ENGLISH[:120]] + EDGE_CASES


# clean's defaults (seed 0, 3 trials) on every register; langdetect's own 7 trials on a sample
@pytest.mark.parametrize(("seed", "trials", "every"), [(0, 3, 1), (7, 7, 5)])
def test_probabilities_equal_langdetects(seed, trials, every):
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(seed)
    ours = ProfileDetector(PROFILES_DIRECTORY, seed, trials)
    for text in _texts(every):
        expected = _langdetect(factory, text, trials)
        got = ours.probabilities(text)
        assert [lang for lang, _ in got] == [lang for lang, _ in expected], text[:80]
        assert [p for _, p in got] == pytest.approx([p for _, p in expected], abs=1e-9), text[:80]
    assert ours.probabilities(EDGE_CASES[-2]) == []


def test_a_text_seen_again_gets_the_same_answer_from_the_word_cache():
    ours = ProfileDetector(PROFILES_DIRECTORY, 0, 3)
    first = ours.probabilities(ENGLISH)
    assert ours.probabilities(ENGLISH) == first
    assert first[0][0] == "en"
