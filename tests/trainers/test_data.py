"""trainers.data: verified shards, packing without loss across ranks x workers, exact resume."""

import json
import os

import numpy as np
import pytest
import torch

from fullchain.pipelines.document import Document
from fullchain.pipelines.shard.format import read_shard_ids
from fullchain.pipelines.shard.manifest import ManifestError
from .train_fixtures import write_shard_output
from fullchain.trainers.data import ShardLoader, ShardStream, epoch_order, validate_manifest_for_training

EOS = 0


def _docs(n, seed=0):
    """n documents whose token ids are unique across documents (EOS aside), lengths 1..40 + EOS."""
    rng = np.random.default_rng(seed)
    docs, next_id = [], 1
    for i in range(n):
        length = int(rng.integers(1, 41))
        docs.append((Document(id=f"doc.{i}", text=f"text {i}"), list(range(next_id, next_id + length)) + [EOS]))
        next_id += length
    return docs


def write_output(root, train_shards=8, val_shards=1, docs=120):
    """A shard output in `root` (train/ and val/ tars + manifest.json) built with pipelines.shard."""
    all_docs = _docs(docs)
    val_docs = all_docs[: docs // 10]
    train_docs = all_docs[docs // 10:]
    return write_shard_output(root, {"train": (train_docs, train_shards), "val": (val_docs, val_shards)},
                              {"source": "given", "eos_id": EOS, "vocab_size": 65535}, {"empty_after_tokenization": 0})


def _split_tokens(root, manifest, split):
    """Every token of the split, per document (shard files read directly)."""
    docs = []
    for entry in manifest["shards"]:
        if entry["split"] == split:
            docs += [list(map(int, ids)) for ids in read_shard_ids(os.path.join(root, entry["path"]))]
    return docs


def _take(loader, n):
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            break
    return out


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("shards"))
    return root, write_output(root)


def test_single_worker_stream_is_the_token_stream_in_epoch_order(output):
    root, manifest = output
    seq_len, batch = 7, 3
    stream = ShardStream(root, "train", seq_len, batch, epochs=1, seed=5)
    got = []
    for b in stream:
        assert b["input_ids"].shape == (batch, seq_len) and b["input_ids"].dtype == torch.long
        assert torch.equal(b["input_ids"][:, 1:], b["labels"][:, :-1])
        full = torch.cat([b["input_ids"], b["labels"][:, -1:]], dim=1)
        got += full.flatten().tolist()
    train = [e for e in sorted(manifest["shards"], key=lambda e: e["path"]) if e["split"] == "train"]
    expected = []
    for index in epoch_order(len(train), 5, 0):
        for ids in read_shard_ids(os.path.join(root, train[index]["path"])):
            expected += list(map(int, ids))
    assert len(expected) - batch * (seq_len + 1) < len(got) <= len(expected)
    assert got == expected[: len(got)]


@pytest.mark.parametrize("train_shards", [8, 3])  # 8 >= 4 global workers: by shard; 3 < 4: by sample
def test_two_ranks_two_workers_lose_and_duplicate_nothing(tmp_path, train_shards):
    root = str(tmp_path)
    manifest = write_output(root, train_shards=train_shards)
    seq_len = 5
    docs = _split_tokens(root, manifest, "train")
    total = sum(len(d) for d in docs)
    per_worker = {}
    for rank in range(2):
        stream = ShardStream(root, "train", seq_len, 1, rank=rank, world_size=2, num_workers=2, epochs=1)
        assert stream.mode == ("shard" if train_shards >= 4 else "sample")
        for b in ShardLoader(stream):
            full = torch.cat([b["input_ids"], b["labels"][:, -1:]], dim=1).flatten().tolist()
            per_worker.setdefault((rank, b["worker"]), []).extend(full)
    assert len(per_worker) == 4
    seen = [t for tokens in per_worker.values() for t in tokens if t != EOS]
    assert len(seen) == len(set(seen))  # no token twice
    # each worker's stream, cut at EOS, is whole documents and then the start of one
    whole = {tuple(d) for d in docs}
    for tokens in per_worker.values():
        pieces = " ".join(map(str, tokens)).split(f" {EOS}")
        for piece in pieces[:-1]:
            assert tuple(int(x) for x in piece.split()) + (EOS,) in whole
        tail = tuple(int(x) for x in pieces[-1].split())
        assert not tail or any(d[:len(tail)] == tail for d in whole)
    # what is missing is less than one unfinished sequence per global worker
    assert total - 4 * (seq_len + 1) < sum(len(t) for t in per_worker.values()) <= total


@pytest.mark.parametrize("num_workers, world_size, rank", [(0, 1, 0), (2, 2, 1)])
def test_resume_gives_the_same_next_batches(tmp_path, num_workers, world_size, rank):
    root = str(tmp_path)
    write_output(root, train_shards=4, docs=40)
    def stream():
        return ShardStream(root, "train", 9, 2, rank=rank, world_size=world_size, num_workers=num_workers,
                           seed=3)
    m = 40
    reference = _take(ShardLoader(stream()), 13 + m)  # 53 batches of 20 tokens cross an epoch boundary
    assert reference[-1]["position"][0] >= 1
    mid_document = False
    for k in (1, 6, 13):
        first = stream()
        taken = _take(ShardLoader(first), k)
        assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(taken, reference))
        state = json.loads(json.dumps(first.state_dict()))
        assert state["batches"] == k
        mid_document |= any(position[3] > 0 for position in state["positions"])
        resumed = stream()
        resumed.load_state_dict(state)  # as the training loop resumes: the stream's state, then a loader
        after = _take(ShardLoader(resumed), m)
        assert len(after) == m
        for a, b in zip(after, reference[k:]):
            assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
    assert mid_document  # some resume started inside a document, from carried-over tokens


def test_epochs_are_reshuffled_deterministically():
    assert epoch_order(8, 1, 0) == epoch_order(8, 1, 0)
    assert sorted(epoch_order(8, 1, 1)) == list(range(8))
    assert len({tuple(epoch_order(8, 1, e)) for e in range(5)}) > 1


def test_state_of_another_stream_is_refused(output):
    root, _ = output
    state = ShardStream(root, "train", 9, 2, seed=3).state_dict()
    with pytest.raises(ValueError, match="seed"):
        ShardStream(root, "train", 9, 2, seed=4).load_state_dict(state)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_corrupt_shard_raises_one_line_error_naming_it(tmp_path, num_workers):
    root = str(tmp_path)
    write_output(root)
    path = os.path.join(root, "train", "shard-000002.tar")
    data = bytearray(open(path, "rb").read())
    data[1000] ^= 0xFF
    open(path, "wb").write(bytes(data))
    stream = ShardStream(root, "train", 5, 1, num_workers=num_workers, epochs=1)
    with pytest.raises(ManifestError) as info:
        list(ShardLoader(stream))
    message = str(info.value)
    assert "\n" not in message and message.startswith(path) and "corrupt" in message


def test_unlisted_shard_raises_one_line_error_naming_it(output):
    root, manifest = output
    with pytest.raises(ManifestError, match=r"shard-000099\.tar: shard not listed in the manifest$"):
        ShardStream(root, "train", 5, 1, shards=["train/shard-000001.tar", "train/shard-000099.tar"])
    with pytest.raises(ManifestError, match="not listed"):  # listed, but in the other split
        ShardStream(root, "train", 5, 1, shards=["val/shard-000000.tar"])
    only = ShardStream(root, "train", 5, 1, shards=["train/shard-000001.tar"], epochs=1)
    tokens = next(s["tokens"] for s in manifest["shards"] if s["path"] == "train/shard-000001.tar")
    # every sequence of 5 + 1 tokens packed from that shard alone: all of its tokens but the last partial one
    assert tokens - 6 < 6 * len(list(only)) <= tokens


def test_validate_manifest_for_training(tmp_path):
    root = str(tmp_path)
    with pytest.raises(ManifestError, match="no manifest"):
        validate_manifest_for_training(root, "train", 2)
    manifest = write_output(root, val_shards=1)
    assert validate_manifest_for_training(os.path.join(root, "manifest.json"), "train", 2) == manifest
    with pytest.raises(ManifestError, match="fewer than one batch per rank"):
        validate_manifest_for_training(root, "val", 2, seq_len=10_000)
    with pytest.raises(ManifestError, match="fewer than world_size"):
        validate_manifest_for_training(root, "val", 1000)
    os.remove(os.path.join(root, "train", "shard-000003.tar"))
    os.remove(os.path.join(root, "train", "shard-000005.tar"))
    with pytest.raises(ManifestError, match=r"shard-000003\.tar and 1 more: listed in the manifest but missing"):
        validate_manifest_for_training(root, "train", 2)
    with pytest.raises(ManifestError, match="missing"):
        ShardStream(root, "train", 5, 1)
    empty = str(tmp_path / "empty")
    write_output(empty, val_shards=0)
    with pytest.raises(ManifestError, match="split 'val' has no data"):
        validate_manifest_for_training(empty, "val", 1)


def test_worker_without_samples_fails_instead_of_spinning(tmp_path):
    root = str(tmp_path)
    write_output(root, train_shards=1, docs=12)  # 11 train documents over 2 ranks x 8 workers
    stream = ShardStream(root, "train", 5, 1, rank=1, world_size=2, num_workers=8)
    with pytest.raises(ValueError, match="global worker 15 of 16 gets no samples"):
        next(iter(stream._batches_of(7)))
