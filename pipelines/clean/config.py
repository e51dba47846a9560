"""Settings of the `fullchain clean` stage: one tree of dataclasses, every field an `option`.

Field types are limited to what the generic YAML loader and CLI flag generator understand
(str, int, float, bool, list[str], dict[int, float], `X | None` of those, nested sections).
A rule section with an `enabled` flag is switched off with it; a threshold is switched off with null (None)
(an empty list or dict where the setting is a list or dict).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

from fullchain.pipelines.clean.config_checks import (check_fraction, check_ngram_fractions, check_non_negative,
                                                     check_positive, check_range, check_regex, fail)
from fullchain.pipelines.clean.pii import PII_KINDS, POLICIES
from fullchain.pipelines.config import option

GOPHER_STOP_WORDS_EN = ["the", "be", "to", "of", "and", "that", "have", "with"]
# The most frequent function words of written Chinese and Japanese (particles, copulas,
# aspect markers): every sentence of running prose has some, menus and lists of names do not.
STOP_WORDS_ZH = ["的", "了", "是", "在", "和", "有", "不", "这", "也", "就", "我", "他", "们", "中", "为", "上"]
STOP_WORDS_JA = ["の", "に", "は", "を", "が", "で", "て", "と", "た", "し", "も", "な", "から", "です", "ます"]

C4_POLICY_SUBSTRINGS = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
]
C4_TERMINAL_PUNCTUATION = [".", "!", "?", '"', "'", "。", "！", "？", "”", "’", "」", "』"]
C4_CITATION_PATTERN = r"\[\d*\]|\[edit\]|\[citation needed\]|\[编辑\]"


def pipeline_language(code: str) -> str:
    """The code the pipeline uses for a langdetect code: Chinese variants fold into 'zh'."""
    return "zh" if code.startswith("zh") else code


def detectable_languages() -> frozenset[str]:
    """Every language code language identification can report: langdetect's profiles (zh-cn and
    zh-tw among them) and 'zh', the pipeline's code for both. A config naming another code would
    never match a document."""
    from langdetect.detector_factory import PROFILES_DIRECTORY

    names = os.listdir(PROFILES_DIRECTORY)
    return frozenset(names) | {pipeline_language(name) for name in names}


def check_language_codes(name: str, codes: list[str]) -> None:
    """Raise ValueError naming `name` when a code is not one language identification reports."""
    known = detectable_languages()
    unknown = [code for code in codes if code not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0].lower(), sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        fail(name, f"entries must be language codes langdetect reports ({len(known)} codes, e.g. en, zh, de)"
              f"{hint}", unknown[0])


@dataclass
class NormalizeConfig:
    """Unicode and whitespace normalisation applied to every document before the rules."""

    nfkc: bool = option(
        True,
        "Apply Unicode NFKC (Unicode Standard Annex #15): folds full-width ASCII, compatibility forms and "
        "ligatures, so Chinese ，！？：；（） become ASCII while 。、《》【】 stay.",
    )
    unify_punctuation: bool = option(
        True,
        "Map quotation-mark variants (“”„«»「」 to \", ‘’‚‹›『』 to '), hyphen/dash variants (to '-' or '—') and "
        "ellipses (to '...') onto one form each. Project choice, so rules and dedup see one spelling.",
    )
    normalize_whitespace: bool = option(
        True,
        "Collapse runs of spaces/tabs inside a line, strip lines and keep at most one blank line between "
        "paragraphs. Always done whatever this says: Unicode spaces become ' ', line breaks '\\n', and control, "
        "zero-width and BOM characters are removed. Project choice.",
    )


@dataclass
class LangIdConfig:
    """Language identification: by Unicode script where it decides, else langdetect (Shuyo, 2010), deterministic."""

    enabled: bool = option(True, "Detect each document's language (sets `lang`) and reject by the rules below.")
    languages: list[str] = option(
        ["en", "zh"],
        "Languages kept (ISO 639-1 as langdetect reports them; zh-cn/zh-tw are reported as zh). "
        "An empty list keeps every language.",
    )
    min_probability: float | None = option(
        0.65,
        "Reject documents whose top language probability is below this. 0.65 is FineWeb's language-score "
        "threshold (Penedo et al., 2024); langdetect scores clean single-language prose above 0.99, so this "
        "mostly catches mixed-language text, boilerplate and very short texts. null turns it off.",
    )
    prefix_chars: int = option(
        500,
        "Characters from the start of the text that are judged: their script is counted and langdetect reads "
        "them (its cost grows with them). Project measurement: 500 made no error on 420 samples of "
        "en/zh/ja/fr/de/es/pt prose; it leaves margin over the 100-200 that already sufficed there, for pages "
        "that open with titles or names.",
    )
    langdetect_trials: int = option(
        3,
        "Random trials langdetect averages (its own default: 7); the cost grows with them (about 0.6 ms of "
        "CPU per document with 3, 500 characters). Project measurement: with 3, the 190 Latin-script "
        "man pages of the real-text set (tests/clean/data) get the language 7 gave them, and 2,999 of 3,000 "
        "generated English and junk documents the same keep/reject verdict.",
    )
    script_decides: bool = option(
        True,
        "Decide the language by Unicode script where the script decides it, without langdetect: CJK "
        "characters (Han, Kana, Hangul, one unit each) at least script_min_share of the letter units (those "
        "plus the words of other scripts) -> ko with Hangul, ja with Kana, else zh (meta lang_method "
        "'script'). langdetect labels Han-only text ko, vi or no often enough to reject most real traditional "
        "Chinese. For the other texts langdetect's candidates in a script the text lacks (ko without Hangul, ja "
        "without Kana, zh without Han) are dropped. false: langdetect decides every text, as before.",
    )
    script_min_share: float = option(
        0.5,
        "Share of the letter units that must be Han, Kana or Hangul for the script to decide (the CJK "
        "script 'dominates'); below it, mixed text goes to langdetect. Project choice: real Chinese man pages "
        "with English command names measure 0.6-0.9, English text quoting a Chinese name well under 0.3.",
    )
    seed: int = option(
        0,
        "Seed of langdetect's random sampling. langdetect re-seeds for every document with this value, so a "
        "document's result does not depend on what was detected before it.",
    )

    def __post_init__(self) -> None:
        check_fraction("min_probability", self.min_probability)
        check_fraction("script_min_share", self.script_min_share)
        check_positive("prefix_chars", self.prefix_chars)
        check_positive("langdetect_trials", self.langdetect_trials)
        check_language_codes("languages", self.languages)


@dataclass
class BlocklistConfig:
    """Documents containing a listed word or matching a listed pattern are rejected."""

    words: list[str] = option(
        [],
        "Blocked words or phrases. Matched as whole words, case-insensitively, in spaced scripts; as substrings "
        "when they contain CJK characters (C4's 'bad words' rule, Raffel et al. 2020, has no spaces to match on "
        "in zh/ja either). Empty: off.",
    )
    patterns: list[str] = option(
        [],
        "Blocked Python regular expressions, searched as written (add (?i) for case-insensitive). Empty: off.",
    )

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            check_regex("patterns", pattern)


_PII_POLICY_HELP = "redact (replace with {placeholder}), reject (reason pii_{kind}) or keep."


def _pii_policy(kind: str, placeholder: str, what: str) -> str:
    return option("redact", f"{what}: " + _PII_POLICY_HELP.format(placeholder=placeholder, kind=kind))


@dataclass
class PiiConfig:
    """Personal data: per kind, redact it with a typed placeholder, reject the document, or keep it.
    Every kind found is counted in meta `pii` ({kind: count}) whatever its policy."""

    enabled: bool = option(True, "Look for personal data (after normalisation, before the blocklist).")
    email: str = _pii_policy("email", "<EMAIL>", "E-mail addresses")
    phone: str = _pii_policy(
        "phone", "<PHONE>", "Phone numbers (libphonenumber via the phonenumbers package: international +CC "
        "numbers of any country, national numbers of phone_regions)")
    ipv4: str = _pii_policy("ipv4", "<IPV4>", "IPv4 addresses (checked by Python's ipaddress)")
    ipv6: str = _pii_policy("ipv6", "<IPV6>", "IPv6 addresses (checked by Python's ipaddress)")
    cn_id: str = _pii_policy(
        "cn_id", "<CN_ID>", "Mainland-China resident ID numbers (18 characters, MOD 11-2 check, province code "
        "and birth date verified)")
    bank_card: str = _pii_policy(
        "bank_card", "<BANK_CARD>", "Bank-card numbers (13-19 digits, a card scheme's issuer prefix and length, Luhn verified)")
    url_credentials: str = _pii_policy(
        "url_credentials", "<CREDENTIALS>", "user:password in URLs (only that part is replaced)")
    phone_regions: list[str] = option(
        ["CN"],
        "Regions (ISO 3166 codes as libphonenumber knows them) whose national-format numbers are phone "
        "numbers; numbers written with +CC are found for every country. Project choice: mainland China.",
    )

    def policies(self) -> dict[str, str]:
        """{kind: policy} for every PII kind."""
        return {kind: getattr(self, kind) for kind in PII_KINDS}

    def __post_init__(self) -> None:
        for kind, policy in self.policies().items():
            if policy not in POLICIES:
                fail(kind, f"must be one of {', '.join(POLICIES)}", policy)
        import phonenumbers

        unknown = [region for region in self.phone_regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            fail("phone_regions", "entries must be region codes libphonenumber knows (e.g. CN, US, GB)", unknown[0])


@dataclass
class GopherQualityConfig:
    """Quality rules of MassiveWeb (Rae et al. 2021, 'Scaling Language Models', appendix A.1.1)."""

    enabled: bool = option(True, "Apply the Gopher quality rules.")
    min_words: int | None = option(
        50,
        "Fewest words (Gopher: 50). zh/ja count each Han/Kana character as a word. null: off.",
    )
    max_words: int | None = option(100_000, "Most words (Gopher: 100,000). null: off.")
    min_mean_word_length: float | None = option(
        3.0, "Shortest mean word length in characters (Gopher: 3). Spaced languages only. null: off."
    )
    max_mean_word_length: float | None = option(
        10.0, "Longest mean word length in characters (Gopher: 10). Spaced languages only. null: off."
    )
    max_symbol_word_ratio: float | None = option(
        0.1,
        "Most '#' symbols, and separately most ellipses ('...' or '…'), per word (Gopher: 0.1). null: off.",
    )
    max_bullet_lines_ratio: float | None = option(
        0.9, "Largest share of non-empty lines starting with a bullet (Gopher: 0.9). null: off."
    )
    max_ellipsis_lines_ratio: float | None = option(
        0.3, "Largest share of non-empty lines ending with an ellipsis (Gopher: 0.3). null: off."
    )
    min_alpha_words_ratio: float | None = option(
        0.8, "Smallest share of words containing an alphabetic character (Gopher: 0.8). null: off."
    )
    min_stop_words: int | None = option(
        2,
        "Fewest occurrences of the language's stop words (Gopher: 2, English list). Skipped for languages "
        "without a list below. null: off.",
    )
    stop_words_en: list[str] = option(GOPHER_STOP_WORDS_EN, "English stop words (Gopher's list), whole words.")
    stop_words_zh: list[str] = option(
        STOP_WORDS_ZH, "Chinese stop words, matched as substrings. Project choice: the most frequent function words."
    )
    stop_words_ja: list[str] = option(
        STOP_WORDS_JA, "Japanese stop words, matched as substrings. Project choice: the most frequent particles."
    )
    bullet_prefixes: list[str] = option(
        ["•", "●", "○", "◦", "▪", "■", "□", "‣", "⁃", "·", "*", "-"],
        "Line starts that count as bullets. Gopher does not list them; these are the common list markers.",
    )

    def __post_init__(self) -> None:
        check_non_negative("min_words", self.min_words)
        check_non_negative("max_words", self.max_words)
        check_range("min_words", self.min_words, "max_words", self.max_words)
        check_non_negative("min_mean_word_length", self.min_mean_word_length)
        check_non_negative("max_mean_word_length", self.max_mean_word_length)
        check_range(
            "min_mean_word_length", self.min_mean_word_length, "max_mean_word_length", self.max_mean_word_length
        )
        check_non_negative("max_symbol_word_ratio", self.max_symbol_word_ratio)
        check_fraction("max_bullet_lines_ratio", self.max_bullet_lines_ratio)
        check_fraction("max_ellipsis_lines_ratio", self.max_ellipsis_lines_ratio)
        check_fraction("min_alpha_words_ratio", self.min_alpha_words_ratio)
        check_non_negative("min_stop_words", self.min_stop_words)
        for name in ("stop_words_en", "stop_words_zh", "stop_words_ja", "bullet_prefixes"):
            if any(not entry for entry in getattr(self, name)):
                fail(name, "must not contain empty strings", getattr(self, name))


@dataclass
class GopherRepetitionConfig:
    """Repetition rules of MassiveWeb (Rae et al. 2021, appendix A.1.1, table A1)."""

    enabled: bool = option(True, "Apply the Gopher repetition rules.")
    max_dup_line_fraction: float | None = option(
        0.30, "Largest share of non-empty lines that repeat an earlier line (Gopher: 0.30). null: off."
    )
    max_dup_paragraph_fraction: float | None = option(
        0.30, "Largest share of paragraphs that repeat an earlier paragraph (Gopher: 0.30). null: off."
    )
    max_dup_line_char_fraction: float | None = option(
        0.20, "Largest share of characters in lines that repeat an earlier line (Gopher: 0.20). null: off."
    )
    max_dup_paragraph_char_fraction: float | None = option(
        0.20, "Largest share of characters in repeated paragraphs (Gopher: 0.20). null: off."
    )
    max_top_ngram_char_fraction: dict[int, float] = option(
        {2: 0.20, 3: 0.18, 4: 0.16},
        "Per n: largest share of word characters covered by the most frequent word n-gram "
        "(Gopher: 2: 0.20, 3: 0.18, 4: 0.16). Empty: off.",
    )
    max_dup_ngram_char_fraction: dict[int, float] = option(
        {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        "Per n: largest share of word characters inside word n-grams that occur more than once, each character "
        "counted once (Gopher: 5: 0.15 ... 10: 0.10). Empty: off.",
    )

    def __post_init__(self) -> None:
        check_fraction("max_dup_line_fraction", self.max_dup_line_fraction)
        check_fraction("max_dup_paragraph_fraction", self.max_dup_paragraph_fraction)
        check_fraction("max_dup_line_char_fraction", self.max_dup_line_char_fraction)
        check_fraction("max_dup_paragraph_char_fraction", self.max_dup_paragraph_char_fraction)
        check_ngram_fractions("max_top_ngram_char_fraction", self.max_top_ngram_char_fraction)
        check_ngram_fractions("max_dup_ngram_char_fraction", self.max_dup_ngram_char_fraction)


@dataclass
class C4Config:
    """Line and page rules of C4 (Raffel et al. 2020, section 2.2, and TFDS c4_utils.py)."""

    enabled: bool = option(True, "Apply the C4 rules.")
    require_terminal_punctuation: bool = option(
        True,
        "Remove lines not ending in terminal punctuation, and lines ending in an ellipsis (C4).",
    )
    terminal_punctuation: list[str] = option(
        C4_TERMINAL_PUNCTUATION,
        "Line endings that count as terminal: C4's . ! ? \" plus ' (datatrove's C4 filter) and the CJK 。！？ and closing quotes.",
    )
    min_words_per_line: int | None = option(
        3, "Remove lines with fewer words (3, as datatrove's C4QualityFilter used by FineWeb; the C4 paper used 5; zh/ja count characters). null: off."
    )
    max_word_length: int | None = option(
        1000, "Remove lines containing a longer word (C4 implementation: 1000 characters). null: off."
    )
    remove_javascript_lines: bool = option(True, "Remove lines containing the word 'javascript' (C4).")
    policy_substrings: list[str] = option(
        C4_POLICY_SUBSTRINGS,
        "Remove lines containing one of these (lower case), the C4 implementation's policy/cookie list. Empty: off.",
    )
    citation_pattern: str | None = option(
        C4_CITATION_PATTERN,
        "Regular expression of citation markers cut from lines ([1], [edit], [citation needed], as in the C4 "
        "implementation; plus zh Wikipedia's [编辑]). null or empty: off.",
    )
    reject_lorem_ipsum: bool = option(True, "Reject documents containing 'lorem ipsum' (C4).")
    reject_curly_bracket: bool = option(True, "Reject documents containing '{', i.e. code (C4).")
    min_sentences: int | None = option(
        5, "Reject documents with fewer sentences left after the line rules (5, as datatrove's C4QualityFilter; the C4 paper used 3). null: off."
    )

    def __post_init__(self) -> None:
        check_non_negative("min_words_per_line", self.min_words_per_line)
        check_positive("max_word_length", self.max_word_length)
        check_non_negative("min_sentences", self.min_sentences)
        check_regex("citation_pattern", self.citation_pattern)
        if self.require_terminal_punctuation and not self.terminal_punctuation:
            fail("terminal_punctuation", "must not be empty while require_terminal_punctuation is on", [])
        if any(not entry for entry in self.terminal_punctuation):
            fail("terminal_punctuation", "must not contain empty strings", self.terminal_punctuation)
        if any(entry != entry.lower() or not entry for entry in self.policy_substrings):
            fail("policy_substrings", "entries must be non-empty and lower case", self.policy_substrings)


@dataclass
class CleanConfig:
    """Everything `fullchain clean` can be told; each section configures one family of rules."""

    max_chars: int | None = option(
        1_000_000,
        "Reject longer documents before any other work (reason too_long). Project choice: above Gopher's "
        "100,000-word ceiling (~600,000 characters of English), so it cuts almost only documents the word rule "
        "would reject anyway. null: off.",
    )
    repair_mojibake: bool = option(
        True,
        "Repair UTF-8 text that was decoded as cp1252 or latin-1 ('cafÃ©' -> 'café', 'â€™' -> '’'). A span is "
        "replaced only when it re-encodes to valid UTF-8; the idea of ftfy (Speer, 2019), done conservatively.",
    )
    max_control_fraction: float = option(
        0.01,
        "Largest share of C0 control characters (other than whitespace), DEL and U+FFFD in a document's text, "
        "after mojibake repair, before it is rejected as bad_encoding (binary data). Checked on text that "
        "arrived decoded (Parquet strings, JSON escapes); read.encoding checks the bytes of raw input. "
        "Project choice.",
    )
    normalize: NormalizeConfig = option(NormalizeConfig(), "Unicode, punctuation and whitespace normalisation.")
    pii: PiiConfig = option(PiiConfig(), "Personal data (e-mail, phone, IP, ID and card numbers, URL credentials).")
    blocklist: BlocklistConfig = option(BlocklistConfig(), "Blocked words and patterns.")
    langid: LangIdConfig = option(LangIdConfig(), "Language identification and the allowed languages.")
    gopher_quality: GopherQualityConfig = option(GopherQualityConfig(), "Gopher quality rules.")
    gopher_repetition: GopherRepetitionConfig = option(GopherRepetitionConfig(), "Gopher repetition rules.")
    c4: C4Config = option(C4Config(), "C4 line and page rules.")

    def __post_init__(self) -> None:
        check_positive("max_chars", self.max_chars)
        check_fraction("max_control_fraction", self.max_control_fraction)
