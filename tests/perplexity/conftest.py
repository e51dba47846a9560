"""A tiny causal LM and a tiny seq2seq model, built once per test session."""

import pytest

from tests.tiny_models import tiny_causal_lm, tiny_seq2seq


@pytest.fixture(scope="session")
def causal_lm(tmp_path_factory) -> str:
    return tiny_causal_lm(str(tmp_path_factory.mktemp("causal_lm")))


@pytest.fixture(scope="session")
def seq2seq(tmp_path_factory) -> str:
    return tiny_seq2seq(str(tmp_path_factory.mktemp("seq2seq")))
