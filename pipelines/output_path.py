"""Checks of a stage's `--output` path against its inputs, before anything is written or deleted.

A stage first removes its previous output (pipelines.beam_io.prepare_output), so an output that
is, contains or lies inside an input would delete that input before it is read. Paths are
compared after resolving symlinks (local paths) or normalising the URL (gs://, s3://, ...).
"""

from __future__ import annotations

import os
import posixpath
from typing import Sequence

from apache_beam.io.filesystems import FileSystems

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.input_files import input_parts, is_glob


def normalised(path: str) -> str:
    """`path` as compared for overlap: the real path of a local path (symlinks resolved, made
    absolute), else the URL with its scheme lowercased and `//`, `.` and `..` segments collapsed."""
    if "://" not in path:
        return os.path.realpath(path)
    scheme, rest = path.split("://", 1)
    return f"{scheme.lower()}://{posixpath.normpath('/' + rest).lstrip('/')}"


def overlap(output: str, root: str) -> str | None:
    """How normalised `output` relates to normalised input `root`: 'is', 'contains', 'lies inside',
    or None when neither holds the other."""
    if output == root:
        return "is"
    if _inside(root, output):
        return "contains"
    if _inside(output, root):
        return "lies inside"
    return None


def check_output_path(output: str, input_spec: str) -> None:
    """Raise ConfigError (one line naming both) when `output` is, contains or lies inside a folder
    or file named in `input_spec`, or exists but is not a folder. Globs are judged once they are
    matched (check_output_holds_no_input)."""
    if not output:
        raise ConfigError("no output given: set --output or 'output' in the config file")
    target = normalised(output)
    for part in input_parts(input_spec):
        relation = None if is_glob(part) else overlap(target, normalised(part))
        if relation:
            _refuse(output, relation, part, target)
    if _is_file(output):
        raise ConfigError(f"output '{output}' exists and is not a folder; choose a folder path")


def check_output_holds_no_input(output: str, input_files: Sequence[str]) -> None:
    """Raise ConfigError when `output` is or contains one of the resolved `input_files`. A glob is
    judged by what it matched, not by its fixed folder: `corpus/*.jsonl` reads nothing under
    `corpus/out`, so that output is allowed."""
    target = normalised(output)
    for path in input_files:
        if overlap(target, normalised(path)) in ("is", "contains"):
            _refuse(output, "contains", path, target)


def _refuse(output: str, relation: str, what: str, target: str) -> None:
    raise ConfigError(f"output '{output}' {relation} input '{what}' ({target}): a stage first deletes "
                      "its output folder's old contents, which would destroy the input; "
                      "choose an output outside the input")


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder if folder.endswith("/") else folder + "/")


def _is_file(path: str) -> bool:
    if "://" not in path:
        return os.path.lexists(path) and not os.path.isdir(path)
    # an object store has no folders: an object at the output's own name is a file
    return FileSystems.exists(path.rstrip("/"))
