"""Training data from `fullchain shard` output: verified shards, packed sequences, exact resume.

Pure PyTorch; the DeepSpeed trainer builds one `ShardStream` per data-parallel rank and iterates it
through a `ShardLoader` (a `torch.utils.data.DataLoader` with `batch_size=None`).

Trust. Shards come only from `manifest.json` (docs/CONTRACTS.md section 3). Every time a shard is
opened, `verify_shard` checks its size and sha256 first; an unlisted, missing, partial or corrupt
shard raises `ManifestError` with one line naming the file (also when raised in a DataLoader worker:
`ShardLoader` re-raises the original one-line message).

Sharding. Let W = max(1, num_workers) DataLoader workers per rank and G = world_size * W global
workers; global worker g = rank * W + w. Each epoch the split's shards (manifest order, sorted by
path) are permuted with `numpy.random.default_rng([seed, epoch])`. Then:

- "shard" mode (shards >= G): the shard at position i of the epoch order goes to global worker
  i mod G;
- "sample" mode (shards < G): every worker reads every shard in the epoch order and keeps the
  samples whose index in the epoch (counted across shards, using the manifest's sample counts)
  is congruent to g mod G.

Either way each sample of an epoch goes to exactly one global worker (no overlap, no loss). A
worker that would get no sample in a whole epoch raises ValueError rather than spin. In "sample"
mode every worker reads (and verifies) every shard, so prefer shards >= world_size * workers.

Packing. A worker concatenates the `.ids.npy` token ids of its samples in order (each already ends
with EOS) and cuts non-overlapping sequences of seq_len + 1 tokens: inputs are the first seq_len,
labels the last seq_len. No padding; what is left after a cut carries over to the next sequence,
also across shard and epoch boundaries. A batch is `batch_size` consecutive sequences of one
worker. With `epochs=None` (the default, for training) the stream never ends; with a number of
epochs it ends after them and drops a last incomplete batch (and at most one batch worth of
tokens per worker).

Resume. The position of a worker is (epoch, shard position in the epoch order, sample index in
that shard, token offset in that sample) of its first token not yet in a delivered batch; the
carried-over tokens are re-read from the shard on resume rather than stored. Every batch carries
the position after it, and the stream records it when the batch is delivered (in the main
process), so `state_dict()` counts only batches the trainer got, not those prefetched by workers.
DataLoader takes batches from workers round-robin; after k delivered batches the next comes from
worker k mod W, so on resume physical worker p plays the role of worker (p + k) mod W. Resume is
exact for any `num_workers` with `epochs=None`, and for num_workers <= 1 with finite epochs (with
several workers and finite epochs, workers run out at different times and the round-robin order
after that is not reproduced).
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from fullchain.pipelines.shard.format import manifest_path, read_shard_ids, shard_path, shard_root
from fullchain.pipelines.shard.manifest import ManifestError, load_manifest, verify_shard

STATE_VERSION = 1


def validate_manifest_for_training(path: str, split: str, world_size: int = 1, seq_len: int | None = None,
                                   batch_size: int = 1) -> dict[str, Any]:
    """Load the manifest at `path` (file or folder) and check `split` can feed `world_size` ranks.

    Raises ManifestError (one line) when the manifest is missing or invalid, when a shard of the
    split is missing or has the wrong size, when the split has no shards or no tokens, or has fewer
    samples than ranks; with `seq_len`, also when the split has fewer tokens than one batch of
    seq_len + 1 token sequences per rank. sha256 is checked by `verify_split_checksums` (preflight)
    and again when a shard is read.
    Returns the manifest.
    """
    if world_size < 1:
        raise ValueError(f"world_size {world_size} must be >= 1")
    manifest = load_manifest(path)
    where = manifest_path(path)
    shards = [s for s in manifest["shards"] if s["split"] == split]
    totals = manifest["splits"].get(split)
    if not shards or not totals or totals["tokens"] == 0:
        raise ManifestError(f"{where}: split {split!r} has no data "
                            f"(no shards or no tokens)")
    missing = []
    for shard in shards:
        file = shard_path(path, shard)
        try:
            size = os.path.getsize(file)
        except OSError:
            missing.append(file)
            continue
        if size != shard["bytes"]:
            raise ManifestError(f"{file}: {size} bytes, manifest says {shard['bytes']} (partial or replaced shard)")
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ManifestError(f"{missing[0]}{more}: listed in the manifest but missing ({split} split)")
    samples = sum(s["samples"] for s in shards)
    if samples < world_size:
        raise ManifestError(f"{where}: split {split!r} has {samples} samples, "
                            f"fewer than world_size {world_size}")
    if seq_len is not None:
        need = world_size * batch_size * (seq_len + 1)
        tokens = sum(s["tokens"] for s in shards)
        if tokens < need:
            raise ManifestError(f"{where}: split {split!r} has {tokens} tokens, "
                                f"fewer than one batch per rank ({need})")
    return manifest


def verify_split_checksums(path: str, manifest: dict[str, Any], split: str) -> None:
    """Check the size and sha256 of every shard of `split` against `manifest` (loaded from `path`,
    a file or folder); ManifestError (one line) naming the first shard that differs."""
    for shard in manifest["shards"]:
        if shard["split"] == split:
            verify_shard(shard_path(path, shard), shard)


def epoch_order(num_shards: int, seed: int, epoch: int) -> list[int]:
    """The shard order of `epoch`: a permutation of range(num_shards) seeded by (seed, epoch)."""
    return [int(i) for i in np.random.default_rng([seed, epoch]).permutation(num_shards)]


class ShardStream(IterableDataset):
    """Packed training batches of one split for one data-parallel rank.

    Yields dicts: `input_ids` and `labels` (LongTensor [batch_size, seq_len]; labels are inputs
    shifted by one), `worker` (the logical worker that made the batch) and `position` (that
    worker's position after the batch; for `state_dict`). Iterate it through `ShardLoader`, or
    directly when num_workers is 0.

    `shards` (paths relative to the output folder or absolute) restricts the stream to those files;
    each must be listed in the manifest under `split`, else ManifestError.
    """

    def __init__(self, manifest_path: str, split: str, seq_len: int, batch_size: int, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, seed: int = 0, epochs: int | None = None,
                 shards: list[str] | None = None):
        super().__init__()
        if seq_len < 1 or batch_size < 1:
            raise ValueError(f"seq_len {seq_len} and batch_size {batch_size} must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, world_size {world_size})")
        if num_workers < 0 or (epochs is not None and epochs < 1):
            raise ValueError(f"num_workers {num_workers} must be >= 0 and epochs {epochs} None or >= 1")
        manifest = validate_manifest_for_training(manifest_path, split, world_size)
        self.root = shard_root(manifest_path)
        listed = {os.path.normpath(shard_path(self.root, s)): s
                  for s in manifest["shards"] if s["split"] == split}
        if shards is None:
            entries = [listed[k] for k in sorted(listed)]
        else:
            entries = []
            for given in shards:
                file = os.path.normpath(os.path.join(self.root, given))
                if file not in listed:
                    verify_shard(file, None)  # raises: "<file>: shard not listed in the manifest"
                entries.append(listed[file])
            if not entries:
                raise ManifestError(f"{self.root}: no shards given for split {split!r}")
        self.entries = entries
        self.split, self.seq_len, self.batch_size = split, seq_len, batch_size
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        self.seed, self.epochs = seed, epochs
        self.workers = max(1, num_workers)
        self.global_workers = world_size * self.workers
        self.mode = "shard" if len(entries) >= self.global_workers else "sample"
        self._batches = 0
        self._positions = [[0, 0, 0, 0] for _ in range(self.workers)]

    # -- resume state -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The position after the last delivered batch: JSON-serializable plain ints."""
        return {"version": STATE_VERSION, "split": self.split, "rank": self.rank, "world_size": self.world_size,
                "workers": self.workers, "seed": self.seed, "seq_len": self.seq_len,
                "batch_size": self.batch_size, "shards": [e["sha256"] for e in self.entries],
                "batches": self._batches, "positions": [list(p) for p in self._positions]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state` (from `state_dict` of a stream built with the same arguments)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"data state version {state.get('version')!r}, expected {STATE_VERSION}")
        mine = self.state_dict()
        for key in ("split", "rank", "world_size", "workers", "seed", "seq_len", "batch_size", "shards"):
            if state[key] != mine[key]:
                what = "shard list (sha256)" if key == "shards" else f"{key} {state[key]!r} != {mine[key]!r}"
                raise ValueError(f"data state does not match this stream: {what}")
        self._batches = int(state["batches"])
        self._positions = [[int(x) for x in p] for p in state["positions"]]

    def observe(self, batch: dict[str, Any]) -> None:
        """Record that `batch` was delivered to the trainer (ShardLoader calls this)."""
        worker = int(batch["worker"])
        if self.epochs is None and worker != self._batches % self.workers:
            raise RuntimeError(f"batch from worker {worker}, expected {self._batches % self.workers} "
                               f"(DataLoader order changed; resume would not be exact)")
        self._positions[worker] = [int(x) for x in batch["position"]]
        self._batches += 1

    # -- iteration ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        if info is None:
            if self.workers != 1:
                raise RuntimeError(f"stream built for num_workers {self.num_workers}; iterate it through "
                                   f"ShardLoader (or a DataLoader) with that many workers")
            for batch in self._batches_of(0):
                self.observe(batch)
                yield batch
            return
        if info.num_workers != self.workers:
            raise RuntimeError(f"DataLoader has {info.num_workers} workers, stream built for {self.workers}")
        yield from self._batches_of((info.id + self._batches) % self.workers)

    def _documents(self, worker: int, start: list[int]) -> Iterator[tuple[tuple[int, int, int], np.ndarray]]:
        """(position, ids) of the samples of logical `worker` from position `start` on."""
        g = self.rank * self.workers + worker
        G = self.global_workers
        epoch, shard_pos, sample_pos = start[0], start[1], start[2]
        while self.epochs is None or epoch < self.epochs:
            order = epoch_order(len(self.entries), self.seed, epoch)
            first, found, whole_epoch = 0, False, shard_pos == sample_pos == 0
            for pos, index in enumerate(order):
                entry = self.entries[index]
                begin, first = first, first + entry["samples"]
                if pos < shard_pos:
                    continue
                if self.mode == "shard" and pos % G != g:
                    continue
                if self.mode == "sample" and not any((begin + i) % G == g for i in range(min(G, entry["samples"]))):
                    continue
                file = shard_path(self.root, entry)
                verify_shard(file, entry)
                for i, ids in enumerate(read_shard_ids(file)):
                    if pos == shard_pos and i < sample_pos:
                        continue
                    if self.mode == "sample" and (begin + i) % G != g:
                        continue
                    found = True
                    yield (epoch, pos, i), ids
            if whole_epoch and not found:
                raise ValueError(f"{self.split} split: global worker {g} of {G} gets no samples "
                                 f"({sum(e['samples'] for e in self.entries)} in all); use fewer ranks or workers")
            epoch, shard_pos, sample_pos = epoch + 1, 0, 0

    def _batches_of(self, worker: int) -> Iterator[dict[str, Any]]:
        start = self._positions[worker]
        need = self.batch_size * (self.seq_len + 1)
        pending: deque = deque()  # [position, ids, offset of the first unused token]
        available = 0
        last = None
        for position, ids in self._documents(worker, start):
            offset = start[3] if position == tuple(start[:3]) else 0
            last = [position, ids, len(ids)]
            if offset < len(ids):
                pending.append([position, ids, offset])
                available += len(ids) - offset
            while available >= need:
                chunk = np.empty(need, dtype=np.int64)
                filled = 0
                while filled < need:
                    item = pending[0]
                    take = min(need - filled, len(item[1]) - item[2])
                    chunk[filled:filled + take] = item[1][item[2]:item[2] + take]
                    filled += take
                    item[2] += take
                    if item[2] == len(item[1]):
                        pending.popleft()
                available -= need
                head = pending[0] if pending else last
                data = torch.from_numpy(chunk).view(self.batch_size, self.seq_len + 1)
                yield {"input_ids": data[:, :-1].clone(), "labels": data[:, 1:].clone(), "worker": worker,
                       "position": [head[0][0], head[0][1], head[0][2], head[2]]}


class ShardLoader:
    """Iterates a ShardStream through a DataLoader with its num_workers, recording each delivered
    batch in the stream, so the stream's `state_dict()` / `load_state_dict()` resume exactly. Worker
    errors (such as a corrupt shard) are re-raised as the original one-line ManifestError."""

    def __init__(self, stream: ShardStream):
        self.stream = stream

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.stream.num_workers == 0:
            yield from self.stream  # observes its own batches
            return
        loader = DataLoader(self.stream, batch_size=None, num_workers=self.stream.num_workers)
        iterator = iter(loader)
        try:
            while True:
                try:
                    batch = next(iterator)
                except StopIteration:
                    return
                except ManifestError as e:
                    message = _original_message(str(e))
                    e.__traceback__ = None  # breaks the exception <-> frame cycle that keeps the workers alive
                    break
                self.stream.observe(batch)
                yield batch
        finally:
            del iterator  # shuts the workers down now, not when a traceback lets go of this frame
        raise ManifestError(message)


def _original_message(text: str) -> str:
    """The original one-line message inside a DataLoader worker's re-raised exception text."""
    for line in reversed(text.strip().splitlines()):
        if "ManifestError: " in line:
            return line.split("ManifestError: ", 1)[1]
    return text.strip().splitlines()[-1] if text.strip() else text
