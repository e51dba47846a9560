"""DedupConfig: FineWeb defaults, validation naming the field."""

import pytest

from fullchain.pipelines.dedup.config import DedupConfig, MinHashConfig, ShingleConfig


def test_defaults_follow_fineweb():
    cfg = DedupConfig()
    assert cfg.exact and cfg.near and cfg.verify_jaccard
    assert (cfg.minhash.num_bands, cfg.minhash.rows_per_band, cfg.minhash.num_perm) == (14, 8, 112)
    assert cfg.shingles.ngram_size == 5
    assert DedupConfig().minhash is not cfg.minhash  # nested defaults are not shared


@pytest.mark.parametrize("make, field", [
    (lambda: ShingleConfig(ngram_size=0), "ngram_size"),
    (lambda: ShingleConfig(cjk_char_ngram_size=0), "cjk_char_ngram_size"),
    (lambda: MinHashConfig(num_bands=0), "num_bands"),
    (lambda: MinHashConfig(rows_per_band=0), "rows_per_band"),
    (lambda: MinHashConfig(batch_size=0), "batch_size"),
    (lambda: MinHashConfig(seed=-1), "seed"),
    (lambda: MinHashConfig(seed=2**32), "seed"),
    (lambda: DedupConfig(jaccard_threshold=1.5), "jaccard_threshold"),
    (lambda: DedupConfig(max_bucket_pairs=0), "max_bucket_pairs"),
    (lambda: DedupConfig(cc_max_rounds=0), "cc_max_rounds"),
])
def test_invalid_values_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()
