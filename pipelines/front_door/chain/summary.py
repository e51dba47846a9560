"""The table `fullchain run` prints at its end: every stage's status, time, what it read and wrote,
and its key figure; then how many planted documents each data stage caught."""

from __future__ import annotations

from typing import Any, Iterable

from fullchain.chain.planted_catch import catch_table


def _seconds(entry: dict[str, Any]) -> str:
    value = entry.get("seconds")
    if not isinstance(value, (int, float)):
        return "-"
    value = int(round(value))
    return f"{value // 60}:{value % 60:02d}"


def summary_table(record: dict[str, Any], names: Iterable[str]) -> str:
    """The closing summary of a run from its run.json content."""
    stages = record["stages"]
    header = ["stage", "status", "time", "reads", "writes", "key figure"]
    rows = []
    for name in names:
        entry = stages.get(name, {})
        status = entry.get("status", "-")
        if status == "skipped":
            status = "skipped (up to date)"
        reads = entry.get("reads", [])
        rows.append([name, status, _seconds(entry), "every stage above" if len(reads) > 3 else ", ".join(reads) or "-",
                     ", ".join(f"{o}/" for o in entry.get("outputs", [])) or "-",
                     (entry.get("key_figure") or {}).get("text", entry.get("note", "-"))])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = record.get("seconds")
    if isinstance(total, (int, float)):
        lines.append(f"total {int(total) // 60}:{int(total) % 60:02d} (this invocation; stages show the time of "
                     f"the run that made them)")
    caught = {name: stages[name]["planted_caught"] for name in names
              if "planted_caught" in stages.get(name, {})}
    if caught:
        from fullchain.chain.planted_catch import planted_rows

        planted = planted_rows(record["output"])
        lines += ["", "planted documents caught per stage (DIR/corpus/planted.json):", catch_table(planted, caught)]
    return "\n".join(lines)
