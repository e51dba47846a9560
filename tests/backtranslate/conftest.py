import pytest

from fullchain.pipelines.sample_models import tiny_causal_lm, tiny_seq2seq


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Folders of a tiny random MarianMT pair (en-zh, zh-en) and a tiny causal LM, with tokenizers."""
    root = tmp_path_factory.mktemp("models")
    return {"forward": tiny_seq2seq(str(root / "en-zh")), "backward": tiny_seq2seq(str(root / "zh-en"), seed=1),
            "causal": tiny_causal_lm(str(root / "causal"))}
