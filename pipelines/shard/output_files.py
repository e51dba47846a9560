"""Writing a shard output through Beam's FileSystems (so gs:// works) without a reader ever seeing
a half-written file.

Order of a run: retire the previous manifest; write each shard (and the tokenizer) under a
temporary name in its folder and rename it into place; write manifest.json the same way, last;
then delete files in train/, val/ and tokenizer/ that the new manifest does not list (old shards,
temporaries left by a killed run). A kill at any point leaves either no manifest or a manifest whose shards
are all complete.
"""

from __future__ import annotations

import re

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from fullchain.pipelines.atomic_write import temporary_name, write_atomically
from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.shard.assignment import SPLITS
from fullchain.pipelines.shard.format import MANIFEST_FILE, TOKENIZER_FOLDER
from fullchain.pipelines.shard.tokenizer_files import TokenizerFiles

OWN_FOLDERS = (*SPLITS, TOKENIZER_FOLDER)
_OWN_SPLIT_FILE = re.compile(r"^\.?shard-\d{6}\.tar(\.tmp-[0-9a-f]+)?$")
# what a run killed while writing its manifest leaves
_MANIFEST_TEMPORARY = temporary_name(MANIFEST_FILE)


def check_output(output: str) -> None:
    """Raise ConfigError unless `output` is missing, empty or a shard output (of a finished or a
    killed run): a run deletes files there that its manifest does not list, so a folder holding
    anything else is refused."""
    if not output:
        raise ConfigError("no output given: set --output or 'output' in the config file")
    root = output.rstrip("/")
    patterns = [FileSystems.join(root, "*"), FileSystems.join(root, "*", "*")]
    for result in FileSystems.match(patterns):
        for meta in result.metadata_list:
            relative = meta.path.rstrip("/")[len(root) + 1:]
            top, _, rest = relative.partition("/")
            ours = (relative == MANIFEST_FILE or _MANIFEST_TEMPORARY.match(relative)
                    or (top in OWN_FOLDERS and not rest) or top == TOKENIZER_FOLDER
                    or (top in SPLITS and _OWN_SPLIT_FILE.match(rest)))
            if not ours:
                raise ConfigError(f"output '{output}' holds '{relative}', which is not part of a shard "
                                  "output; choose an empty or new folder")


def retire_manifest(output: str) -> None:
    """Delete the manifest of a previous run, before any of its files is replaced."""
    path = FileSystems.join(output, MANIFEST_FILE)
    if FileSystems.exists(path):
        FileSystems.delete([path])


def remove_unlisted(output: str, listed: set[str]) -> list[str]:
    """Delete files in OUT/train, OUT/val and OUT/tokenizer whose relative path is not in `listed`
    (a previous run's shards, a killed run's temporaries, a trained tokenizer no longer used);
    returns their paths."""
    stale = []
    for folder in OWN_FOLDERS:
        matched = FileSystems.match([FileSystems.join(output, folder, "*")])[0].metadata_list
        for meta in matched:
            relative = f"{folder}/{meta.path.rstrip('/').rsplit('/', 1)[-1]}"
            if relative not in listed:
                stale.append(meta.path)
    if stale:
        FileSystems.delete(stale)
    return sorted(stale)


def read_tokenizer_files(path: str) -> TokenizerFiles:
    """The files directly inside tokenizer folder `path` (local or any Beam filesystem)."""
    matched = FileSystems.match([FileSystems.join(path.rstrip("/"), "*")])[0].metadata_list
    files = {}
    for meta in matched:
        name = meta.path.rstrip("/").rsplit("/", 1)[-1]
        with FileSystems.open(meta.path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            files[name] = fh.read()
    return files


def write_tokenizer_files(files: TokenizerFiles, output: str) -> str:
    """Write `files` into OUT/tokenizer/, each atomically; returns the folder."""
    folder = FileSystems.join(output, TOKENIZER_FOLDER)
    for name, data in sorted(files.items()):
        write_atomically(FileSystems.join(folder, name), data)
    return folder
