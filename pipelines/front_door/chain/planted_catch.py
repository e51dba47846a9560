"""How many of the planted documents (DIR/corpus/planted.json) each data stage caught, read from
the stage's rejected Parquet files. A planted copy counts as caught when the stage rejected it or
the original it was made from: dedup keeps one document of a cluster, not necessarily the original."""

from __future__ import annotations

import glob
import os
from collections import Counter
from typing import Any

from fullchain.pipelines.real_text.corpus import read_planted


def planted_rows(run_dir: str) -> list[dict[str, Any]]:
    """The planted documents of the run's corpus; empty when the run plants nothing (user input)."""
    return read_planted(os.path.join(run_dir, "corpus")) or []


def caught(run_dir: str, stage_folder: str, planted: list[dict[str, Any]], earlier: set[str]) -> dict[str, int]:
    """kind -> planted documents of that kind the stage caught, leaving out the ids in `earlier`
    (caught by a stage before it); adds this stage's catches to `earlier`."""
    import pyarrow.parquet as pq

    rejected: set[str] = set()
    kept_instead: dict[str, str] = {}  # a document removed as a duplicate -> the one kept for it
    for path in sorted(glob.glob(os.path.join(run_dir, stage_folder, "rejected", "*.parquet"))):
        table = pq.read_table(path)
        ids = table.column("id").to_pylist()
        rejected.update(ids)
        if "duplicate_of" in table.column_names:
            kept_instead.update((i, d) for i, d in zip(ids, table.column("duplicate_of").to_pylist()) if d)
    now = [row for row in planted if row["id"] not in earlier
           and (row["id"] in rejected or kept_instead.get(row["source_id"] or "") == row["id"])]
    earlier.update(row["id"] for row in now)
    counts = Counter(row["kind"] for row in now)
    return dict(sorted(counts.items()))


def catch_table(planted: list[dict[str, Any]], by_stage: dict[str, dict[str, int]]) -> str:
    """Planted documents per kind, and how many of them each stage caught."""
    totals = Counter(row["kind"] for row in planted)
    stages = list(by_stage)
    header = ["planted", "n", *stages, "missed"]
    rows = []
    for kind, n in sorted(totals.items()):
        got = [by_stage[s].get(kind, 0) for s in stages]
        rows.append([kind, str(n), *map(str, got), str(n - sum(got))])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), *map(line, rows)])
