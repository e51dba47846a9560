"""The ledger of a data stage: what came in, what was kept, what was rejected and why.

`build_ledger` is pure; the Beam layer feeds it counts computed as data (so the ledger is
exact on every runner) and checks the invariant input == kept + rejected. `validate_ledger`
checks a ledger read back from a stage folder before a later stage trusts it.

Besides the balance, a stage may report what it did to the documents it kept: `tallies` (counts
per key, e.g. PII spans redacted per kind) and `measures` (a distribution per key, e.g. each
back-translation's round-trip BLEU), summarized by `summarize_measure`.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

# One entry of a ledger's `parts`: a data part file of the stage folder (path relative to it).
PART_FIELDS = {"path": str, "rows": int, "bytes": int, "sha256": str}
DATA_FOLDER = "data"
_COUNT_FIELDS = ("input", "kept", "rejected_total")
MEASURE_FIELDS = ("count", "mean", "min", "p10", "p50", "p90", "max")
HISTOGRAM_BINS = 10


class LedgerImbalance(RuntimeError):
    """Documents were lost or invented between a stage's input and its outputs."""


class LedgerError(ValueError):
    """A ledger.json that is not a complete, consistent ledger."""


def build_ledger(stage: str, input_count: int, kept: int, rejected: Iterable[tuple[str, int]],
                 params: dict[str, Any], inputs: list[str], runner: str,
                 parts: list[dict[str, Any]], upstream: list[dict] | None = None, added: int = 0,
                 added_kept: int = 0, tallies: dict[str, int] | None = None,
                 measures: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ledger.json content of a stage; raises LedgerImbalance if the counts do not add up.

    `added` counts documents the stage created (augmentations), `added_kept` those of them kept:
    then input + added == kept + rejected. `parts` describes each written data part file
    (PART_FIELDS); their rows must sum to `kept`. `tallies` and `measures` (summaries from
    `summarize_measure`) appear in the ledger when the stage reports them, even empty: an empty
    `tallies` says the stage counted and found nothing.
    """
    by_reason = dict(sorted(rejected))
    total = sum(by_reason.values())
    if input_count + added != kept + total:
        came_in = f"input {input_count}" + (f" + added {added}" if added else "")
        raise LedgerImbalance(f"{stage}: {came_in} != kept {kept} + rejected {total} ({by_reason})")
    written = sum(part["rows"] for part in parts)
    if written != kept:
        raise LedgerImbalance(f"{stage}: kept {kept} but the data parts hold {written} rows")
    extra = {"added": added, "added_kept": added_kept} if added else {}
    reported = {name: dict(sorted(value.items())) for name, value in
                (("tallies", tallies), ("measures", measures)) if value is not None}
    return {
        "stage": stage,
        "input": input_count,
        **extra,
        "kept": kept,
        "rejected_total": total,
        "rejected": by_reason,
        "params": params,
        "inputs": inputs,
        "runner": runner,
        "upstream": upstream or [],
        "parts": sorted(parts, key=lambda part: part["path"]),
        **reported,
    }


def summarize_measure(values: Iterable[float]) -> dict[str, Any]:
    """count, mean, min, p10, p50, p90, max and a HISTOGRAM_BINS-bin histogram ({edges, counts})
    of one measure's values; an empty measure is {"count": 0}."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        return {"count": 0}
    p10, p50, p90 = np.percentile(array, [10, 50, 90])
    counts, edges = np.histogram(array, bins=HISTOGRAM_BINS)
    return {"count": int(array.size), "mean": float(array.mean()), "min": float(array.min()), "p10": float(p10),
            "p50": float(p50), "p90": float(p90), "max": float(array.max()),
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}}


def validate_ledger(ledger: Any) -> dict[str, Any]:
    """Return `ledger` if it has every key a later stage relies on, with consistent counts and
    `parts` whose rows sum to `kept`; else raise LedgerError naming the first problem."""
    if not isinstance(ledger, dict):
        raise LedgerError("not a JSON object")
    missing = [key for key in ("stage", *_COUNT_FIELDS, "rejected", "upstream") if key not in ledger]
    if missing:
        raise LedgerError(f"lacks {', '.join(missing)}")
    if "parts" not in ledger:
        raise LedgerError("has no 'parts' (written by a fullchain before part checksums); "
                          "re-run the stage that wrote it")
    if not isinstance(ledger["stage"], str):
        raise LedgerError("'stage' is not a string")
    for key in (*_COUNT_FIELDS, "added"):
        if key in ledger and not _is_count(ledger[key]):
            raise LedgerError(f"'{key}' is not a non-negative integer")
    rejected = ledger["rejected"]
    if not isinstance(rejected, dict) or not all(_is_count(n) for n in rejected.values()):
        raise LedgerError("'rejected' is not an object of reason -> count")
    if sum(rejected.values()) != ledger["rejected_total"]:
        raise LedgerError(f"'rejected' sums to {sum(rejected.values())}, not rejected_total "
                          f"{ledger['rejected_total']}")
    if ledger["input"] + ledger.get("added", 0) != ledger["kept"] + ledger["rejected_total"]:
        raise LedgerError("input + added != kept + rejected_total")
    if not isinstance(ledger["upstream"], list):
        raise LedgerError("'upstream' is not a list")
    _validate_parts(ledger["parts"], ledger["kept"])
    _validate_reported(ledger)
    return ledger


def _validate_reported(ledger: dict[str, Any]) -> None:
    tallies = ledger.get("tallies", {})
    if not isinstance(tallies, dict) or not all(_is_count(n) for n in tallies.values()):
        raise LedgerError("'tallies' is not an object of key -> count")
    measures = ledger.get("measures", {})
    if not isinstance(measures, dict):
        raise LedgerError("'measures' is not an object of key -> summary")
    for key, summary in measures.items():
        if not isinstance(summary, dict) or not _is_count(summary.get("count")):
            raise LedgerError(f"measures.{key} has no count")
        if summary["count"] and not all(isinstance(summary.get(f), (int, float)) for f in MEASURE_FIELDS):
            raise LedgerError(f"measures.{key} lacks one of {', '.join(MEASURE_FIELDS)}")


def _validate_parts(parts: Any, kept: int) -> None:
    if not isinstance(parts, list):
        raise LedgerError("'parts' is not a list")
    seen = set()
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            raise LedgerError(f"parts[{i}] is not an object")
        for name, kind in PART_FIELDS.items():
            if not isinstance(part.get(name), kind) or isinstance(part.get(name), bool):
                raise LedgerError(f"parts[{i}].{name} missing or not {kind.__name__}")
        folder, _, name = part["path"].partition("/")
        if folder != DATA_FOLDER or not name or "/" in name or name.startswith("."):
            raise LedgerError(f"parts[{i}].path {part['path']!r} is not a file directly in {DATA_FOLDER}/")
        if part["path"] in seen:
            raise LedgerError(f"parts[{i}]: {part['path']} is listed twice")
        seen.add(part["path"])
    rows = sum(part["rows"] for part in parts)
    if rows != kept:
        raise LedgerError(f"its parts hold {rows} rows but 'kept' is {kept}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def ledger_table(ledger: dict[str, Any]) -> str:
    """A short text table of a ledger: input, kept, then each rejection reason with its share."""
    n = ledger["input"] or 1
    rows = [("input", ledger["input"])]
    if ledger.get("added"):
        rows += [("added", ledger["added"]), ("added and kept", ledger["added_kept"])]
    rows += [("kept", ledger["kept"])]
    rows += [(f"rejected: {reason}", count) for reason, count in
             sorted(ledger["rejected"].items(), key=lambda item: (-item[1], item[0]))]
    tallies = [(f"tally: {key}", count) for key, count in ledger.get("tallies", {}).items()]
    measures = [(f"measure: {key}", summary) for key, summary in ledger.get("measures", {}).items()]
    width = max(len(name) for name, _ in rows + tallies + measures)
    lines = [f"{ledger['stage']} ledger", "-" * (width + 22)]
    for name, count in rows:
        lines.append(f"{name:<{width}}  {count:>10,}  {100 * count / n:6.2f}%")
    lines += [f"{name:<{width}}  {count:>10,}" for name, count in tallies]
    for name, summary in measures:
        spread = (f"  p10 {summary['p10']:.3g}  p50 {summary['p50']:.3g}  p90 {summary['p90']:.3g}"
                  if summary["count"] else "")
        lines.append(f"{name:<{width}}  {summary['count']:>10,}{spread}")
    return "\n".join(lines)


def ledger_counter_values(ledger: dict[str, Any]) -> dict[str, int]:
    """The fullchain.ledger Beam counters a job with this ledger must have reported (non-zero ones)."""
    stage = ledger["stage"]
    expected = {f"{stage}.kept": ledger["kept"]} if ledger["kept"] else {}
    expected.update({f"{stage}.rejected.{reason}": n for reason, n in ledger["rejected"].items() if n})
    return expected


def prepare_table(summary: dict[str, Any]) -> str:
    """A short text table of prepare.json: each stage, whether it ran, and its counts."""
    lines = ["prepare", "-" * 64, f"{'stage':<15}{'ran':<5}{'input':>11}{'added':>9}{'kept':>11}{'rejected':>11}"]
    for stage, entry in summary["stages"].items():
        if not entry["enabled"]:
            lines.append(f"{stage:<15}{'off':<5}")
            continue
        kept = entry.get("kept", entry.get("written", 0))
        rejected = entry.get("rejected_total", sum(entry.get("skipped", {}).values()))
        lines.append(f"{stage:<15}{'yes':<5}{entry.get('input', 0):>11,}{entry.get('added', 0):>9,}"
                     f"{kept:>11,}{rejected:>11,}")
    return "\n".join(lines)
