import pytest

from fullchain.pipelines.clean import gopher as g
from fullchain.pipelines.clean.config import GopherQualityConfig, GopherRepetitionConfig
from fullchain.pipelines.clean.normalize import normalize
from fullchain.pipelines.clean.segmentation import segment, uses_cjk_words
from .samples import CHINESE, ENGLISH

ENGLISH_PARAGRAPHS = normalize(ENGLISH).split("\n\n")
CHINESE_PARAGRAPHS = normalize(CHINESE).split("\n\n")


def quality(text, lang="en", **settings):
    text = normalize(text)
    return g.GopherQuality(GopherQualityConfig(**settings))(segment(text, uses_cjk_words(lang, text)), lang)


def repetition(text, lang="en", **settings):
    text = normalize(text)
    return g.GopherRepetition(GopherRepetitionConfig(**settings))(segment(text, uses_cjk_words(lang, text)))


def reason(failure):
    return None if failure is None else failure.reason


@pytest.mark.parametrize(("text", "lang"), [(ENGLISH, "en"), (CHINESE, "zh")])
def test_good_documents_pass_every_rule(text, lang):
    assert quality(text, lang) is None
    assert repetition(text, lang) is None


FRUITS_ZH = "苹果、香蕉、橙子、葡萄、西瓜、草莓、菠萝、芒果、柠檬、桃子、樱桃、石榴、椰子、荔枝、龙眼、榴莲、杨梅、枇杷、柿子、李子、杏子、山楂、甘蔗、木瓜、柚子。"
NO_STOP_WORDS_EN = (
    "Apples, bananas, cherries, dates, elderberries, figs, grapes, honeydew melons, kiwis, lemons, limes, "
    "mangoes, nectarines, oranges, papayas, quinces, raspberries, strawberries, tangerines, watermelons. "
) * 3


@pytest.mark.parametrize(
    ("text", "lang", "expected", "detail"),
    [
        ("The cat sat on the mat and that was the end of it.", "en", g.GOPHER_TOO_FEW_WORDS, "13 words < 50"),
        ("word " * 100_001, "en", g.GOPHER_TOO_MANY_WORDS, "100001 words > 100000"),
        ("I am so. " * 30, "en", g.GOPHER_MEAN_WORD_LENGTH, "mean word length 2.00"),
        ("Internationalization considerations. " * 30, "en", g.GOPHER_MEAN_WORD_LENGTH, "outside [3.0, 10.0]"),
        (ENGLISH + " #news" * 50, "en", g.GOPHER_SYMBOL_WORD_RATIO, "# per word"),
        (ENGLISH + " and so on..." * 50, "en", g.GOPHER_SYMBOL_WORD_RATIO, "ellipsis per word"),
        ("• another list item without meaning\n" * 60, "en", g.GOPHER_BULLET_LINES, "bullet lines 1.000 > 0.9"),
        ("\n".join(p[:120] + "..." for p in ENGLISH_PARAGRAPHS), "en", g.GOPHER_ELLIPSIS_LINES, "> 0.3"),
        (ENGLISH + " 2024" * 200, "en", g.GOPHER_ALPHA_WORDS, "< 0.8"),
        (NO_STOP_WORDS_EN, "en", g.GOPHER_STOP_WORDS, "0 stop words < 2"),
        ("你好,世界。今天很好。", "zh", g.GOPHER_TOO_FEW_WORDS, "8 words < 50"),
        (FRUITS_ZH, "zh", g.GOPHER_STOP_WORDS, "0 stop words < 2"),
        (CHINESE + " 2024" * 300, "zh", g.GOPHER_ALPHA_WORDS, "< 0.8"),
        (CHINESE + "\n\n#话题" * 80, "zh", g.GOPHER_SYMBOL_WORD_RATIO, "# per word"),
    ],
)
def test_quality_rules_fire(text, lang, expected, detail):
    failure = quality(text, lang)
    assert reason(failure) == expected
    assert detail in failure.detail


def test_mean_word_length_is_not_applied_to_cjk_words():
    text = normalize(CHINESE)
    rules = g.GopherQuality(GopherQualityConfig())
    assert rules(segment(text, cjk=True), "zh") is None
    # Whitespace-split Chinese has paragraph-long "words": the rule would reject the text.
    rules = g.GopherQuality(GopherQualityConfig(min_words=None))
    assert reason(rules(segment(text, cjk=False), "zh")) == g.GOPHER_MEAN_WORD_LENGTH


def test_stop_word_rule_needs_a_language_list():
    assert quality(NO_STOP_WORDS_EN, lang="fr") is None
    assert quality(NO_STOP_WORDS_EN, lang="en", min_stop_words=None) is None
    assert reason(quality(FRUITS_ZH + "书的。", lang="zh")) == g.GOPHER_STOP_WORDS  # one is too few
    assert quality(FRUITS_ZH + "我的书是红的。", lang="zh") is None


def test_english_stop_words_match_whole_words_case_insensitively():
    base = "Apples bananas cherries dates elderberries figs grapes honeydew kiwis lemons " * 6
    assert reason(quality(base + "Theme tower.", "en")) == g.GOPHER_STOP_WORDS
    assert quality(base + "THE tower, The end.", "en") is None


@pytest.mark.parametrize(
    ("setting", "text"),
    [
        ("min_words", "The traveller crossed the mountain and reached the monastery before nightfall."),
        ("max_symbol_word_ratio", ENGLISH + " #news" * 50),
        ("max_bullet_lines_ratio", "• a list item that is here with the words\n" * 60),
        ("min_alpha_words_ratio", ENGLISH + " 2024" * 200),
    ],
)
def test_none_switches_a_quality_rule_off(setting, text):
    assert quality(text) is not None
    assert quality(text, **{setting: None}) is None


def _single_paragraph(lines):
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        # 4 of 11 lines repeat a short line: many duplicates, few characters.
        (_single_paragraph(ENGLISH_PARAGRAPHS[:6] + ["Share this page."] * 5), "en", g.GOPHER_DUP_LINE_FRAC),
        # 2 of 9 lines repeat, but they are long ones.
        (_single_paragraph(ENGLISH_PARAGRAPHS + ENGLISH_PARAGRAPHS[1:3]), "en", g.GOPHER_DUP_LINE_CHAR_FRAC),
        ("\n\n".join(ENGLISH_PARAGRAPHS[:5] + ["Share this page."] * 4), "en", g.GOPHER_DUP_PARA_FRAC),
        ("\n\n".join(ENGLISH_PARAGRAPHS + ENGLISH_PARAGRAPHS[1:3]), "en", g.GOPHER_DUP_PARA_CHAR_FRAC),
        (ENGLISH + " buy now" * 80, "en", g.GOPHER_TOP_NGRAM_CHAR_FRAC),
        (
            "\n\n".join(p + " Subscribe to our newsletter for the latest stories from the valley and beyond."
                        for p in ENGLISH_PARAGRAPHS),
            "en",
            g.GOPHER_DUP_NGRAM_CHAR_FRAC,
        ),
        (_single_paragraph(CHINESE_PARAGRAPHS[:5] + ["点击分享。"] * 5), "zh", g.GOPHER_DUP_LINE_FRAC),
        ("\n\n".join(CHINESE_PARAGRAPHS + CHINESE_PARAGRAPHS[1:3]), "zh", g.GOPHER_DUP_PARA_CHAR_FRAC),
        ("\n\n".join(p + "欢迎订阅我们的新闻通讯，获取来自山谷的最新故事。" for p in CHINESE_PARAGRAPHS), "zh",
         g.GOPHER_DUP_NGRAM_CHAR_FRAC),
        (CHINESE + "哈哈" * 120, "zh", g.GOPHER_TOP_NGRAM_CHAR_FRAC),
    ],
)  # fmt: skip
def test_repetition_rules_fire(text, lang, expected):
    failure = repetition(text, lang)
    assert reason(failure) == expected, failure


def test_repetition_details_name_the_measure():
    failure = repetition(ENGLISH + " buy now" * 80)
    assert failure.detail.startswith("top 2-gram covers") and failure.detail.endswith("> 0.2")


def test_repetition_rules_can_be_switched_off():
    text = "\n\n".join(p + " Subscribe to our newsletter for the latest stories from the valley and beyond."
                       for p in ENGLISH_PARAGRAPHS)  # fmt: skip
    assert repetition(text, max_dup_ngram_char_fraction={}) is None
    assert reason(repetition(text, max_dup_ngram_char_fraction={10: 0.10})) == g.GOPHER_DUP_NGRAM_CHAR_FRAC
    assert repetition(ENGLISH + " buy now" * 80, max_top_ngram_char_fraction={}) is not None  # dup n-grams
    assert repetition(
        ENGLISH + " buy now" * 80, max_top_ngram_char_fraction={}, max_dup_ngram_char_fraction={}
    ) is None


def test_dup_ngram_coverage_counts_each_word_once():
    words = "a b c d e a b c d e a b c d e".split()
    lengths = [1] * len(words)
    assert g._dup_ngram_chars(words, lengths, 5) == 15
    assert g._dup_ngram_chars("a b c d e f g h i j".split(), [1] * 10, 5) == 0
    assert g._top_ngram_chars("x y x y z".split(), 2) == 4  # "x y" twice, 2 characters each
    assert g._top_ngram_chars("a b c d".split(), 2) == 0  # nothing repeats


@pytest.mark.parametrize("paragraph", CHINESE_PARAGRAPHS)
def test_each_real_chinese_paragraph_passes_the_word_rules(paragraph):
    # Some are barely longer than 50 characters: CJK words keep them above the word minimum.
    assert quality(paragraph, "zh") is None
