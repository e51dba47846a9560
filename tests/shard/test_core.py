"""The shard stage's pure core: config, assignment, samples, tar bytes, manifest, atomic files."""

import io
import json
import os

import numpy as np
import pytest
import webdataset as wds

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.document import Document
from fullchain.pipelines.shard.assignment import TRAIN, VAL, sample_key, shard_count, shard_of, split_of
from fullchain.pipelines.shard.config import ShardConfig, TokenizerTrainingConfig
from fullchain.pipelines.shard.manifest import (
    ManifestError, build_manifest, load_manifest, manifest_bytes, shard_entry, verify_shard,
)
from fullchain.pipelines.shard.output_files import check_output, remove_unlisted, write_atomically
from fullchain.pipelines.shard.samples import DocumentEncoder, encode_sample, token_dtype
from fullchain.pipelines.shard.tar_writing import shard_bytes
from fullchain.pipelines.shard.tokenizer_files import load_tokenizer, tokenizer_hash, train_tokenizer

TEXTS = [
    "The river runs through the old town.", "这条河流穿过老城。", "Letters and diaries about the flood.",
] * 10


@pytest.mark.parametrize("kwargs, field", [
    (dict(val_fraction=1.5), "val_fraction"), (dict(target_shard_mb=0), "target_shard_mb"),
    (dict(split_seed=-1), "split_seed"),
])
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        ShardConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [
    (dict(vocab_size=100), "vocab_size"), (dict(sample_docs=0), "sample_docs"),
    (dict(pad_token="<|endoftext|>"), "pad_token"), (dict(eos_token=""), "eos_token"),
])
def test_training_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}"):
        TokenizerTrainingConfig(**kwargs)


def test_split_is_deterministic_and_near_fraction():
    docs = [Document(id=f"d{i}", text="x") for i in range(20000)]
    splits = [split_of(d, 0.1, seed=3) for d in docs]
    assert splits == [split_of(d, 0.1, seed=3) for d in docs]
    assert 0.09 < splits.count(VAL) / len(splits) < 0.11
    assert splits != [split_of(d, 0.1, seed=4) for d in docs]
    assert {split_of(d, 0.0, 0) for d in docs[:100]} == {TRAIN}
    assert {split_of(d, 1.0, 0) for d in docs[:100]} == {VAL}


def test_augmented_document_follows_its_source():
    for i in range(500):
        source = Document(id=f"src{i}", text="x")
        copy = Document(id=f"src{i}-aug", text="y", meta={"augmented_from": source.id})
        assert split_of(copy, 0.3, 0) == split_of(source, 0.3, 0)


def test_sample_keys_have_no_dots_and_stay_distinct():
    ids = ["a.b/c", "a_b_c", "a.b.c", "x" * 300, "x" * 299 + "y", "中文.1"]
    keys = [sample_key(i) for i in ids]
    assert len(set(keys)) == len(keys)
    assert all("." not in k and "/" not in k and len(k) <= 91 for k in keys)


def test_shard_count_and_index():
    assert shard_count(0, 100) == 1
    assert shard_count(250, 100) == 3
    assert {shard_of(f"k{i}", 3, 0) for i in range(100)} == {0, 1, 2}


def test_token_dtype():
    assert token_dtype(65535) == "uint16"
    assert token_dtype(65536) == "int32"


@pytest.fixture(scope="module")
def tokenizer_files():
    return train_tokenizer(TEXTS, TokenizerTrainingConfig(vocab_size=300, sample_docs=10))


def test_trained_tokenizer_round_trips_and_is_deterministic(tokenizer_files):
    again = train_tokenizer(TEXTS, TokenizerTrainingConfig(vocab_size=300, sample_docs=10))
    assert tokenizer_hash(again) == tokenizer_hash(tokenizer_files)
    tokenizer = load_tokenizer(tokenizer_files)
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == 0
    text = "Unseen wörds and 新的字 🙂"
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_encoder_appends_eos_and_skips_empty(tokenizer_files):
    encoder = DocumentEncoder(load_tokenizer(tokenizer_files), append_eos=True)
    sample = encoder.encode(Document(id="a.1", text="The river.", lang="en", source="s", meta={"k": 1}))
    members = dict(sample.members)
    ids = np.load(io.BytesIO(members["ids.npy"]))
    assert ids.dtype == np.uint16 and ids[-1] == 0 and len(ids) == sample.tokens
    assert json.loads(members["json"]) == {"id": "a.1", "lang": "en", "source": "s", "meta": {"k": 1}}
    assert members["txt"] == b"The river."
    assert encoder.encode(Document(id="e", text="")) is None


def test_tar_is_deterministic_and_readable_by_webdataset(tmp_path):
    samples = [encode_sample(Document(id=f"d.{i}", text=f"text {i}"), [1, 2, i], "uint16") for i in range(5)]
    data = shard_bytes(samples)
    assert data == shard_bytes(list(reversed(samples)))
    assert len(data) <= sum(s.size for s in samples) + 10240
    path = tmp_path / "shard-000000.tar"
    path.write_bytes(data)
    read = list(wds.WebDataset(str(path), shardshuffle=False).decode())
    assert [r["__key__"] for r in read] == sorted(s.key for s in samples)
    assert read[0]["txt"] == "text 0" and list(read[0]["ids.npy"]) == [1, 2, 0]
    assert read[0]["json"]["id"] == "d.0"


def _manifest(tmp_path, data):
    (tmp_path / "train").mkdir(exist_ok=True)
    (tmp_path / "train" / "shard-000000.tar").write_bytes(data)
    entry = shard_entry("train", "train/shard-000000.tar", 3, 30, data)
    manifest = build_manifest([entry], 4, {"empty_after_tokenization": 1}, {"path": "tok"}, "uint16", {}, [])
    (tmp_path / "manifest.json").write_bytes(manifest_bytes(manifest))
    return manifest


def test_manifest_round_trip_and_shard_verification(tmp_path):
    data = b"x" * 1024
    manifest = _manifest(tmp_path, data)
    assert load_manifest(str(tmp_path)) == manifest
    assert manifest["splits"]["train"] == {"shards": 1, "samples": 3, "tokens": 30, "bytes": 1024}
    entry = manifest["shards"][0]
    verify_shard(str(tmp_path / entry["path"]), entry)
    with pytest.raises(ManifestError, match="not listed"):
        verify_shard(str(tmp_path / entry["path"]), None)
    (tmp_path / entry["path"]).write_bytes(data[:512])
    with pytest.raises(ManifestError, match="partial"):
        verify_shard(str(tmp_path / entry["path"]), entry)
    (tmp_path / entry["path"]).write_bytes(b"y" * 1024)
    with pytest.raises(ManifestError, match="corrupt"):
        verify_shard(str(tmp_path / entry["path"]), entry)
    os.remove(tmp_path / entry["path"])
    with pytest.raises(ManifestError, match="missing"):
        verify_shard(str(tmp_path / entry["path"]), entry)


def test_manifest_that_does_not_add_up_is_refused(tmp_path):
    entry = shard_entry("train", "train/shard-000000.tar", 3, 30, b"x")
    with pytest.raises(ManifestError, match="do not add up"):
        build_manifest([entry], 5, {}, {}, "uint16", {}, [])
    manifest = _manifest(tmp_path, b"x")
    manifest["written"] = 7
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="written 7"):
        load_manifest(str(tmp_path / "manifest.json"))
    with pytest.raises(ManifestError, match="no manifest"):
        load_manifest(str(tmp_path / "nowhere"))


def test_atomic_write_and_removal_of_unlisted(tmp_path):
    out = str(tmp_path)
    write_atomically(f"{out}/train/shard-000000.tar", b"new")
    (tmp_path / "train" / ".shard-000001.tar.tmp-dead").write_bytes(b"partial")
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "shard-000003.tar").write_bytes(b"old")
    assert sorted(os.listdir(tmp_path / "train")) == [".shard-000001.tar.tmp-dead", "shard-000000.tar"]
    removed = remove_unlisted(out, {"train/shard-000000.tar"})
    assert [os.path.basename(p) for p in removed] == [".shard-000001.tar.tmp-dead", "shard-000003.tar"]
    assert os.listdir(tmp_path / "train") == ["shard-000000.tar"] and os.listdir(tmp_path / "val") == []


def test_check_output_refuses_foreign_folders(tmp_path):
    check_output(str(tmp_path / "new"))
    check_output(str(tmp_path))
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "shard-000000.tar").write_bytes(b"")
    (tmp_path / "train" / ".shard-000001.tar.tmp-0a1b").write_bytes(b"")
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "tokenizer.json").write_text("{}")
    check_output(str(tmp_path))
    (tmp_path / "train" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="train/notes.txt"):
        check_output(str(tmp_path))
    os.remove(tmp_path / "train" / "notes.txt")
    (tmp_path / "data.parquet").write_text("mine")
    with pytest.raises(ConfigError, match="data.parquet"):
        check_output(str(tmp_path))
