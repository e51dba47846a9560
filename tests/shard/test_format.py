"""The shard output's layout (pipelines.shard.format): what the writer writes is what readers find."""

import os

from fullchain.pipelines.document import Document
from fullchain.pipelines.shard.format import (
    MANIFEST_FILE, manifest_path, read_shard_ids, shard_path, shard_root, tokenizer_dir,
)
from fullchain.pipelines.shard.samples import encode_sample
from fullchain.pipelines.shard.tar_writing import shard_bytes


def test_the_reader_gets_the_token_ids_the_writer_encoded_in_key_order(tmp_path):
    numbers = (3, 1, 2)
    samples = [encode_sample(Document(id=f"doc.{n}", text=f"text {n}"), [7, n, 0], "uint16") for n in numbers]
    path = tmp_path / "shard-000000.tar"
    path.write_bytes(shard_bytes(samples))
    read = [list(map(int, array)) for array in read_shard_ids(str(path))]
    in_key_order = [n for _, n in sorted((s.key, n) for s, n in zip(samples, numbers))]
    assert read == [[7, n, 0] for n in in_key_order]


def test_paths_are_the_same_from_the_folder_and_from_its_manifest(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / MANIFEST_FILE).write_text("{}")
    manifest = {"tokenizer": {"path": "tokenizer"}}
    for given in (str(folder), str(folder / MANIFEST_FILE)):
        assert os.path.abspath(shard_root(given)) == str(folder)
        assert os.path.abspath(manifest_path(given)) == str(folder / "manifest.json")
        assert tokenizer_dir(given, manifest) == os.path.join(shard_root(given), "tokenizer")
        assert shard_path(given, {"path": "val/shard-000000.tar"}) == os.path.join(
            shard_root(given), "val", "shard-000000.tar")
    given_tokenizer = str(tmp_path / "my-tokenizer")
    assert tokenizer_dir(str(folder), {"tokenizer": {"path": given_tokenizer}}) == given_tokenizer
