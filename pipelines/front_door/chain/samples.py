"""DIR/train/samples.json: greedy samples and validation perplexity of the model at the start and at
the end of training, so a reader sees what training did (docs/RUN.md). The start is the untrained
model: the trained model's architecture, initialised as Hugging Face initialises it under the run's
seed (the trainer evaluates only after its first steps)."""

from __future__ import annotations

import json
import os
from typing import Any

SAMPLE_PROMPTS = ("The hacker", "A program that", "When the system", "人生", "春风", "我们")
SAMPLE_TOKENS = 32
PPL_WINDOWS = 8


def _val_windows(shards: str, seq_len: int, count: int) -> list[list[int]]:
    """Up to `count` windows of `seq_len` token ids from the val split of a shard output folder."""
    from fullchain.pipelines.shard.format import read_shard_ids, shard_path
    from fullchain.pipelines.shard.manifest import load_manifest

    tokens: list[int] = []
    for entry in load_manifest(shards)["shards"]:
        if entry["split"] != "val":
            continue
        for ids in read_shard_ids(shard_path(shards, entry)):
            tokens.extend(int(t) for t in ids)
        if len(tokens) >= seq_len * count:
            break
    return [tokens[i:i + seq_len] for i in range(0, len(tokens) - seq_len + 1, seq_len)][:count]


def _perplexity(model: Any, windows: list[list[int]]) -> float | None:
    import math

    import torch

    if not windows:
        return None
    with torch.no_grad():
        losses = [float(model(input_ids=torch.tensor([w]), labels=torch.tensor([w])).loss) for w in windows]
    return math.exp(sum(losses) / len(losses))


def _greedy(model: Any, tokenizer: Any, prompts: tuple[str, ...], max_new_tokens: int) -> list[str]:
    import torch

    texts = []
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt").input_ids
            out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
            texts.append(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
    return texts


def write_samples(run_dir: str, seed: int, shards: str, seq_len: int, prompts: tuple[str, ...] = SAMPLE_PROMPTS,
                  max_new_tokens: int = SAMPLE_TOKENS) -> str:
    """Write RUN_DIR/samples.json from RUN_DIR/hf and the val split of `shards`; returns its path."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from fullchain.pipelines.hf_loading import quiet_model_loading

    quiet_model_loading()
    hf = os.path.join(run_dir, "hf")
    tokenizer = AutoTokenizer.from_pretrained(hf)
    torch.manual_seed(seed)
    untrained = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(hf)).eval()
    trained = AutoModelForCausalLM.from_pretrained(hf, use_safetensors=True).eval()
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as fh:
        last_step = max((json.loads(line)["step"] for line in fh if line.strip()), default=0)
    windows = _val_windows(shards, seq_len, PPL_WINDOWS)
    samples = {"prompts": list(prompts), "max_new_tokens": max_new_tokens,
               "val_windows": len(windows), "seq_len": seq_len,
               "samples": [{"step": 0, "model": "untrained (same architecture, seed of the run)",
                            "val_ppl": _perplexity(untrained, windows),
                            "texts": _greedy(untrained, tokenizer, prompts, max_new_tokens)},
                           {"step": last_step, "model": "hf/ (the end of training)",
                            "val_ppl": _perplexity(trained, windows),
                            "texts": _greedy(trained, tokenizer, prompts, max_new_tokens)}]}
    path = os.path.join(run_dir, "samples.json")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(samples, fh, indent=2, ensure_ascii=False)
    os.replace(tmp, path)
    return path
