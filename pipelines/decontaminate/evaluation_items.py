"""The evaluation items the decontaminate stage keeps out of the training data, read from files."""

from __future__ import annotations

import importlib.resources
import json
import os

import pyarrow.parquet as pq

from fullchain.pipelines.config import ConfigError
from fullchain.pipelines.decontaminate.ngram_index import item_text

ITEM_SUFFIXES = (".jsonl", ".json", ".parquet")


def shipped_suite_data() -> str:
    """The data folder of the suite that ships with `fullchain eval` (located as package data, so the
    data side imports nothing of the front door)."""
    return str(importlib.resources.files("fullchain.evaluation") / "tasks" / "data")


def item_files(paths: list[str]) -> list[str]:
    """The item files of `paths` (files, or folders searched for .jsonl/.json/.parquet); ConfigError
    naming a path that does not exist or holds none."""
    files = []
    for path in paths or [shipped_suite_data()]:
        if os.path.isdir(path):
            found = sorted(os.path.join(root, name) for root, _, names in os.walk(path) for name in names
                           if name.endswith(ITEM_SUFFIXES))
            if not found:
                raise ConfigError(f"decontaminate.evaluation: {path} holds no .jsonl, .json or .parquet file")
            files += found
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise ConfigError(f"decontaminate.evaluation: {path}: no such file or folder")
    return files


def read_items(paths: list[str]) -> dict[str, str]:
    """Item id (file:line) -> text of every record of the item files; ConfigError naming a bad line."""
    items = {}
    for path in item_files(paths):
        if path.endswith(".parquet"):
            for number, record in enumerate(pq.read_table(path).to_pylist(), 1):
                items[f"{os.path.basename(path)}:{number}"] = item_text(record)
            continue
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"decontaminate.evaluation: {path}:{number}: not JSON: {e}") from None
                if not isinstance(record, dict):
                    raise ConfigError(f"decontaminate.evaluation: {path}:{number}: not a JSON object")
                items[f"{os.path.basename(path)}:{number}"] = item_text(record)
    return items
