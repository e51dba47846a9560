import pytest

from fullchain.pipelines.clean import c4
from fullchain.pipelines.clean.config import C4Config
from fullchain.pipelines.clean.normalize import normalize
from .samples import CHINESE, ENGLISH


def run(text, cjk=False, **settings):
    return c4.C4Filter(C4Config(**settings))(normalize(text), cjk)


@pytest.mark.parametrize(("text", "cjk"), [(ENGLISH, False), (CHINESE, True)])
def test_good_documents_are_kept_unchanged(text, cjk):
    result = run(text, cjk)
    assert result.failure is None
    assert result.removed_lines == 0
    assert result.text == normalize(text)


@pytest.mark.parametrize(
    "bad_line",
    [
        "Home | About | Contact",  # no terminal punctuation
        "Read more...",  # ellipsis ending
        "Thanks!",  # fewer than 3 words
        "Please enable JavaScript to view the comments.",
        "This site uses cookies to improve your experience.",
        "Read our Privacy Policy before you continue.",
        "A line with a " + "x" * 1001 + " word.",
    ],
)
def test_bad_lines_are_removed_and_counted(bad_line):
    text = ENGLISH.replace("\n\nLocal historians", f"\n{bad_line}\n\nLocal historians", 1)
    result = run(text)
    assert result.failure is None
    assert result.removed_lines == 1
    assert result.text == normalize(ENGLISH)


def test_chinese_lines_follow_cjk_punctuation_and_character_words():
    menu = "首页 | 新闻 | 联系我们"
    short = "好的。"  # two words
    text = CHINESE.replace("\n\n当地", f"\n{menu}\n{short}\n\n当地", 1)
    result = run(text, cjk=True)
    assert result.failure is None
    assert result.removed_lines == 2
    assert result.text == normalize(CHINESE)


def test_citation_markers_are_cut():
    text = ENGLISH.replace("of the damage.", "of the damage.[3][edit]", 1)
    assert "[3][edit]" in text
    assert "[3]" not in run(text).text
    assert run(text).text == normalize(ENGLISH)
    # Left in place, the marker hides the line's terminal punctuation and the line goes.
    assert run(text, citation_pattern=None).removed_lines == 1
    zh = CHINESE.replace("老照片。", "老照片。[编辑]", 1)
    assert "[编辑]" in zh
    assert run(zh, cjk=True).text == normalize(CHINESE)


@pytest.mark.parametrize(
    ("text", "cjk", "expected"),
    [
        (ENGLISH + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", False, c4.C4_LOREM_IPSUM),
        (ENGLISH + "\nThe function is function f() { return 1; }.", False, c4.C4_CURLY_BRACKET),
        ("One two three four.\nFive six seven eight.\nNine ten eleven twelve.", False, c4.C4_TOO_FEW_SENTENCES),
        ("Home | About\nContact us\nMenu", False, c4.C4_EMPTY_AFTER_LINE_FILTER),
        ("今天天气很好。我们去公园。\n公园里人很多。", True, c4.C4_TOO_FEW_SENTENCES),
        ("首页 | 新闻\n联系我们", True, c4.C4_EMPTY_AFTER_LINE_FILTER),
    ],
)
def test_document_rejections(text, cjk, expected):
    result = run(text, cjk)
    assert result.failure is not None and result.failure.reason == expected
    assert result.text == normalize(text)


def test_chinese_sentences_are_counted_by_cjk_enders():
    text = "今天天气很好。我们去公园!公园里人很多?孩子们在放风筝。老人们在下棋。"
    assert run(text, cjk=True).failure is None
    assert run(text, cjk=True, min_sentences=6).failure.reason == c4.C4_TOO_FEW_SENTENCES


def test_rules_can_be_switched_off():
    text = ENGLISH + "\nThe function is f() { return 1; }, and lorem ipsum too"
    assert run(text).failure.reason == c4.C4_LOREM_IPSUM
    relaxed = run(text, reject_lorem_ipsum=False, reject_curly_bracket=False, require_terminal_punctuation=False)
    assert relaxed.failure is None and relaxed.text.endswith("lorem ipsum too")
    assert run("Short.\nAlso short.", min_sentences=None, min_words_per_line=None).failure is None
    js = ENGLISH + "\nJavaScript is a language that runs in browsers."
    assert run(js, remove_javascript_lines=False).removed_lines == 0
    cookie = ENGLISH + "\nWe use cookies on this website."
    assert run(cookie).removed_lines == 1 and run(cookie, policy_substrings=[]).removed_lines == 0


def test_paragraph_breaks_between_kept_lines_are_preserved():
    text = "First line is kept here.\nMenu\n\nSecond paragraph is kept too.\n\nFooter"
    result = run(text, min_sentences=None)
    assert result.text == "First line is kept here.\n\nSecond paragraph is kept too."
    assert result.removed_lines == 2
