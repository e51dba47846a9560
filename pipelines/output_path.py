"""Checks of a stage's `--output` path against its inputs, before anything is written or deleted.

A stage first removes its previous output (pipelines.beam_io.prepare_output), so an output that
is, contains or lies inside an input would delete that input before it is read. Paths are
compared after resolving symlinks (local paths) or normalising the URL (gs://, s3://, ...).
"""

from __future__ import annotations

import os
import posixpath

from apache_beam.io.filesystems import FileSystems

from pipelines.config_loader import ConfigError
from pipelines.input_files import input_parts, input_roots


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
    """Raise ConfigError (one line naming both) when `output` is, contains or lies inside any
    part of `input_spec` (its fixed, non-glob part), or when `output` exists but is not a folder."""
    if not output:
        raise ConfigError("no output given: set --output or 'output' in the config file")
    target = normalised(output)
    for part, root in zip(input_parts(input_spec), input_roots(input_spec)):
        relation = overlap(target, normalised(root))
        if relation:
            raise ConfigError(f"output '{output}' {relation} input '{part}' ({target}): a stage first deletes "
                              "its output folder's old contents, which would destroy the input; "
                              "choose an output outside the input")
    if _is_file(output):
        raise ConfigError(f"output '{output}' exists and is not a folder; choose a folder path")


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder if folder.endswith("/") else folder + "/")


def _is_file(path: str) -> bool:
    if "://" not in path:
        return os.path.lexists(path) and not os.path.isdir(path)
    # an object store has no folders: an object at the output's own name is a file
    return FileSystems.exists(path.rstrip("/"))
