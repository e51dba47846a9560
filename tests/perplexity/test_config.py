"""PerplexityConfig validation."""

import pytest

from fullchain.pipelines.perplexity.config import PerplexityConfig


def test_defaults_are_valid():
    cfg = PerplexityConfig()
    assert cfg.mode == "absolute" and cfg.keep_buckets == ["head", "middle"] and cfg.window_tokens == 512


@pytest.mark.parametrize("field, kwargs", [
    ("window_tokens", {"window_tokens": 0}),
    ("max_windows", {"max_windows": 0}),
    ("batch_size", {"batch_size": 0}),
    ("max_batch_tokens", {"window_tokens": 512, "max_batch_tokens": 512}),
    ("mode", {"mode": "relative"}),
    ("max_ppl", {"max_ppl": 0.0}),
    ("max_ppl_by_lang", {"max_ppl_by_lang": ["en:800"]}),
    ("head_max_percentile", {"head_max_percentile": 70.0}),
    ("keep_buckets", {"keep_buckets": ["top"]}),
    ("keep_buckets", {"keep_buckets": []}),
    ("device", {"device": "tpu"}),
    ("dtype", {"dtype": "int8"}),
])
def test_invalid_values_name_the_field(field, kwargs):
    with pytest.raises(ValueError) as e:
        PerplexityConfig(**kwargs)
    assert str(e.value).startswith(field)
