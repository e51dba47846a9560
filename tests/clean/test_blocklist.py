from fullchain.pipelines.clean.blocklist import BLOCKLIST, Blocklist
from fullchain.pipelines.clean.config import BlocklistConfig
from .samples import CHINESE, ENGLISH


def blocklist(words=(), patterns=()):
    return Blocklist(BlocklistConfig(words=list(words), patterns=list(patterns)))


def test_empty_blocklist_is_disabled_and_finds_nothing():
    empty = blocklist()
    assert not empty.enabled
    assert empty(ENGLISH) is None


def test_spaced_words_match_whole_words_case_insensitively():
    rules = blocklist(words=["tannery", "Casino"])
    assert rules.enabled
    failure = rules(ENGLISH)
    assert failure.reason == BLOCKLIST and "'tannery'" in failure.detail
    assert rules("Visit our CASINO tonight.") is not None
    assert rules("The casinos and tanneries closed.") is None  # not whole words


def test_phrases_and_words_with_symbols():
    rules = blocklist(words=["market town", "c++"])
    assert "'market town'" in rules(ENGLISH).detail
    assert rules("I write C++ daily.") is not None
    assert rules("The market, town hall and c+ grades.") is None


def test_cjk_words_match_as_substrings():
    rules = blocklist(words=["博物馆"])
    failure = rules(CHINESE)
    assert failure is not None and "博物馆" in failure.detail
    assert blocklist(words=["图书馆"])(CHINESE) is None


def test_patterns_are_regular_expressions():
    rules = blocklist(patterns=[r"\b\d{3}-\d{4}\b", r"(?i)free money"])
    assert rules(ENGLISH) is None
    assert "pattern" in rules("Call 555-1234 now").detail
    assert rules("FREE MONEY inside") is not None
