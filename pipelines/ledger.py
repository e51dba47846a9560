"""The ledger of a data stage: what came in, what was kept, what was rejected and why.

`build_ledger` is pure; the Beam layer feeds it counts computed as data (so the ledger is
exact on every runner) and checks the invariant input == kept + rejected.
"""

from __future__ import annotations

from typing import Any, Iterable


class LedgerImbalance(RuntimeError):
    """Documents were lost or invented between a stage's input and its outputs."""


def build_ledger(stage: str, input_count: int, kept: int, rejected: Iterable[tuple[str, int]],
                 params: dict[str, Any], inputs: list[str], runner: str,
                 upstream: list[dict] | None = None, added: int = 0, added_kept: int = 0) -> dict[str, Any]:
    """The ledger.json content of a stage; raises LedgerImbalance if the counts do not add up.

    `added` counts documents the stage created (augmentations), `added_kept` those of them kept:
    then input + added == kept + rejected.
    """
    by_reason = dict(sorted(rejected))
    total = sum(by_reason.values())
    if input_count + added != kept + total:
        came_in = f"input {input_count}" + (f" + added {added}" if added else "")
        raise LedgerImbalance(f"{stage}: {came_in} != kept {kept} + rejected {total} ({by_reason})")
    extra = {"added": added, "added_kept": added_kept} if added else {}
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
    }


def ledger_table(ledger: dict[str, Any]) -> str:
    """A short text table of a ledger: input, kept, then each rejection reason with its share."""
    n = ledger["input"] or 1
    rows = [("input", ledger["input"])]
    if ledger.get("added"):
        rows += [("added", ledger["added"]), ("added and kept", ledger["added_kept"])]
    rows += [("kept", ledger["kept"])]
    rows += [(f"rejected: {reason}", count) for reason, count in
             sorted(ledger["rejected"].items(), key=lambda item: (-item[1], item[0]))]
    width = max(len(name) for name, _ in rows)
    lines = [f"{ledger['stage']} ledger", "-" * (width + 22)]
    for name, count in rows:
        lines.append(f"{name:<{width}}  {count:>10,}  {100 * count / n:6.2f}%")
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
