import pytest

from fullchain.pipelines.clean.normalize import normalize
from fullchain.pipelines.clean.segmentation import (
    base_language,
    cjk_language_by_script,
    cjk_share,
    count_sentences,
    segment,
    split_lines,
    split_paragraphs,
    split_sentences,
    split_words,
    uses_cjk_words,
)
from .samples import CHINESE, ENGLISH


def test_cjk_words_are_characters_and_latin_runs():
    assert split_words("我用GPT-4写了3篇文章。", cjk=True) == ["我", "用", "GPT", "4", "写", "了", "3", "篇", "文", "章"]
    assert split_words("ひらがなとカタカナ・漢字", cjk=True) == list("ひらがなとカタカナ") + ["漢", "字"]


def test_spaced_words_split_on_whitespace_with_punctuation_attached():
    assert split_words("Hello, world!  It's\tfine.", cjk=False) == ["Hello,", "world!", "It's", "fine."]
    assert split_words("안녕하세요 세계", cjk=False) == ["안녕하세요", "세계"]


def test_segmentation_is_chosen_by_language_then_script():
    assert uses_cjk_words("zh", "plain English")
    assert uses_cjk_words("zh-tw", "")
    assert not uses_cjk_words("en", "全是中文")
    assert not uses_cjk_words("ko", "안녕하세요")
    assert uses_cjk_words("", "这是一段中文,有 some English.")
    assert uses_cjk_words("und", CHINESE)
    assert not uses_cjk_words("", ENGLISH)


def test_script_share_and_language_by_script():
    assert cjk_share("") == 0.0 and cjk_share("abc") == 0.0
    assert cjk_share("中文ab") == 0.5
    assert cjk_share(CHINESE) > 0.8
    assert cjk_language_by_script(CHINESE) == "zh"
    assert cjk_language_by_script("これは日本語の文章です。") == "ja"
    assert cjk_language_by_script(ENGLISH) == ""
    assert base_language("zh-CN") == "zh" and base_language("") == ""


def test_sentences_end_at_latin_and_cjk_enders():
    assert split_sentences("It costs 3.50 dollars. Really?! Yes.") == ["It costs 3.50 dollars.", "Really?!", "Yes."]
    assert split_sentences('He said "stop." Then left') == ['He said "stop."', "Then left"]
    assert split_sentences("今天下雨。你去吗?我不去!好的") == ["今天下雨。", "你去吗?", "我不去!", "好的"]
    assert split_sentences("她说:「走吧。」然后走了。") == ["她说:「走吧。」", "然后走了。"]


@pytest.mark.parametrize("text", [ENGLISH, CHINESE, "", "no ender", "a. b. c"])
def test_count_sentences_matches_split(text):
    text = normalize(text)
    assert count_sentences(text) == len(split_sentences(text))


def test_lines_and_paragraphs():
    text = " a \n\n  \nb\nc \n\n\n d"
    assert split_lines(text) == ["a", "b", "c", "d"]
    assert split_paragraphs(text) == ["a", "b\nc", "d"]


def test_segment_bundles_the_units():
    seg = segment(normalize(CHINESE), cjk=True)
    assert seg.cjk
    assert len(seg.paragraphs) == 6
    assert len(seg.words) > 500
    assert seg.lines == seg.paragraphs  # one line per paragraph in this text
