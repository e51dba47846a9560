"""The options of `fullchain ppl-filter`: which causal LM scores documents, how, and what is kept.

Two modes, as in CCNet (Wenzek et al., 2019):
- absolute: a document is kept when its perplexity is at most a fixed threshold (per language or global);
  its ppl_bucket is head when kept, tail when not;
- percentile: per-language cut points are computed from the corpus itself in the same job, documents go
  to the buckets head (lowest perplexity), middle or tail, and the buckets in keep_buckets are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option
from fullchain.pipelines.clean.config import check_language_codes
from fullchain.pipelines.perplexity.scoring import BUCKETS, lang_thresholds

MODES = ("absolute", "percentile")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(kw_only=True)
class PerplexityConfig:
    """fullchain ppl-filter: score every document with a causal LM and filter by perplexity."""

    model: str = option("", "Folder of a causal LM saved with save_pretrained (weights and its own tokenizer), "
                            "or a hub id already in the local Hugging Face cache; nothing is downloaded.")
    window_tokens: int = option(
        512, "Tokens per scoring window. A document is cut into consecutive windows of this many tokens and "
             "only the first max_windows windows are scored (each with the model's BOS token as context), so "
             "the cost per document is bounded; the rest of a long document is not read.")
    max_windows: int = option(1, "Windows scored per document; 1 scores the first window_tokens tokens only.")
    batch_size: int = option(16, "Most documents per model batch.")
    max_batch_tokens: int = option(
        8192, "Most tokens (padded windows x length) per forward pass; a batch over it is split into several "
              "passes. Bounds memory: the logits of one pass take max_batch_tokens x vocabulary floats.")
    length_aware_batching: bool = option(
        True, "Batch documents of similar length together (keyed by a length bucket), which wastes less "
              "compute on padding; off batches documents in arrival order. Does not change the scores.")
    mode: str = option("absolute", "absolute: keep documents with perplexity <= a threshold; percentile: "
                                   "keep the CCNet buckets in keep_buckets, cut per language from the corpus.")
    max_ppl: float | None = option(None, "absolute mode: threshold for languages not in max_ppl_by_lang; "
                                         "null keeps every scorable document of those languages.")
    max_ppl_by_lang: list[str] = option([], 'absolute mode: per-language thresholds as "lang=value", '
                                            'e.g. ["en=800", "zh=1200"]; "" is the language of undetected docs.')
    head_max_percentile: float = option(33.0, "percentile mode: documents at or below this percentile of "
                                              "their language's perplexities are in bucket head (CCNet: 33).")
    middle_max_percentile: float = option(66.0, "percentile mode: documents above head and at or below this "
                                                "percentile are in bucket middle, the rest in tail (CCNet: 66).")
    keep_buckets: list[str] = option(["head", "middle"], "percentile mode: the buckets that are kept.")
    device: str = option("auto", "cpu, cuda, or auto (cuda when available).")
    dtype: str = option("float32", "Weights dtype: float32, bfloat16 or float16 (bfloat16/float16 for GPUs; "
                                   "token losses are always summed in float32).")

    def __post_init__(self) -> None:
        for name in ("window_tokens", "max_windows", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_batch_tokens < self.window_tokens + 1:
            raise ValueError(f"max_batch_tokens must be at least window_tokens + 1 = {self.window_tokens + 1} "
                             f"(one window and its BOS token), got {self.max_batch_tokens}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.max_ppl is not None and self.max_ppl <= 0:
            raise ValueError(f"max_ppl must be positive or null, got {self.max_ppl}")
        try:
            # "" is the language of documents no stage identified
            check_language_codes("languages", [lang for lang in lang_thresholds(self.max_ppl_by_lang) if lang])
        except ValueError as e:
            raise ValueError(f"max_ppl_by_lang: {e}") from None
        if not 0.0 < self.head_max_percentile < self.middle_max_percentile < 100.0:
            raise ValueError(f"head_max_percentile must be in (0, middle_max_percentile) and middle_max_percentile "
                             f"in (head_max_percentile, 100), got {self.head_max_percentile} and "
                             f"{self.middle_max_percentile}")
        unknown = [b for b in self.keep_buckets if b not in BUCKETS]
        if unknown or not self.keep_buckets:
            raise ValueError(f"keep_buckets must be a non-empty list of {', '.join(BUCKETS)}, "
                             f"got {self.keep_buckets}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
