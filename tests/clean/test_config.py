import pytest

from fullchain.pipelines.clean.config import (
    BlocklistConfig,
    C4Config,
    CleanConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    LangIdConfig,
)

def test_defaults_are_the_published_ones():
    cfg = CleanConfig()
    assert cfg.langid.languages == ["en", "zh"]
    assert (cfg.gopher_quality.min_words, cfg.gopher_quality.max_words) == (50, 100_000)
    assert cfg.gopher_quality.stop_words_en == ["the", "be", "to", "of", "and", "that", "have", "with"]
    assert cfg.gopher_repetition.max_top_ngram_char_fraction == {2: 0.20, 3: 0.18, 4: 0.16}
    assert cfg.gopher_repetition.max_dup_ngram_char_fraction == {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    assert cfg.c4.min_sentences == 5 and cfg.c4.min_words_per_line == 3


def test_mutable_defaults_are_not_shared():
    a, b = CleanConfig(), CleanConfig()
    a.langid.languages.append("fr")
    a.gopher_repetition.max_top_ngram_char_fraction[5] = 0.5
    assert b.langid.languages == ["en", "zh"]
    assert 5 not in b.gopher_repetition.max_top_ngram_char_fraction
    assert a.langid is not b.langid


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: LangIdConfig(min_probability=1.5), "min_probability"),
        (lambda: LangIdConfig(prefix_chars=0), "prefix_chars"),
        (lambda: LangIdConfig(languages=["EN"]), "languages"),
        (lambda: LangIdConfig(languages=["en", "eng"]), "languages"),
        (lambda: LangIdConfig(languages=["zh-hk"]), "languages"),
        (lambda: CleanConfig(max_control_fraction=-0.1), "max_control_fraction"),
        (lambda: GopherQualityConfig(min_words=200, max_words=100), "min_words"),
        (lambda: GopherQualityConfig(min_alpha_words_ratio=2.0), "min_alpha_words_ratio"),
        (lambda: GopherQualityConfig(stop_words_zh=["的", ""]), "stop_words_zh"),
        (lambda: GopherRepetitionConfig(max_dup_line_fraction=1.01), "max_dup_line_fraction"),
        (lambda: GopherRepetitionConfig(max_top_ngram_char_fraction={0: 0.1}), "max_top_ngram_char_fraction"),
        (lambda: GopherRepetitionConfig(max_dup_ngram_char_fraction={5: 1.5}), "max_dup_ngram_char_fraction[5]"),
        (lambda: C4Config(citation_pattern="[unclosed"), "citation_pattern"),
        (lambda: C4Config(policy_substrings=["Cookie Policy"]), "policy_substrings"),
        (lambda: C4Config(min_sentences=-1), "min_sentences"),
        (lambda: BlocklistConfig(patterns=["(oops"]), "patterns"),
        (lambda: CleanConfig(max_chars=0), "max_chars"),
    ],
)
def test_invalid_values_raise_one_line_errors_starting_with_the_field(build, field):
    with pytest.raises(ValueError) as err:
        build()
    message = str(err.value)
    assert message.startswith(f"{field} ")  # the config loader prefixes the section
    assert "\n" not in message


def test_none_switches_a_threshold_off():
    cfg = GopherQualityConfig(min_words=None, max_words=None, min_mean_word_length=None)
    assert cfg.min_words is None and cfg.max_mean_word_length == 10.0


def test_the_project_config_loader_reads_the_tree(tmp_path):
    from fullchain.pipelines.config import ConfigError, load_config

    path = tmp_path / "clean.yaml"
    path.write_text(
        "max_chars: 5000\nlangid:\n  languages: [en]\ngopher_repetition:\n  max_top_ngram_char_fraction: {2: 0.3}\n"
        "c4:\n  citation_pattern: null\n"
    )
    cfg = load_config(CleanConfig, str(path), {"gopher_quality.min_words": "20", "blocklist.words": "foo,bar"})
    assert cfg.max_chars == 5000 and cfg.langid.languages == ["en"]
    assert cfg.gopher_repetition.max_top_ngram_char_fraction == {2: 0.3}
    assert cfg.c4.citation_pattern is None
    assert cfg.gopher_quality.min_words == 20 and cfg.blocklist.words == ["foo", "bar"]
    path.write_text("langid:\n  min_probability: 1.5\n")
    with pytest.raises(ConfigError, match="min_probability must be within"):
        load_config(CleanConfig, str(path))


def test_language_codes_are_the_ones_language_identification_reports():
    assert LangIdConfig(languages=["en", "zh", "zh-tw", "ja", "sw"]).languages[-1] == "sw"
    with pytest.raises(ValueError, match=r"languages entries must be language codes .*\(did you mean 'en'\?\), "
                                         r"got 'EN'"):
        LangIdConfig(languages=["EN"])


def test_unknown_language_in_perplexity_thresholds_is_refused():
    from fullchain.pipelines.perplexity.config import PerplexityConfig

    assert PerplexityConfig(model="m", max_ppl_by_lang=["en=800", "=900"]).max_ppl_by_lang == ["en=800", "=900"]
    with pytest.raises(ValueError, match=r"max_ppl_by_lang: languages entries .* got 'eng'"):
        PerplexityConfig(model="m", max_ppl_by_lang=["eng=800"])
