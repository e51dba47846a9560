import pytest

from fullchain.pipelines.backtranslate.config import BacktranslateConfig
from fullchain.pipelines.backtranslate.model_check import ModelCheckError, check_models


def test_check_models_fails_fast_with_one_line(tmp_path, tiny_models):
    cases = [
        (BacktranslateConfig(), "forward_model is not set"),
        (BacktranslateConfig(forward_model=str(tmp_path / "missing")), "no model folder"),
        (BacktranslateConfig(forward_model=tiny_models["causal"], backward_model=tiny_models["backward"]),
         "LlamaForCausalLM, not a seq2seq"),
        (BacktranslateConfig(model_kind="causal", forward_model=tiny_models["forward"]),
         "MarianMTModel, an encoder-decoder"),
        (BacktranslateConfig(forward_model=tiny_models["forward"]), "lang_codes"),
        (BacktranslateConfig(forward_model=tiny_models["forward"], lang_codes=["en=eng_Latn", "zh=zho_Hans"]),
         "no language token 'eng_Latn'"),
    ]
    for cfg, expected in cases:
        with pytest.raises(ModelCheckError) as err:
            check_models(cfg)
        assert expected in str(err.value) and "\n" not in str(err.value)
