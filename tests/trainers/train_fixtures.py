"""Small real inputs for `fullchain train` tests: text shards with their tokenizer, and an HF Llama folder."""

import os
import random

from fullchain.pipelines.document import Document
from tests.tiny_models import tiny_causal_lm, tiny_tokenizer
from fullchain.pipelines.shard.manifest import build_manifest, manifest_bytes, shard_entry
from fullchain.pipelines.shard.samples import encode_sample
from fullchain.pipelines.shard.tar_writing import shard_bytes
from fullchain.pipelines.shard.tokenizer_files import tokenizer_hash

WORDS = ("the cat dog sat ran on under a mat log big small red blue quick slow and then "
         "river stone tree bird sang flew over house garden").split()


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    # A tiny grammar: a model learns its regularities within a few dozen steps.
    return [" ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + "."
                     for _ in range(rng.randint(2, 6))) for _ in range(n)]


def write_shard_output(root: str, splits: dict[str, tuple[list, int]], tokenizer_info: dict,
                       skipped: dict[str, int]) -> dict:
    """Tars of (Document, token ids) items per split, dealt round-robin into `count` shards, and
    the manifest.json that `fullchain shard` would write for them; returns the manifest."""
    entries = []
    for split, (items, count) in splits.items():
        os.makedirs(os.path.join(root, split), exist_ok=True)
        for s in range(count):
            samples = [encode_sample(d, ids, "uint16") for d, ids in items[s::count]]
            data = shard_bytes(samples)
            path = f"{split}/shard-{s:06d}.tar"
            with open(os.path.join(root, path), "wb") as fh:
                fh.write(data)
            entries.append(shard_entry(split, path, len(samples), sum(x.tokens for x in samples), data))
    written = sum(e["samples"] for e in entries)
    manifest = build_manifest(entries, written + sum(skipped.values()), skipped, tokenizer_info, "uint16", {}, [])
    with open(os.path.join(root, "manifest.json"), "wb") as fh:
        fh.write(manifest_bytes(manifest))
    return manifest


def write_text_shards(root: str, docs: int = 400, train_shards: int = 4, seed: int = 0) -> dict:
    """A `fullchain shard`-style output in `root`: train/ and val/ tars, tokenizer/, manifest.json."""
    tokenizer = tiny_tokenizer()
    tokenizer.save_pretrained(os.path.join(root, "tokenizer"))
    eos = tokenizer.eos_token_id
    texts = _texts(docs, seed)
    encoded = [(Document(id=f"doc.{i}", text=t), tokenizer.encode(t) + [eos]) for i, t in enumerate(texts)]
    val, train = encoded[: docs // 10], encoded[docs // 10:]
    files = sorted(os.listdir(os.path.join(root, "tokenizer")))
    contents = {}
    for name in files:
        with open(os.path.join(root, "tokenizer", name), "rb") as fh:
            contents[name] = fh.read()
    info = {"source": "given", "path": "tokenizer", "files": files, "sha256": tokenizer_hash(contents),
            "vocab_size": len(tokenizer), "eos_id": eos, "eos_token": tokenizer.eos_token}
    return write_shard_output(root, {"train": (train, train_shards), "val": (val, 1)}, info, {})


def write_hf_llama(path: str, seed: int = 0) -> str:
    """A random LlamaForCausalLM with the shards' tokenizer (4 heads, 2 kv heads, 2 layers)."""
    return tiny_causal_lm(path, seed=seed)


