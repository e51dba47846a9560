"""Synonym replacement's core: protected spans, named entities, determinism, the real lexicons."""

import random

import pytest

from fullchain.pipelines.document import Document
from fullchain.pipelines.synonyms.augmentation import augment
from fullchain.pipelines.synonyms.config import SynonymsConfig
from fullchain.pipelines.synonyms.lexicons import load_lexicon
from fullchain.pipelines.synonyms.replacement import chinese_candidates, english_candidates, replace_synonyms


class FakeLexicon:
    """Every word of three letters or more has the synonym SYN (upper case, easy to spot)."""

    def synonyms(self, word):
        return ("SYN",)


def test_code_urls_numbers_and_names_are_never_replaced():
    text = ("Visit https://example.org/river/path or www.river.com, mail river@example.com; "
            "run `river --flood` and\n    river_code = flood(3)\n```\nriver flood\n```\n"
            "Paris has 42 rivers, v2 river2 and snake_case; the quiet valley.")
    words = [text[s:e] for s, e, _ in english_candidates(text, FakeLexicon())]
    # Visit and Paris (capitals), and/has/the (function words) and everything in code, URLs,
    # addresses or next to digits and underscores are left out
    assert words == ["mail", "run", "rivers", "quiet", "valley"], words


def test_replacement_share_and_determinism():
    text = " ".join(f"word{'abcdefghij'[i]}x" for i in range(10))  # ten distinct lower-case words
    candidates = english_candidates(text, FakeLexicon())
    assert len(candidates) == 10
    first = replace_synonyms(text, candidates, 0.3, random.Random(7))
    assert (first.replaced, first.candidates) == (3, 10) and first.text.count("SYN") == 3
    assert replace_synonyms(text, candidates, 0.3, random.Random(7)) == first
    assert replace_synonyms(text, candidates, 0.01, random.Random(7)).replaced == 1  # at least one
    assert replace_synonyms(text, [], 0.3, random.Random(7)).text == text


@pytest.fixture(scope="module")
def wordnet():
    return load_lexicon("en", "/usr/share/wordnet", 2)


def test_wordnet_and_cilin_give_real_synonyms(wordnet):
    assert "large" in wordnet.synonyms("big")
    assert wordnet.synonyms("rivers") == ()  # inflected forms are left alone
    cilin = load_lexicon("zh", "", 2)
    text = "这条穿过老城的河流影响着居民的生活。"
    found = {text[s:e]: syn for s, e, syn in chinese_candidates(text, cilin)}
    assert "居民" in found and all(len(w) >= 2 for syns in found.values() for w in syns)


def test_augmented_document_has_lineage_and_a_stable_id(wordnet):
    cfg = SynonymsConfig(fraction=1.0, synonym_ratio=0.5, languages=["en"])
    doc = Document(id="d1", text="The big river runs through the quiet old town.", lang="en", meta={"k": 1})
    outcome = augment(doc, cfg, lambda lang: wordnet)
    again = augment(doc, cfg, lambda lang: wordnet)
    assert outcome.status == "generated" and outcome.document == again.document
    aug = outcome.document
    assert aug.id != doc.id and len(aug.id) == 20 and aug.text != doc.text
    assert aug.meta["augmented_from"] == "d1" and aug.meta["augmentation"] == "synonym_replacement"
    assert aug.meta["k"] == 1 and aug.meta["synonym_replacements"] >= 1
    assert augment(aug, cfg, lambda lang: wordnet).status == "already_augmented"
    assert augment(Document(id="d2", text="x", lang="fr"), cfg, lambda lang: wordnet).status == "other_language"
    other_seed = augment(doc, SynonymsConfig(fraction=1.0, synonym_ratio=0.5, languages=["en"], seed=1),
                         lambda lang: wordnet)
    assert other_seed.document.id != aug.id
