import pytest

from fullchain.pipelines.backtranslate.config import BacktranslateConfig, GateConfig, GenerationConfig


def test_defaults_are_valid_and_maps_parse():
    cfg = BacktranslateConfig(lang_codes=["en=eng_Latn", "zh=zho_Hans"])
    assert cfg.codes == {"en": "eng_Latn", "zh": "zho_Hans"}
    assert cfg.names["zh"] == "Chinese"
    assert cfg.generation.num_beams == 1 and cfg.model_kind == "seq2seq"


@pytest.mark.parametrize("make, field", [
    (lambda: BacktranslateConfig(fraction=1.5), "fraction"),
    (lambda: BacktranslateConfig(model_kind="t5"), "model_kind"),
    (lambda: BacktranslateConfig(source_languages=["EN"]), "source_languages"),
    (lambda: BacktranslateConfig(pivot_lang="en"), "pivot_lang"),
    (lambda: BacktranslateConfig(source_languages=["en", "fr"], backward_model="m"), "source_languages"),
    (lambda: BacktranslateConfig(lang_codes=["eng_Latn"]), "lang_codes"),
    (lambda: BacktranslateConfig(prompt_template="Translate {language}: {text}"), "prompt_template"),
    (lambda: BacktranslateConfig(prompt_template="Translate into {target_language}"), "prompt_template"),
    (lambda: BacktranslateConfig(max_input_tokens=2), "max_input_tokens"),
    (lambda: BacktranslateConfig(batch_size=0), "batch_size"),
    (lambda: GateConfig(min_similarity=0.9, max_similarity=0.5), "min_similarity"),
    (lambda: GateConfig(max_similarity=2.0), "max_similarity"),
    (lambda: GenerationConfig(num_beams=0), "num_beams"),
])
def test_bad_values_name_their_field(make, field):
    with pytest.raises(ValueError) as err:
        make()
    assert str(err.value).startswith(field)
