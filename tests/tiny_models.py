"""Tiny model folders for tests (see pipelines.sample_models)."""

from fullchain.pipelines.sample_models import tiny_causal_lm, tiny_seq2seq, tiny_tokenizer

__all__ = ["tiny_causal_lm", "tiny_seq2seq", "tiny_tokenizer"]
