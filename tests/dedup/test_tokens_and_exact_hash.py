"""Tokens (shared by the exact hash and the shingles) and the normalised-text hash."""

import random
import re

from fullchain.pipelines.dedup.exact_hash import exact_hash, normalised_text
from fullchain.pipelines.dedup.tokens import count_cjk_chars, tokenize


def test_tokens_are_casefolded_words_without_punctuation():
    assert tokenize("Hello, World! It's 3.14 -- foo_bar.") == ["hello", "world", "it", "s", "3", "14", "foo_bar"]
    assert tokenize("Ünïcode STRASSE straße") == ["ünïcode", "strasse", "strasse"]


def test_cjk_characters_are_tokens_of_their_own():
    assert tokenize("我们的 GDP 增长了5%。ニッポン") == [*"我们的", "gdp", *"增长了", "5", *"ニッポン"]
    assert count_cjk_chars("我们的 GDP 增长了5%。ニッポン") == 10
    assert count_cjk_chars("plain ascii") == 0


def test_ascii_fast_path_equals_the_regex():
    rng = random.Random(0)
    word_regex = re.compile(r"\w+")
    for _ in range(2000):
        text = "".join(chr(rng.randrange(128)) for _ in range(rng.randrange(60)))
        assert tokenize(text) == word_regex.findall(text.lower())


def test_exact_hash_ignores_case_punctuation_and_whitespace():
    a = "The cat sat on the mat.\n\nIt was happy!"
    b = "  the CAT sat on the mat\nit   was happy "
    assert normalised_text(a) == "the cat sat on the mat it was happy"
    assert exact_hash(a) == exact_hash(b)
    assert exact_hash(a) != exact_hash("The cat sat on the hat. It was happy!")
    assert exact_hash("我们 的 国家。") == exact_hash("我们的国家")
    assert len(exact_hash(a)) == 16
