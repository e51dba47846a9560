"""The token windows the validation report scores: the val split of a shard output, or a small
built-in English sample when none is given."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from fullchain.exporters.hf_folder import ExportError
from fullchain.pipelines.shard.format import read_shard_ids, shard_path, shard_root
from fullchain.pipelines.shard.manifest import ManifestError, load_manifest, verify_shard

# Plain expository English, written for this purpose; enough for a few 128-token windows with
# any tokenizer of a few thousand tokens or more.
BUILTIN_TEXT = """\
The old harbour town grew up where the river meets the sea. For centuries its people lived from
fishing and from the trade that passed through the port: timber and grain went out, while cloth,
salt and news came in. The market square, with its stone fountain and narrow houses, still shows
how busy the place once was.

When the railway arrived in the nineteenth century, the town changed quickly. Goods that had taken
a week to reach the capital by road now arrived in a single day. New warehouses were built along
the quay, and workers moved in from the surrounding villages. Schools, a hospital and a public
library followed, paid for partly by the merchants who had grown rich from the new trade.

Today most of the warehouses have become flats, shops and small offices. The fishing fleet is much
smaller than it was, but the morning fish market still opens before sunrise, and visitors come to
watch the boats unload their catch. In summer the beaches fill with families, and the cafes along
the harbour wall stay open late into the evening.

Local historians have collected letters, photographs and diaries that describe daily life in the
town over the last two hundred years. They show a community that adapted again and again to new
circumstances: storms that destroyed the harbour, years of poor catches, wars that took the young
men away, and the slow arrival of electricity, cars and, later, the internet. Each change brought
losses as well as opportunities, and the town's character today is the result of all of them.

Scientists study the river mouth as well. The mixing of fresh water and salt water creates a rich
environment for birds and fish, and careful measurements over many years help to explain how the
coast is changing. Their work shows that the sandbanks move a little every winter, and that the
amount of sediment carried by the river depends on the rain that falls far inland, in the hills
where the river begins.
"""


@dataclass(frozen=True)
class ValidationText:
    """Token windows of equal length and where they came from (for the report)."""

    windows: list[list[int]]
    source: str


def load_windows(manifest: str, tokenizer: Any, vocab_size: int, seq_len: int, count: int) -> ValidationText:
    """Up to `count` windows of `seq_len` tokens: from the val split of the shard output `manifest`
    (its `.ids.npy` token ids, shards verified against the manifest), else from BUILTIN_TEXT encoded
    with `tokenizer` (cycled when short). Raises ExportError when the manifest has no usable val
    text or its token ids do not fit the model's vocabulary (a different tokenizer)."""
    if manifest:
        tokens, source = _manifest_tokens(manifest, count * seq_len)
        if max(tokens) >= vocab_size:
            raise ExportError(f"{manifest}: val token id {max(tokens)} is outside the model's vocabulary "
                              f"({vocab_size}); the shards were made with another tokenizer")
    else:
        ids = tokenizer(BUILTIN_TEXT, add_special_tokens=False)["input_ids"]
        reps = -(-count * seq_len // len(ids))
        tokens, source = (ids * reps)[: count * seq_len], f"built-in English sample ({len(ids)} tokens)"
    if len(tokens) < seq_len:
        raise ExportError(f"{manifest}: the val split has {len(tokens)} tokens, fewer than one window of {seq_len}")
    windows = [tokens[i:i + seq_len] for i in range(0, len(tokens) - seq_len + 1, seq_len)][:count]
    return ValidationText(windows=windows, source=source)


def _manifest_tokens(manifest: str, wanted: int) -> tuple[list[int], str]:
    try:
        loaded = load_manifest(manifest)
    except ManifestError as e:
        raise ExportError(str(e)) from None
    shards = [s for s in loaded["shards"] if s["split"] == "val"]
    if not shards:
        raise ExportError(f"{manifest}: the manifest lists no val shards")
    tokens: list[int] = []
    used = 0
    for entry in shards:
        path = shard_path(manifest, entry)
        try:
            verify_shard(path, entry)
        except ManifestError as e:
            raise ExportError(str(e)) from None
        used += 1
        for ids in read_shard_ids(path):
            tokens += [int(t) for t in ids]
            if len(tokens) >= wanted:
                break
        if len(tokens) >= wanted:
            break
    root = os.path.abspath(shard_root(manifest))
    return tokens, f"val split of {root} ({used} of {len(shards)} shards, {len(tokens)} tokens)"
