"""The options of `fullchain dedup`: exact duplicates, then MinHash LSH near duplicates.

Defaults follow FineWeb's MinHash setup (word 5-grams, 14 bands x 8 rows = 112
permutations) plus an exact Jaccard check of every LSH candidate pair, which LSH alone
does not have: with 14x8 bands about 5% of pairs at Jaccard 0.5 become candidates, and
the check removes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option

# Beam metrics of the stage (pipelines/dedup/beam.py lists them)
METRICS_NAMESPACE = "fullchain.dedup"


@dataclass(kw_only=True)
class ShingleConfig:
    """How a document becomes a set of shingles (token n-grams)."""

    ngram_size: int = option(5, "Shingle length in words for space-separated scripts (FineWeb: 5).")
    cjk_char_ngram_size: int = option(
        5, "Shingle length in characters for documents that are mostly Chinese/Japanese characters, which "
           "have no spaces between words. 5 characters is about 3 Chinese words: long enough that unrelated "
           "texts rarely share one, and, as for words, one changed character changes 5 shingles.")

    def __post_init__(self) -> None:
        if self.ngram_size < 1:
            raise ValueError(f"ngram_size must be at least 1, got {self.ngram_size}")
        if self.cjk_char_ngram_size < 1:
            raise ValueError(f"cjk_char_ngram_size must be at least 1, got {self.cjk_char_ngram_size}")


@dataclass(kw_only=True)
class MinHashConfig:
    """MinHash signatures and the LSH bands cut from them."""

    num_bands: int = option(14, "LSH bands; two documents become candidates when all rows of one band match.")
    rows_per_band: int = option(8, "Signature rows per band; num_perm = num_bands * rows_per_band.")
    seed: int = option(1, "Seed of the MinHash permutations (datasketch's MinHash seed).")
    batch_size: int = option(256, "Largest number of documents whose signatures are computed in one numpy "
                                  "batch; does not change the result.")

    def __post_init__(self) -> None:
        for name in ("num_bands", "rows_per_band", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.num_bands > 0xFFFF:
            raise ValueError(f"num_bands must be at most 65535, got {self.num_bands}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed}")

    @property
    def num_perm(self) -> int:
        """Signature length: one MinHash permutation per row of every band."""
        return self.num_bands * self.rows_per_band


@dataclass(kw_only=True)
class DedupConfig:
    """fullchain dedup: exact duplicates by normalised-text hash, near duplicates by MinHash LSH."""

    exact: bool = option(True, "Remove exact duplicates: same text after casefolding, dropping punctuation "
                               "and symbols, and collapsing whitespace.")
    near: bool = option(True, "Remove near duplicates found by MinHash LSH.")
    shingles: ShingleConfig = option(ShingleConfig(), "Shingling of documents for near-duplicate detection.")
    minhash: MinHashConfig = option(MinHashConfig(), "MinHash signatures and LSH bands.")
    verify_jaccard: bool = option(True, "Compute the exact shingle Jaccard of every LSH candidate pair and link "
                                        "only pairs at or above jaccard_threshold; off links every candidate.")
    jaccard_threshold: float = option(
        0.75, "Smallest exact shingle Jaccard for two documents to count as near duplicates (with "
              "verify_jaccard). 0.75 sits on the knee of the 14x8 LSH curve (~0.72), so pairs that LSH finds "
              "reliably (98.8% at 0.85) pass, and pairs at 0.5 or below never do.")
    max_bucket_pairs: int = option(
        1000, "An LSH bucket whose members would make more pairs than this links every member to its smallest "
              "id only (a star) instead of all pairs: bounded work for huge buckets, at the cost that a member "
              "whose only similar documents are other non-smallest members can fail verification.")
    write_clusters: bool = option(
        False, "Also write the near-duplicate clusters to OUT/clusters/*.parquet (cluster id, survivor, members "
               "and each member's shingle Jaccard to the survivor); see docs/DEDUP.md to look at them.")
    cc_max_rounds: int = option(
        10, "Large-star/small-star rounds of the connected-components computation unrolled in the pipeline. "
            "What has not converged after them is resolved on one worker (metric cc_unconverged_edges).")

    def __post_init__(self) -> None:
        if not 0.0 <= self.jaccard_threshold <= 1.0:
            raise ValueError(f"jaccard_threshold must be in [0, 1], got {self.jaccard_threshold}")
        if self.max_bucket_pairs < 1:
            raise ValueError(f"max_bucket_pairs must be at least 1, got {self.max_bucket_pairs}")
        if self.write_clusters and not self.near:
            raise ValueError("write_clusters needs near: true (clusters are those of the near-duplicate search)")
        if self.cc_max_rounds < 1:
            raise ValueError(f"cc_max_rounds must be at least 1, got {self.cc_max_rounds}")
