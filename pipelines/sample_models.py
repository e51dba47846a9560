"""Tiny Hugging Face models and tokenizers built on the spot: stand-ins for the reference LM and
translation models where none can be downloaded (tests, `make demo`). They exercise the real
loading, batching and generation code; their weights are random, so their scores and
translations mean nothing.

The tokenizer is a byte-level BPE trained with the `tokenizers` library (on given text, or a
few sentences of English and Chinese), saved in HF format next to the weights, as a user's model
folder would be.
"""

from __future__ import annotations

import os

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, MarianConfig, MarianMTModel, PreTrainedTokenizerFast

TRAINING_TEXT = [
    "The river that runs through the old market town has shaped the lives of the people.",
    "Local historians have gathered letters, parish records and diaries about the flood.",
    "Today the river is quieter, but it still plays an important role in local life.",
    "这条穿过老城的河流，几百年来一直影响着两岸居民的生活。",
    "现在的河流安静了许多，但它在当地人的生活中依然非常重要。",
] * 20
PAD, BOS, EOS = "<pad>", "<s>", "</s>"


def tiny_tokenizer(vocab_size: int = 400, texts: list[str] | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (pad 0, bos 1, eos 2) that can encode any text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts or TRAINING_TEXT, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)


def tiny_causal_lm(path: str, seed: int = 0, max_positions: int = 1024) -> str:
    """Save a 2-layer Llama-architecture causal LM and its tokenizer into `path`; returns `path`."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    os.makedirs(path, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_seq2seq(path: str, seed: int = 0, max_positions: int = 256) -> str:
    """Save a 1-layer MarianMT-architecture translation model and its tokenizer into `path`."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = MarianConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_ffn_dim=64, max_position_embeddings=max_positions, pad_token_id=0,
                          eos_token_id=2, decoder_start_token_id=0, forced_eos_token_id=2)
    os.makedirs(path, exist_ok=True)
    MarianMTModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
