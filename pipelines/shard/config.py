"""The options of `fullchain shard`: which tokenizer, the train/validation split and the shard size."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option

BYTE_ALPHABET_SIZE = 256


@dataclass(kw_only=True)
class TokenizerTrainingConfig:
    """A byte-level BPE tokenizer trained by the stage when no tokenizer is given."""

    vocab_size: int = option(32000, "Vocabulary size of the trained tokenizer, special tokens included.")
    sample_docs: int = option(10000, "Documents it is trained on: those with the smallest hash of their id "
                                     "(seeded by split_seed), so the sample is the same on every runner.")
    eos_token: str = option("<|endoftext|>", "End-of-document token; the trainer uses it as the separator.")
    pad_token: str = option("<|pad|>", "Padding token.")
    min_frequency: int = option(2, "Smallest count of a pair for BPE to merge it.")

    def __post_init__(self) -> None:
        specials = len({self.eos_token, self.pad_token})
        if self.vocab_size < BYTE_ALPHABET_SIZE + specials:
            raise ValueError(f"vocab_size must be at least {BYTE_ALPHABET_SIZE + specials} (256 bytes + special "
                             f"tokens), got {self.vocab_size}")
        if self.sample_docs < 1:
            raise ValueError(f"sample_docs must be at least 1, got {self.sample_docs}")
        if not self.eos_token:
            raise ValueError("eos_token must not be empty")
        if not self.pad_token or self.pad_token == self.eos_token:
            raise ValueError("pad_token must be non-empty and differ from eos_token")
        if self.min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1, got {self.min_frequency}")


@dataclass(kw_only=True)
class ShardConfig:
    """fullchain shard: tokenized WebDataset shards (.txt, .json, .ids.npy per document) and manifest.json."""

    tokenizer: str = option("", "Folder of a Hugging Face tokenizer (AutoTokenizer.from_pretrained); empty to "
                                "train a byte-level BPE tokenizer on the corpus, saved in OUT/tokenizer/.")
    train: TokenizerTrainingConfig = option(TokenizerTrainingConfig(), "Tokenizer training, when none is given.")
    val_fraction: float = option(0.01, "Share of documents in the validation split, chosen by a hash of the id "
                                       "(an augmented document follows the document it came from).")
    split_seed: int = option(0, "Seed of the split hash and of the tokenizer training sample.")
    target_shard_mb: float = option(256.0, "Target shard size in MB (10^6 bytes). Documents go to shard "
                                           "hash(id) mod ceil(split bytes / target), so shards are about this "
                                           "size on average, not exactly.")
    append_eos: bool = option(True, "Append the tokenizer's EOS token to every document's token ids.")

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction <= 1.0:
            raise ValueError(f"val_fraction must be in [0, 1], got {self.val_fraction}")
        if not 0 <= self.split_seed < 2**32:
            raise ValueError(f"split_seed must be in [0, 2**32), got {self.split_seed}")
        if self.target_shard_mb <= 0:
            raise ValueError(f"target_shard_mb must be positive, got {self.target_shard_mb}")

    @property
    def target_shard_bytes(self) -> int:
        """The target shard size in bytes."""
        return max(1, int(self.target_shard_mb * 1_000_000))
