"""Script-aware language identification: the script decides CJK text, langdetect the rest; and
the real-text registers of tests/clean/data/langid_registers.jsonl (docs/CLEAN.md)."""

import collections
import json
from pathlib import Path

import pytest

from fullchain.pipelines.clean.chinese_variant import SIMPLIFIED, TRADITIONAL, ChineseVariant
from fullchain.pipelines.clean.cleaner import DocumentCleaner
from fullchain.pipelines.clean.config import CleanConfig, LangIdConfig
from fullchain.pipelines.clean.normalize import normalize
from fullchain.pipelines.clean.language import BY_LANGDETECT, BY_SCRIPT, LANG_NOT_ALLOWED, LanguageIdentifier
from fullchain.pipelines.clean.script import ScriptCounts, count_scripts, language_by_script, script_allows
from fullchain.pipelines.document import Document, Rejected

REAL_TEXT = Path(__file__).parent / "data" / "langid_registers.jsonl"


@pytest.fixture(scope="module")
def identifier():
    return LanguageIdentifier(LangIdConfig())


@pytest.fixture(scope="module")
def cleaner():
    return DocumentCleaner(CleanConfig())


def test_script_units_count_cjk_characters_and_other_words():
    counts = count_scripts("使用 ls -l 命令, 2024 年 Linux_kernel 版本")
    # Han: 使用命令年版本 (7); other words: ls, l, Linux, kernel (digits and _ are not letters)
    assert counts == ScriptCounts(han=7, kana=0, hangul=0, other_words=4)
    assert count_scripts("ひらがなとカタカナ、漢字") == ScriptCounts(2, 9, 0, 0)
    assert count_scripts("한국어 텍스트 韓國") == ScriptCounts(2, 0, 6, 0)
    assert count_scripts("12345 !!! ...") == ScriptCounts(0, 0, 0, 0)


def test_han_dominates_at_half_of_the_letter_units_exactly():
    # 5 Han characters and 5 Latin words: a share of exactly 0.5 is dominant; 4 and 5 is not.
    five_five = count_scripts("配置文件名 alpha beta gamma delta epsilon")
    assert (five_five.han, five_five.other_words) == (5, 5) and five_five.cjk_share == 0.5
    assert language_by_script(five_five, 0.5) == "zh"
    four_five = count_scripts("配置文件 alpha beta gamma delta epsilon")
    assert four_five.cjk_share == pytest.approx(4 / 9) and language_by_script(four_five, 0.5) is None
    assert language_by_script(four_five, 0.4) == "zh"


def test_kana_makes_japanese_and_hangul_korean_above_a_tenth_of_the_cjk_units():
    assert language_by_script(count_scripts("東京大学で日本語を勉強しています。"), 0.5) == "ja"
    assert language_by_script(count_scripts("대한민국의 수도는 서울이다. 韓國"), 0.5) == "ko"
    # one Kana among 11 Han characters (1/12 < 0.1) is a quoted name, not Japanese text
    assert language_by_script(count_scripts("这家店的招牌上写着一个の字"), 0.5) == "zh"
    # Hangul outnumbering Kana decides for Korean, the reverse for Japanese
    assert language_by_script(ScriptCounts(han=10, kana=2, hangul=8, other_words=0), 0.5) == "ko"
    assert language_by_script(ScriptCounts(han=10, kana=8, hangul=2, other_words=0), 0.5) == "ja"
    assert language_by_script(count_scripts("The quick brown fox."), 0.5) is None


def test_short_han_text_that_langdetect_calls_korean_is_chinese(identifier):
    # langdetect alone labels each of these ko with p ~ 1.0 (docs/CLEAN.md, known limits before)
    for text in ("東京大学", "會議記錄", "高山流水", "李明", "我们今天去北京。"):
        guess = identifier.detect(text)
        assert (guess.lang, guess.method) == ("zh", BY_SCRIPT), (text, guess)
        assert identifier.rejection(guess) is None
    old = LanguageIdentifier(LangIdConfig(script_decides=False))
    assert old.detect("會議記錄").lang == "ko"


def test_variant_is_read_from_the_characters():
    variant = ChineseVariant()
    assert variant("这是一个关于台湾的故事") == SIMPLIFIED
    assert variant("這是一個關於臺灣的故事") == TRADITIONAL
    assert variant("山水") == SIMPLIFIED  # common to both systems: simplified by definition
    assert variant("資料庫 database 管理") == TRADITIONAL


def test_script_decisions_skip_the_langdetect_threshold_and_follow_the_variant_list():
    identifier = LanguageIdentifier(LangIdConfig(min_probability=0.99))
    mixed = identifier.detect("配置文件名 alpha beta gamma delta epsilon")
    assert (mixed.lang, mixed.method, mixed.probability) == ("zh", BY_SCRIPT, 0.5)
    assert identifier.rejection(mixed) is None  # 0.5 < 0.99, but that threshold is langdetect's
    traditional_only = LanguageIdentifier(LangIdConfig(languages=["zh-tw"]))
    assert traditional_only.rejection(traditional_only.detect("這是一個關於臺灣的故事")) is None
    verdict = traditional_only.rejection(traditional_only.detect("这是一个关于台湾的故事"))
    assert verdict.reason == LANG_NOT_ALLOWED


def test_latin_text_goes_to_langdetect_and_impossible_scripts_are_vetoed(identifier):
    guess = identifier.detect("Dies ist ein kurzer deutscher Satz über das Wetter in Berlin und München.")
    assert (guess.lang, guess.method) == ("de", BY_LANGDETECT)
    no_cjk = ScriptCounts(0, 0, 0, 5)
    assert not script_allows("ko", no_cjk) and not script_allows("ja", no_cjk) and not script_allows("zh-cn", no_cjk)
    assert script_allows("en", no_cjk)
    han_only = ScriptCounts(5, 0, 0, 6)
    assert script_allows("zh-tw", han_only) and not script_allows("ko", han_only)


def test_cleaner_records_the_method(cleaner):
    result = cleaner(Document(id="d", text="會議記錄"))
    assert isinstance(result, Rejected) and result.reason.startswith("gopher")  # too short, but Chinese
    assert result.doc.lang == "zh"
    assert result.doc.meta["lang_method"] == "script" and result.doc.meta["lang_variant"] == TRADITIONAL


def test_real_chinese_registers_are_not_rejected_for_language(cleaner):
    """At most 2% of each real Chinese register rejected for language with the default settings;
    the Latin-script registers get the language langdetect gave them before (docs/CLEAN.md)."""
    docs = [json.loads(line) for line in REAL_TEXT.read_text("utf-8").splitlines()]
    langdetect_as_before = LanguageIdentifier(LangIdConfig(script_decides=False, langdetect_trials=7))
    rejected, total, as_before, script_langs = (collections.Counter() for _ in range(4))
    for record in docs:
        register = record["register"]
        result = cleaner(Document(id=record["id"], text=record["text"]))
        total[register] += 1
        if isinstance(result, Rejected) and result.reason.startswith("lang_"):
            rejected[register] += 1
        doc = result.doc if isinstance(result, Rejected) else result
        if not register.startswith(("zh", "ja")):
            before = langdetect_as_before.detect(normalize(record["text"]))
            as_before[register] += doc.lang == before.lang
        elif doc.meta["lang_method"] == "script":
            script_langs[register, doc.lang] += 1
    zh_registers = [r for r in total if r.startswith("zh")]
    assert len(zh_registers) == 4 and all(total[r] >= 100 for r in zh_registers)
    for register in zh_registers:
        assert rejected[register] <= 0.02 * total[register], (register, rejected[register], total[register])
        assert script_langs[register, "zh"] >= 0.95 * total[register]
    assert script_langs["ja_technical", "ja"] >= 0.9 * total["ja_technical"]
    for register in ("en_technical", "de_technical", "fr_technical", "es_technical"):
        assert as_before[register] >= total[register] - 1, (register, as_before[register], total[register])
    assert rejected["en_technical"] == 0
