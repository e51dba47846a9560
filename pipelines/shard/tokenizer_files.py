"""Tokenizers as bytes: train a byte-level BPE, load and hash a Hugging Face tokenizer held as
{file name: bytes}, the form in which it travels as a Beam side input and to any filesystem."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from fullchain.pipelines.shard.config import TokenizerTrainingConfig

TokenizerFiles = dict[str, bytes]


def train_tokenizer(texts: Iterable[str], cfg: TokenizerTrainingConfig) -> TokenizerFiles:
    """Train a byte-level BPE on `texts` and return its files in Hugging Face format.

    Special tokens come first (EOS id 0, pad id 1). The byte alphabet is always included, so any
    text encodes without unknown tokens.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency,
                                  special_tokens=[cfg.eos_token, cfg.pad_token],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=cfg.eos_token, pad_token=cfg.pad_token)
    with tempfile.TemporaryDirectory() as folder:
        fast.save_pretrained(folder)
        return _read_local_folder(folder)


def load_tokenizer(files: TokenizerFiles) -> PreTrainedTokenizerBase:
    """A tokenizer from its files (AutoTokenizer needs a local folder, so they go through a temporary one)."""
    with tempfile.TemporaryDirectory() as folder:
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as fh:
                fh.write(data)
        return AutoTokenizer.from_pretrained(folder)


def tokenizer_hash(files: TokenizerFiles) -> str:
    """sha256 over the sorted file names and contents: changes when any tokenizer file does."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + len(files[name]).to_bytes(8, "big") + files[name])
    return digest.hexdigest()


def _read_local_folder(folder: str) -> TokenizerFiles:
    files = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as fh:
            files[name] = fh.read()
    return files
