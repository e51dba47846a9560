"""The load test's prompts: token windows cut from the val split of a shard output, with lengths
drawn from a normal distribution (genai-perf's synthetic input mean/stddev), or the configured
text prompts in turn.

Windows come from the shards' own token ids (fullchain.pipelines.shard.format), so a prompt has
exactly the drawn length when it is sent as ids (`<name>_llm`'s `prompt_ids`); text endpoints get
the window decoded with the shards' tokenizer, which the server re-tokenizes (lengths then agree up
to the tokenizer's merges at the window's edges).
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass

import numpy as np

from fullchain.pipelines.shard.format import manifest_path, read_shard_ids, shard_path, tokenizer_dir

# enough text for thousands of distinct windows without reading a whole corpus
MAX_STREAM_TOKENS = 1 << 20


class PromptError(ValueError):
    """Shards that cannot give prompts; the message is one line naming the file."""


@dataclass(frozen=True)
class Prompt:
    """One request's prompt: the text (always) and its token ids (when it came from shards)."""

    text: str
    ids: tuple[int, ...] | None


def token_lengths(count: int, mean: int, stddev: int, seed: int) -> np.ndarray:
    """`count` lengths in tokens from normal(mean, stddev), rounded and clipped to 1..4 x mean (the
    prompts' lengths, and the requests' max_tokens)."""
    rng = np.random.default_rng(seed)
    lengths = np.rint(rng.normal(mean, stddev, size=count)) if stddev > 0 else np.full(count, mean)
    return np.clip(lengths, 1, 4 * mean).astype(np.int64)


def windows(stream: np.ndarray, lengths: np.ndarray, seed: int) -> list[np.ndarray]:
    """One window of the token stream per length, at a random offset (PromptError when the stream is
    shorter than the longest length)."""
    if lengths.size and stream.size < int(lengths.max()):
        raise PromptError(f"the val split has {stream.size} tokens, fewer than a prompt of {int(lengths.max())}")
    rng = np.random.default_rng(seed + 1)
    return [stream[start:start + n] for n in lengths.tolist()
            for start in [int(rng.integers(0, stream.size - n + 1))]]


def read_manifest(shards: str) -> dict:
    """The shard output's manifest.json, parsed; PromptError naming the file when it cannot be read."""
    path = manifest_path(shards)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as e:
        raise PromptError(f"cannot read the shard manifest {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise PromptError(f"the shard manifest {path} is not JSON: {e}") from None


def val_token_stream(shards: str) -> np.ndarray:
    """The val split's token ids, concatenated (at most MAX_STREAM_TOKENS)."""
    manifest = read_manifest(shards)
    path = manifest_path(shards)
    entries = [s for s in manifest.get("shards", []) if s.get("split") == "val"]
    if not entries:
        raise PromptError(f"{path} lists no val shards")
    parts, total = [], 0
    for entry in entries:
        try:
            shard_ids = list(read_shard_ids(shard_path(shards, entry)))
        except (OSError, tarfile.TarError, ValueError) as e:
            raise PromptError(f"cannot read the val shard {shard_path(shards, entry)}: {e}") from None
        for ids in shard_ids:
            parts.append(np.asarray(ids, dtype=np.int64))
            total += ids.size
            if total >= MAX_STREAM_TOKENS:
                return np.concatenate(parts)[:MAX_STREAM_TOKENS]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def shard_prompts(shards: str, count: int, mean: int, stddev: int, seed: int) -> list[Prompt]:
    """`count` prompts cut from the val split of `shards`, decoded with the shards' tokenizer."""
    from tokenizers import Tokenizer

    manifest = read_manifest(shards)
    tokenizer_file = os.path.join(tokenizer_dir(shards, manifest), "tokenizer.json")
    if not os.path.isfile(tokenizer_file):
        raise PromptError(f"the shards' tokenizer {tokenizer_file} does not exist")
    tokenizer = Tokenizer.from_file(tokenizer_file)
    cuts = windows(val_token_stream(shards), token_lengths(count, mean, stddev, seed), seed)
    return [Prompt(text=tokenizer.decode(w.tolist(), skip_special_tokens=True), ids=tuple(int(t) for t in w))
            for w in cuts]


def text_prompts(prompts: list[str], count: int) -> list[Prompt]:
    """The configured prompts in turn, `count` of them."""
    return [Prompt(text=prompts[i % len(prompts)], ids=None) for i in range(count)]
