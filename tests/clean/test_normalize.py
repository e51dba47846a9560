import pytest

from fullchain.pipelines.clean.normalize import normalize
from .samples import CHINESE, ENGLISH


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("“Hi,” she said.", '"Hi," she said.'),
        ("„Guten Tag‟ and «bonjour»", '"Guten Tag" and "bonjour"'),
        ("他说：「你好」", '他说:"你好"'),
        ("『书名』", "'书名'"),
        ("it’s ‘fine’, ‚ok‛ ‹x› don´t", "it's 'fine', 'ok' 'x' don't"),
        ("1‐2‑3‒4–5−6", "1-2-3-4-5-6"),
        ("wait—no―yes⸺", "wait—no—yes—"),
        ("so…", "so..."),
        ("然后⋯⋯", "然后......"),
    ],
)
def test_punctuation_variants_are_unified(raw, expected):
    assert normalize(raw) == expected


def test_nfkc_folds_full_width_but_cjk_marks_stay():
    assert normalize("ＡＢＣ１２３！？，（注）") == "ABC123!?,(注)"
    assert normalize("一、二。《书》【注】") == "一、二。《书》【注】"
    assert normalize("ﬁne ²") == "fine 2"


def test_presentation_forms_are_unified_after_nfkc():
    assert normalize("﹁引﹂") == '"引"'


def test_controls_zero_width_bom_and_surrogates_are_removed():
    assert normalize("\ufeffa\u200bb\x00c\x07d\u00ade\x7f\x9ff\ud800g") == "abcdefg"
    assert normalize("tab\tkept") == "tab\tkept"
    # ZWJ binds emoji sequences and is kept.
    assert normalize("👩\u200d💻") == "👩\u200d💻"


def test_whitespace_is_normalised():
    raw = "  a\u3000\u00a0b   c \r\nline\u2028two\r\r\n\n\n\n  para  \t\t x \n"
    assert normalize(raw) == "a b c\nline\ntwo\n\npara\tx"


def test_steps_can_be_switched_off():
    assert normalize("“ＡＢ”  x", nfkc=False, unify_punctuation=False, whitespace=False) == "“ＡＢ”  x"
    assert normalize("“ＡＢ”", nfkc=True, unify_punctuation=False) == "“AB”"
    # Control characters go whatever the switches say: a lone surrogate cannot be written as UTF-8.
    assert normalize("a\x00\ud800b", nfkc=False, unify_punctuation=False, whitespace=False) == "ab"


@pytest.mark.parametrize("text", [ENGLISH, CHINESE, "“Ａ”  —\u3000…\r\n\n\n\nx"])
def test_normalisation_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once
