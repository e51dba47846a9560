"""WriteShards on Beam's test pipeline: shards readable by WebDataset, a manifest that matches the
files, deterministic reruns, and an output that stays consistent across kills and reruns."""

import glob
import io
import json
import os

import apache_beam as beam
import numpy as np
import pytest
import webdataset as wds
from apache_beam.testing import test_pipeline

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus
from fullchain.pipelines.shard.assignment import split_of
import fullchain.pipelines.shard.beam as shard_beam
from fullchain.pipelines.shard.beam import WriteShards, check_tokenizer
from fullchain.pipelines.shard.config import ShardConfig, TokenizerTrainingConfig
from fullchain.pipelines.shard.manifest import load_manifest, verify_shard
from fullchain.pipelines.shard.output_files import read_tokenizer_files
from fullchain.pipelines.shard.tokenizer_files import load_tokenizer
from tests.tiny_models import tiny_tokenizer

UPSTREAM = [{"stage": "dedup", "input": 205, "kept": 201, "upstream": [{"stage": "clean"}]}]


def corpus():
    records, _ = generate_corpus(180, seed=2)
    docs = [Document(id=r["id"], text=r["text"], source="corpus.jsonl", lang="en", meta={"url": r["url"]})
            for r in records]
    # augmented copies of the first 20 documents, under ids that hash elsewhere
    docs += [Document(id=f"aug/{d.id}.v1", text=d.text.upper(), meta={"augmented_from": d.id}) for d in docs[:20]]
    docs += [Document(id="empty.1", text=""), Document(id="empty.2", text="")]
    return docs


def config(**kwargs):
    defaults = dict(train=TokenizerTrainingConfig(vocab_size=400, sample_docs=60), val_fraction=0.2,
                    target_shard_mb=0.1)
    return ShardConfig(**{**defaults, **kwargs})


def run_shards(docs, cfg, output):
    with test_pipeline.TestPipeline() as p:
        p | beam.Create(docs) | WriteShards(cfg, str(output), UPSTREAM)
    return load_manifest(str(output))


def files_of(output):
    found = {}
    for path in sorted(glob.glob(f"{output}/**/*", recursive=True) + glob.glob(f"{output}/**/.*", recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                found[os.path.relpath(path, output)] = fh.read()
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    output = tmp_path_factory.mktemp("trained") / "out"
    docs = corpus()
    return docs, output, run_shards(docs, config(), output)


def test_manifest_accounts_for_every_document_and_matches_files(trained):
    docs, output, manifest = trained
    assert manifest["input_documents"] == len(docs)
    assert manifest["written"] == len(docs) - 2
    assert manifest["skipped"] == {"empty_after_tokenization": 2}
    assert manifest["pipeline"] == UPSTREAM
    assert manifest["dtype"] == "uint16"
    assert manifest["config"]["target_shard_mb"] == 0.1
    assert manifest["tokenizer"]["source"] == "trained" and manifest["tokenizer"]["path"] == "tokenizer"
    assert manifest["splits"]["train"]["shards"] > 1 and manifest["splits"]["val"]["samples"] > 0
    listed = {entry["path"] for entry in manifest["shards"]}
    on_disk = {os.path.relpath(p, output) for p in glob.glob(f"{output}/*/*.tar")}
    assert listed == on_disk
    for entry in manifest["shards"]:
        verify_shard(str(output / entry["path"]), entry)


def test_shards_read_by_webdataset_decode_to_the_text(trained):
    docs, output, manifest = trained
    by_id = {d.id: d for d in docs}
    tokenizer = load_tokenizer(read_tokenizer_files(str(output / "tokenizer")))
    eos = tokenizer.eos_token_id
    seen = {}
    for entry in manifest["shards"]:
        dataset = wds.WebDataset(str(output / entry["path"]), shardshuffle=False)
        samples = list(dataset)
        assert len(samples) == entry["samples"]
        tokens = 0
        for sample in samples:
            header = json.loads(sample["json"])
            doc = by_id[header["id"]]
            ids = np.load(io.BytesIO(sample["ids.npy"]))
            tokens += len(ids)
            assert ids.dtype == np.uint16 and ids[-1] == eos
            assert sample["txt"].decode("utf-8") == doc.text
            assert tokenizer.decode(ids[:-1].tolist()) == doc.text
            assert header["meta"] == doc.meta and header["source"] == doc.source
            seen[doc.id] = entry["split"]
        assert tokens == entry["tokens"]
    assert set(seen) == {d.id for d in docs if d.text}
    for doc in docs:
        if doc.text:
            assert seen[doc.id] == split_of(doc, 0.2, 0)
        if "augmented_from" in doc.meta:
            assert seen[doc.id] == seen[doc.meta["augmented_from"]]


def test_rerun_is_byte_identical_and_cleans_leftovers(trained, tmp_path):
    docs, first_output, _ = trained
    output = tmp_path / "out"
    (output / "train").mkdir(parents=True)
    # what a killed run and an older, bigger run leave behind
    (output / "train" / ".shard-000000.tar.tmp-0123abcd").write_bytes(b"partial")
    (output / "train" / "shard-000999.tar").write_bytes(b"old shard")
    manifest = run_shards(docs, config(), output)
    assert files_of(output) == files_of(first_output)
    assert "train/shard-000999.tar" not in {e["path"] for e in manifest["shards"]}


def test_kill_after_shards_leaves_no_manifest(trained, tmp_path):
    """A run killed before its manifest is written leaves the previous manifest retired, so no
    manifest points at shards that were replaced."""
    docs, _, _ = trained
    output = tmp_path / "out"
    run_shards(docs, config(), output)
    changed = [Document(id=d.id, text=d.text + " more", meta=d.meta) for d in docs]

    def killed(*args, **kwargs):
        raise RuntimeError("killed before the manifest")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shard_beam, "build_manifest", killed)
        with pytest.raises(Exception, match="killed before the manifest"):
            run_shards(changed, config(), output)
    assert not os.path.exists(output / "manifest.json")
    # the shards of the killed run are complete files, just not listed anywhere
    assert all(not os.path.basename(p).startswith(".") for p in glob.glob(f"{output}/train/*"))


def test_given_tokenizer(tmp_path):
    tokenizer_dir = tmp_path / "tok"
    tiny_tokenizer().save_pretrained(str(tokenizer_dir))
    check_tokenizer(str(tokenizer_dir))
    docs = corpus()[:40]
    output = tmp_path / "out"
    run_shards(docs, config(), output)  # a trained tokenizer first: the rerun must drop it
    manifest = run_shards(docs, config(tokenizer=str(tokenizer_dir), val_fraction=0.0), output)
    assert manifest["tokenizer"]["source"] == "given"
    assert manifest["tokenizer"]["path"] == str(tokenizer_dir)
    assert manifest["tokenizer"]["eos_id"] == 2
    assert manifest["splits"]["val"]["samples"] == 0 and not glob.glob(f"{output}/tokenizer/*")
    tokenizer = load_tokenizer(read_tokenizer_files(str(tokenizer_dir)))
    sample = next(iter(wds.WebDataset(str(output / manifest["shards"][0]["path"]), shardshuffle=False)))
    ids = np.load(io.BytesIO(sample["ids.npy"]))
    assert ids[-1] == 2 and tokenizer.decode(ids[:-1].tolist()) == sample["txt"].decode("utf-8")


def test_check_tokenizer_gives_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no such tokenizer folder"):
        check_tokenizer(str(tmp_path / "missing"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "tokenizer.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a Hugging Face tokenizer") as err:
        check_tokenizer(str(tmp_path / "broken"))
    assert "\n" not in str(err.value)
    check_tokenizer("")


def test_train_refuses_a_truncated_shard_in_one_line(trained, tmp_path, capsys):
    import shutil

    from fullchain.cli import main

    _, output, manifest = trained
    copy = tmp_path / "shards"
    shutil.copytree(output, copy)
    shard = copy / manifest["shards"][0]["path"]
    shard.write_bytes(shard.read_bytes()[:-512])  # cut off the last tar block, as a killed copy leaves it
    run = tmp_path / "run"
    assert main(["train", "--data.manifest", str(copy), "--output", str(run), "--train.steps", "1",
                 "--data.seq-len", "16"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and manifest["shards"][0]["path"] in err, err
    assert not run.exists()
