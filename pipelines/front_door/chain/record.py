"""DIR/run.json: the record of a run (docs/RUN.md), rewritten atomically after every change so a
killed run leaves the last state it reached, which the next run resumes from."""

from __future__ import annotations

import json
import os
import time
from typing import Any

RUN_FILE = "run.json"
FORMAT_VERSION = 1


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp (seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class RunRecord:
    """run.json of one run folder: the run's fields and one entry per stage."""

    def __init__(self, folder: str, data: dict[str, Any]):
        self.folder = folder
        self.data = data

    @classmethod
    def open(cls, folder: str) -> "RunRecord":
        """The record in `folder`, or an empty one when the run is new (run.json unreadable counts as new:
        every stage then checks its marker against a fingerprint that cannot match, so it reruns)."""
        path = os.path.join(folder, RUN_FILE)
        data: dict[str, Any] = {}
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as fh:
                    data = json.load(fh)
            except (OSError, ValueError):
                data = {}
        data.setdefault("stages", {})
        return cls(folder, data)

    def stage(self, name: str) -> dict[str, Any]:
        """The entry of stage `name` (empty when it never started here)."""
        return self.data["stages"].get(name, {})

    def set_stage(self, name: str, **fields: Any) -> None:
        """Replace stage `name`'s entry by `fields` and save."""
        self.data["stages"][name] = fields
        self.save()

    def update(self, **fields: Any) -> None:
        """Set run-level fields and save."""
        self.data.update(fields)
        self.save()

    def save(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self.data["format_version"] = FORMAT_VERSION
        path = os.path.join(self.folder, RUN_FILE)
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.data, fh, indent=2, ensure_ascii=False)
        os.replace(tmp, path)
