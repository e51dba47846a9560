"""The back-translation half of the run report: how close the round trips came back, from the
backtranslate stage's ledger (DIR/backtranslate/ledger.json): the distributions of sacrebleu's
sentence BLEU and chrF (0-100) over every round trip the gate judged, kept or rejected (the ledger's
measures `roundtrip_bleu` and `roundtrip_chrf`), and the gate's chrF band from the stage's params.

The gate judges by the same sacrebleu chrF on [0, 1] (pipelines/backtranslate/similarity.py): its
band is drawn on the chrF histogram times 100."""

from __future__ import annotations

import os
from typing import Any

from fullchain.report.run_layout import not_run, read_json

BACKTRANSLATE = "backtranslate"
MEASURES = {"bleu": "roundtrip_bleu", "chrf": "roundtrip_chrf"}
# what summary.json and the page show of each distribution (the histogram goes to the figure)
SHOWN = ("count", "mean", "p10", "p50", "p90")


def roundtrip_quality(run_dir: str) -> dict[str, Any]:
    """{"ran", "round_trips", "kept", "rejected", "measures": {bleu, chrf}, "gate": {min_chrf,
    max_chrf}}; not run when the stage did not run or its ledger has no round-trip measures."""
    ledger = read_json(os.path.join(run_dir, BACKTRANSLATE, "ledger.json"))
    if ledger is None:
        return not_run(f"backtranslate did not run (no {BACKTRANSLATE}/ledger.json)")
    measures = ledger.get("measures") or {}
    if not all(key in measures for key in MEASURES.values()):
        return not_run("backtranslate's ledger has no round-trip measures (written before they were recorded)")
    gate = ((ledger.get("params") or {}).get(BACKTRANSLATE) or {}).get("gate") or {}
    band = {f"{side}_chrf": 100 * gate[f"{side}_similarity"] if isinstance(gate.get(f"{side}_similarity"), (int, float))
            else None for side in ("min", "max")}
    summaries = {}
    for name, key in MEASURES.items():
        measure = measures[key]
        summaries[name] = {**{field: measure.get(field) for field in SHOWN},
                           "histogram": measure.get("histogram") or {"edges": [], "counts": []}}
    return {"ran": True, "round_trips": ledger.get("added", 0), "kept": ledger.get("added_kept", 0),
            "rejected": ledger.get("rejected", {}), "measures": summaries, "gate": band}
