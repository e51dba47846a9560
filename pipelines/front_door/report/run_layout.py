"""Where the report finds each stage's output in a run folder (the layout `fullchain run` writes,
docs/RUN.md), and the reading of its JSON files: a file that is not there is None (the stage did
not run), one that is there but not JSON is an error naming it."""

from __future__ import annotations

import json
import os
from typing import Any

CORPUS = "corpus"
# (run folder name, the stage name its ledger and rejected rows carry), in chain order
DATA_STAGES = (("clean", "clean"), ("dedup", "dedup"), ("classify", "classify"), ("ppl-filter", "ppl_filter"),
               ("backtranslate", "backtranslate"))
SHARD = "shard"
TRAIN = "train"
# the small LM the quickstart trains for ppl-filter: a trainer run folder inside reference-lm/
REFERENCE_LM_TRAIN = "reference-lm/train"
LORA = "lora"
EXPORT = "export"
PUBLISH = "publish"
SERVE = "serve"
SMOKE_FILE = "smoke.json"
LOADTEST = "loadtest"
LOADTEST_FILE = "loadtest.json"
EVAL = "eval"
EVAL_FILE = "results.json"
REPORT = "report"
RUN_FILE = "run.json"


class ReportError(ValueError):
    """A run folder file the report cannot read; the message names the file."""


def read_json(path: str) -> Any | None:
    """The JSON content of `path`, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: not valid JSON ({e})") from None


def read_jsonl(path: str) -> list[dict] | None:
    """The records of a JSON-lines file, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    records = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ReportError(f"{path}:{number}: not a JSON line ({e})") from None
    return records


def not_run(note: str) -> dict[str, Any]:
    """The section of a stage whose output is not in the run folder."""
    return {"ran": False, "note": note}
