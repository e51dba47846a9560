"""The layout of a shard output, spelled once for its writer (this package) and its readers (the
trainer, the export's validation text):

    OUT/manifest.json               written last; lists every shard with its size and sha256
    OUT/train/shard-NNNNNN.tar      WebDataset samples, per document KEY.ids.npy, KEY.json, KEY.txt
    OUT/val/shard-NNNNNN.tar
    OUT/tokenizer/                  the trained tokenizer (the manifest's tokenizer.path says where)

A reader is given the output folder or its manifest.json; the paths below are computed from either.
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import Any, Iterator

import numpy as np

MANIFEST_FILE = "manifest.json"
TOKENIZER_FOLDER = "tokenizer"
# the members of a sample, KEY.<member>: token ids (a .npy array), the document's header, its text
IDS_MEMBER = "ids.npy"
HEADER_MEMBER = "json"
TEXT_MEMBER = "txt"


def shard_root(path: str) -> str:
    """The shard output folder of `path`, which is that folder or its manifest file."""
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))


def manifest_path(path: str) -> str:
    """The manifest file of `path`, which is the shard output folder or the manifest file itself."""
    return os.path.join(path, MANIFEST_FILE) if os.path.isdir(path) else path


def shard_path(path: str, entry: dict[str, Any]) -> str:
    """The file of the manifest's shard `entry` (its path is relative to the output folder)."""
    return os.path.join(shard_root(path), entry["path"])


def tokenizer_dir(path: str, manifest: dict[str, Any]) -> str:
    """The tokenizer folder of the shards: manifest["tokenizer"]["path"], relative to the output folder
    (a tokenizer given to `fullchain shard` is named by its own path)."""
    return os.path.join(shard_root(path), manifest["tokenizer"]["path"])


def read_shard_ids(path: str) -> Iterator[np.ndarray]:
    """The token-id arrays (KEY.ids.npy members) of a shard's samples, in tar order (sorted by key)."""
    suffix = "." + IDS_MEMBER
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(suffix) and "/" not in member.name:
                data = tar.extractfile(member).read()
                yield np.load(io.BytesIO(data), allow_pickle=False)
