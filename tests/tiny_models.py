"""Tiny model folders for tests (see pipelines.sample_models), and one built to break INT8."""

import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from fullchain.pipelines.sample_models import tiny_causal_lm, tiny_seq2seq, tiny_tokenizer

__all__ = ["tiny_causal_lm", "tiny_seq2seq", "tiny_tokenizer", "tiny_llama", "bigram_lm"]


def tiny_llama(path, tokenizer=None, vocab_size: int | None = None, hidden_size: int = 32,
               intermediate_size: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
               max_positions: int = 1024, seed: int = 0):
    """Save a random Llama of another shape than tiny_causal_lm's into `path` (with `tokenizer`, whose
    size is the vocabulary unless `vocab_size` says otherwise; no tokenizer is saved when it is None)."""
    torch.manual_seed(seed)
    vocab = vocab_size or len(tokenizer)
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden_size, intermediate_size=intermediate_size,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=max_positions, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    os.makedirs(path, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return path


def bigram_lm(path: str, token_ids: list[int], outlier: float = 0.0) -> str:
    """Save a 1-layer Llama whose logits are the smoothed bigram log-probabilities of `token_ids` (so its
    perplexity on that text is low), with the tiny tokenizer; returns `path`.

    Token i embeds as the unit vector of channel i, plus `outlier` on one extra channel that the
    output projection ignores: in FP32 nothing changes, but a per-tensor INT8 quantization of the
    final norm's output (dynamic quantization's activations) then spends its 255 steps on the outlier
    and rounds every real channel to 0 once `outlier` is in the hundreds, which makes the model uniform.
    """
    tokenizer = tiny_tokenizer()
    vocab = len(tokenizer)
    hidden = vocab + 4  # one outlier channel, rounded up to an even head_dim for 2 heads
    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config)
    counts = torch.full((vocab, vocab), 0.01)  # smoothed: no impossible next token
    for a, b in zip(token_ids, token_ids[1:]):
        counts[a, b] += 1
    log_probs = (counts / counts.sum(1, keepdim=True)).log()  # [previous, next]
    # the final RMSNorm divides by the rms of [unit vector, outlier, zeros]; scale the head back by it
    rms = ((1.0 + outlier ** 2) / hidden) ** 0.5
    noise = 1e-3 * torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0))  # no argmax ties
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.model.embed_tokens.weight[:, :vocab] = torch.eye(vocab)
        model.model.embed_tokens.weight[:, vocab] = outlier
        for norm in (model.model.norm, model.model.layers[0].input_layernorm,
                     model.model.layers[0].post_attention_layernorm):
            norm.weight.fill_(1.0)
        model.lm_head.weight[:, :vocab] = (log_probs + noise).T * rms
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
