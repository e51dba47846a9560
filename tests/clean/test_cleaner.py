import random
import time

import pytest

from fullchain.pipelines.clean.cleaner import (
    METRIC_NAMES, REJECTION_REASONS, DocumentCleaner, metric_counts, pii_tallies,
)
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.clean.normalize import normalize
from fullchain.pipelines.document import Document, Rejected
from .samples import CHINESE, ENGLISH

FRENCH = (
    "La rivière qui traverse la vieille ville a façonné la vie des habitants depuis des siècles. "
    "Au printemps, lorsque la neige fond dans les collines, l'eau monte rapidement et les agriculteurs "
    "déplacent leurs moutons vers des pâturages plus élevés avant que les prairies ne soient inondées. "
    "Les historiens locaux ont rassemblé des lettres, des registres paroissiaux et des journaux intimes "
    "qui décrivent la grande crue de 1887, quand le pont de pierre a été emporté en une seule nuit."
)


@pytest.fixture(scope="module")
def cleaner():
    return DocumentCleaner(CleanConfig())


def doc(text, **fields):
    return Document(id="doc-1", text=text, source="input/part-0.jsonl", **fields)


def test_good_english_document_is_kept(cleaner):
    original = doc(ENGLISH, meta={"url": "https://example.com"})
    result = cleaner(original)
    assert isinstance(result, Document)
    assert result.text == normalize(ENGLISH)
    assert result.lang == "en"
    assert result.meta["lang_prob"] > 0.99 and result.meta["lang_method"] == "langdetect"
    assert result.meta["c4_removed_lines"] == 0
    assert result.meta["url"] == "https://example.com"
    assert (result.id, result.source) == ("doc-1", "input/part-0.jsonl")
    # The input is not modified.
    assert original.text == ENGLISH and original.meta == {"url": "https://example.com"} and original.lang == ""


def test_good_chinese_document_is_kept(cleaner):
    result = cleaner(doc(CHINESE))
    assert isinstance(result, Document), result
    assert result.lang == "zh"
    assert result.meta["lang_variant"] == "zh-cn" and result.meta["lang_method"] == "script"
    assert result.text == normalize(CHINESE)
    assert "。" in result.text and "," in result.text  # ， folded by NFKC, 。 kept


def test_text_changes_are_applied_to_kept_documents(cleaner):
    broken = ENGLISH.replace("café", "cafÃ©").replace("o'clock", "oâ€™clock") + "\nHome | About | Contact\n"
    result = cleaner(doc(broken.replace("\n", "\r\n")))
    assert isinstance(result, Document), result
    assert "café" in result.text and "o'clock" in result.text
    assert "Home" not in result.text
    assert result.meta["mojibake_repaired"] is True
    assert result.meta["c4_removed_lines"] == 1
    assert result.text == normalize(ENGLISH)


def test_fifty_megabyte_document_is_rejected_in_milliseconds(cleaner):
    huge = doc("The quick brown fox jumps over the lazy dog. " * 1_200_000)
    assert len(huge.text) > 50_000_000
    start = time.perf_counter()
    result = cleaner(huge)
    elapsed = time.perf_counter() - start
    assert isinstance(result, Rejected) and result.reason == "too_long"
    assert result.detail == f"{len(huge.text)} characters > 1000000"
    assert elapsed < 0.05  # normalising alone would take several hundred ms


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("binary\x00\x01\x02\x03\x04\x05" * 10, "bad_encoding"),
        ("\u200b\ufeff \n\t\u3000\x7f" + "\u2060" * 200, "empty"),
        (FRENCH, "lang_not_allowed"),
        ("12345 67890 +-*/ 2024-01-01", "lang_undetermined"),
        ("The river is long. It is very wet.", "gopher_too_few_words"),
        (ENGLISH + " buy now" * 80, "gopher_top_ngram_char_frac"),
        (ENGLISH + "\nfunction f() { return 1; }", "c4_curly_bracket"),
        ("这是一个很短的句子。", "gopher_too_few_words"),
    ],
)
def test_rejections_carry_stage_reason_and_detail(cleaner, text, reason):
    original = doc(text)
    result = cleaner(original)
    assert isinstance(result, Rejected), result
    assert (result.stage, result.reason) == ("clean", reason)
    assert result.detail
    assert result.reason in REJECTION_REASONS
    assert result.doc.text == text  # the rejected document keeps the text as read
    assert result.doc.id == original.id


def test_rejected_documents_record_the_detected_language(cleaner):
    result = cleaner(doc(FRENCH))
    assert result.doc.lang == "fr"
    assert result.doc.meta["lang_prob"] > 0.9
    assert "fr (p=" in result.detail


def test_blocklist_runs_before_language_id():
    cfg = CleanConfig()
    cfg.blocklist.words = ["rivière"]
    result = DocumentCleaner(cfg)(doc(FRENCH))
    assert isinstance(result, Rejected)
    assert result.reason == "blocklist" and "rivière" in result.detail
    assert result.doc.lang == "" and "lang_prob" not in result.doc.meta  # language id never ran


def test_without_langid_the_input_language_is_kept_and_script_picks_words():
    cfg = CleanConfig()
    cfg.langid.enabled = False
    cleaner = DocumentCleaner(cfg)
    kept = cleaner(doc(CHINESE))
    assert isinstance(kept, Document) and kept.lang == "" and "lang_prob" not in kept.meta
    assert cleaner(doc(ENGLISH, lang="en")).lang == "en"
    # The script says zh, so the Chinese stop-word list applies to unlabelled Chinese text.
    fruits = "苹果、香蕉、橙子、葡萄、西瓜、草莓、菠萝、芒果、柠檬、桃子、樱桃、石榴、椰子、荔枝、龙眼、榴莲、杨梅、枇杷。" * 3
    assert cleaner(doc(fruits)).reason == "gopher_stop_words"


def test_each_family_of_rules_can_be_switched_off():
    cfg = CleanConfig(max_chars=None)
    cfg.langid.enabled = cfg.gopher_quality.enabled = cfg.gopher_repetition.enabled = cfg.c4.enabled = False
    cleaner = DocumentCleaner(cfg)
    short = cleaner(doc("Too short, no punctuation"))
    assert isinstance(short, Document) and short.text == "Too short, no punctuation"


def test_rejection_reasons_are_complete_and_unique():
    expected = {
        "too_long", "bad_encoding", "empty", "blocklist",
        "pii_url_credentials", "pii_email", "pii_cn_id", "pii_bank_card", "pii_ipv6", "pii_ipv4", "pii_phone",
        "lang_undetermined", "lang_low_probability", "lang_not_allowed",
        "gopher_too_few_words", "gopher_too_many_words", "gopher_mean_word_length", "gopher_symbol_word_ratio",
        "gopher_bullet_lines", "gopher_ellipsis_lines", "gopher_alpha_words", "gopher_stop_words",
        "gopher_dup_line_frac", "gopher_dup_para_frac", "gopher_dup_line_char_frac", "gopher_dup_para_char_frac",
        "gopher_top_ngram_char_frac", "gopher_dup_ngram_char_frac",
        "c4_lorem_ipsum", "c4_curly_bracket", "c4_too_few_sentences", "c4_empty_after_line_filter",
    }  # fmt: skip
    assert set(REJECTION_REASONS) == expected
    assert len(REJECTION_REASONS) == len(expected)


def test_metric_counts(cleaner):
    kept = cleaner(doc(ENGLISH + "\nHome | About\n"))
    assert metric_counts(kept) == {"kept": 1, "c4_removed_lines": 1}
    rejected = cleaner(doc(FRENCH))
    assert metric_counts(rejected) == {"rejected": 1, "rejected_lang_not_allowed": 1}
    assert set(metric_counts(kept)) | set(metric_counts(rejected)) <= set(METRIC_NAMES)


def test_pii_tallies_count_spans_only_in_what_is_kept(cleaner):
    policies = cleaner.cfg.pii.policies()
    kept = cleaner(doc(ENGLISH + "\nMail jane@example.com or joe@example.org from 10.1.2.3.\n"))
    assert pii_tallies(kept, policies) == {"pii_documents.email": 1, "pii_documents.ipv4": 1,
                                           "pii_redacted.email": 2, "pii_redacted.ipv4": 1}
    # found, redacted, then rejected by a later rule: the output holds none of its spans
    rejected = cleaner(doc(FRENCH + " Écrivez à jane@example.com."))
    assert isinstance(rejected, Rejected) and rejected.reason == "lang_not_allowed"
    assert pii_tallies(rejected, policies) == {"pii_documents.email": 1}


def test_random_text_never_raises_and_kept_text_is_valid_utf8(cleaner):
    rng = random.Random(7)
    alphabet = [chr(code) for code in [*range(0x250), *range(0x2000, 0x2070), *range(0x3000, 0x3100),
                                       *range(0x4E00, 0x4E80), *range(0xD800, 0xD808), *range(0xFE10, 0xFF70)]]
    alphabet += [" ", "\n", ".", "。", "{", "#", "...", "the "] * 20
    for index in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        result = cleaner(doc(text))
        if isinstance(result, Rejected):
            assert result.reason in REJECTION_REASONS
        else:
            result.text.encode("utf-8")
