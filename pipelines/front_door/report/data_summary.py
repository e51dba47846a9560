"""The data half of the run report, read from the run folder's stage folders (docs/CONTRACTS.md
sections 2 and 3) into plain dicts: the funnel with every rejection reason, the planted documents
each stage caught, the duplicate clusters, and the perplexity distribution with its cut-offs.

Each function returns a section dict; a section whose inputs are not there is
{"ran": False, "note": "..."} (run_layout.not_run), so a partial run still gets a report.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fullchain.pipelines.ledger import LedgerError, validate_ledger
from fullchain.pipelines.real_text.corpus import PLANTED_FILE, read_planted
from fullchain.pipelines.shard.format import MANIFEST_FILE
from fullchain.report.config import ReportConfig
from fullchain.report.run_layout import CORPUS, DATA_STAGES, SHARD, ReportError, not_run, read_json
from fullchain.report.text_diff import first_difference

DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate")
BUCKETS = ("head", "middle", "tail")


def stage_ledger(run_dir: str, folder: str) -> dict | None:
    """The validated ledger.json of DIR/`folder`, or None when the stage has not written one."""
    path = os.path.join(run_dir, folder, "ledger.json")
    ledger = read_json(path)
    if ledger is None:
        return None
    try:
        return validate_ledger(ledger)
    except LedgerError as e:
        raise ReportError(f"{path}: not a valid ledger: {e}") from None


def stage_rows(run_dir: str, folder: str, part: str, columns: list[str]) -> list[dict]:
    """The rows (only `columns`) of DIR/`folder`/`part`/*.parquet, part files in name order."""
    tables = [pq.read_table(path, columns=columns)
              for path in sorted(glob.glob(os.path.join(run_dir, folder, part, "*.parquet")))]
    return pa.concat_tables(tables).to_pylist() if tables else []


def funnel(run_dir: str) -> dict[str, Any]:
    """Documents in, kept and rejected per reason, stage by stage, down to the shards' samples; and
    what a stage counted in its ledger's tallies (clean: PII per kind) as [{key, count}]."""
    stages = []
    for folder, stage in DATA_STAGES:
        ledger = stage_ledger(run_dir, folder)
        if ledger is None:
            stages.append({"folder": folder, "stage": stage, "ran": False})
            continue
        stages.append({"folder": folder, "stage": stage, "ran": True, "input": ledger["input"],
                       "added": ledger.get("added", 0), "added_kept": ledger.get("added_kept", 0),
                       "kept": ledger["kept"], "rejected_total": ledger["rejected_total"],
                       "rejected": dict(sorted(ledger["rejected"].items(), key=lambda kv: (-kv[1], kv[0]))),
                       # a list, not a dict: tally keys hold dots (pii_redacted.email), summary paths split on them
                       "tallies": [{"key": k, "count": n} for k, n in sorted(ledger.get("tallies", {}).items())]})
    manifest = read_json(os.path.join(run_dir, SHARD, MANIFEST_FILE))
    ran = [s for s in stages if s["ran"]]
    if not ran and manifest is None:
        return not_run("no data stage wrote a ledger.json and there is no shard manifest")
    section: dict[str, Any] = {"ran": True, "stages": stages,
                               "input_documents": ran[0]["input"] if ran else manifest["input_documents"]}
    if manifest is None:
        section["shard"] = {"ran": False}
    else:
        splits = manifest["splits"]
        section["shard"] = {"ran": True, "input": manifest["input_documents"], "written": manifest["written"],
                            "skipped": manifest["skipped"],
                            "splits": {name: {k: splits[name][k] for k in ("samples", "tokens", "shards")}
                                       for name in sorted(splits)}}
    return section


def planted_catches(run_dir: str) -> dict[str, Any]:
    """Per kind of planted document (DIR/corpus/planted.json): how many there were, which stage
    rejected them for which reason, and the share caught by any stage.

    A planted duplicate also counts as caught when dedup kept it and removed its source as its
    duplicate instead (which of the two survives is dedup's choice); the reason then reads
    `<reason> (source removed)`."""
    planted = read_planted(os.path.join(run_dir, CORPUS))
    if planted is None:
        return not_run(f"no {CORPUS}/{PLANTED_FILE}: the corpus has no planted documents to count")
    caught: dict[str, tuple[str, str]] = {}
    duplicate_of: dict[str, str] = {}
    ran = []
    for folder, _ in DATA_STAGES:
        if stage_ledger(run_dir, folder) is None:
            continue
        ran.append(folder)
        columns = ["id", "reason", "duplicate_of"] if folder == "dedup" else ["id", "reason"]
        for row in stage_rows(run_dir, folder, "rejected", columns):
            caught.setdefault(row["id"], (folder, row["reason"]))
            if row.get("duplicate_of"):
                duplicate_of[row["id"]] = row["duplicate_of"]
    kinds: dict[str, dict[str, Any]] = {}
    for record in planted:
        entry = kinds.setdefault(record["kind"], {"kind": record["kind"], "planted": 0, "caught": 0,
                                                  "by_stage": defaultdict(Counter)})
        entry["planted"] += 1
        source = record.get("source_id")
        if record["id"] not in caught and source and _cluster_root(source, duplicate_of) == record["id"]:
            folder, reason = caught[source]
            entry["caught"] += 1
            entry["by_stage"][folder][f"{reason} (source removed)"] += 1
        elif record["id"] in caught:
            folder, reason = caught[record["id"]]
            entry["caught"] += 1
            entry["by_stage"][folder][reason] += 1
    rows = []
    for kind in sorted(kinds):
        entry = kinds[kind]
        by_stage = {folder: dict(sorted(entry["by_stage"][folder].items())) for folder in ran
                    if folder in entry["by_stage"]}
        rows.append({"kind": kind, "planted": entry["planted"], "caught": entry["caught"],
                     "missed": entry["planted"] - entry["caught"],
                     "catch_rate": entry["caught"] / entry["planted"], "by_stage": by_stage})
    total, total_caught = len(planted), sum(r["caught"] for r in rows)
    return {"ran": True, "stages_read": ran, "kinds": rows, "planted": total, "caught": total_caught,
            "catch_rate": total_caught / total if total else 0.0}


def duplicate_clusters(run_dir: str, cfg: ReportConfig) -> dict[str, Any]:
    """Dedup's clusters (a survivor and the documents removed as its duplicates, duplicate_of
    chains followed to the kept document): the size histogram and a few examples."""
    ledger = stage_ledger(run_dir, "dedup")
    if ledger is None:
        return not_run("dedup did not run (no dedup/ledger.json)")
    removed = [row for row in stage_rows(run_dir, "dedup", "rejected", ["id", "text", "reason", "duplicate_of"])
               if row["reason"] in DUPLICATE_REASONS and row["duplicate_of"]]
    parent = {row["id"]: row["duplicate_of"] for row in removed}
    members: dict[str, list[dict]] = defaultdict(list)
    for row in removed:
        members[_cluster_root(row["id"], parent)].append(row)
    sizes = Counter(1 + len(rows) for rows in members.values())
    section: dict[str, Any] = {
        "ran": True, "documents": ledger["input"], "kept": ledger["kept"], "clusters": len(members),
        "removed": len(removed), "singletons": ledger["kept"] - len(members),
        "by_reason": {reason: sum(r["reason"] == reason for r in removed) for reason in DUPLICATE_REASONS},
        "size_histogram": [{"size": size, "clusters": sizes[size]} for size in sorted(sizes)],
        "largest": max(sizes) if sizes else 1,
    }
    # near duplicates first (an exact copy shows nothing side by side), then the largest clusters
    chosen = sorted(members, key=lambda s: (not any(r["reason"] == "near_duplicate" for r in members[s]),
                                            -len(members[s]), s))[:cfg.example_clusters]
    survivors = {row["id"]: row["text"] for row in stage_rows(run_dir, "dedup", "data", ["id", "text"])
                 if row["id"] in set(chosen)}
    examples = []
    for survivor in chosen:
        shown = sorted(members[survivor], key=lambda r: (r["reason"] != "near_duplicate", r["id"]))[:3]
        start, _ = first_difference(survivors.get(survivor, ""), shown[0]["text"])
        examples.append({
            "survivor": {"id": survivor, "text": _excerpt(survivors.get(survivor, ""), start, cfg.example_chars)},
            "size": 1 + len(members[survivor]),
            "removed": [{"id": r["id"], "reason": r["reason"],
                         "text": _excerpt(r["text"], first_difference(survivors.get(survivor, ""), r["text"])[1],
                                          cfg.example_chars)} for r in shown]})
    section["examples"] = examples
    return section


def perplexity_distribution(run_dir: str, cfg: ReportConfig) -> dict[str, Any]:
    """ppl-filter's scores (meta ppl and ppl_bucket of every document, kept or rejected): a
    log-spaced histogram of kept and rejected, the cut-offs, and examples per bucket."""
    ledger = stage_ledger(run_dir, "ppl-filter")
    if ledger is None:
        return not_run("ppl-filter did not run (no ppl-filter/ledger.json)")
    params = ledger["params"].get("ppl_filter", {})
    docs = []
    for part, kept in (("data", True), ("rejected", False)):
        for row in stage_rows(run_dir, "ppl-filter", part, ["id", "text", "lang", "meta"]):
            meta = json.loads(row["meta"] or "{}")
            docs.append({"id": row["id"], "lang": row["lang"], "text": row["text"], "kept": kept,
                         "ppl": meta.get("ppl"), "bucket": meta.get("ppl_bucket")})
    scored = [d for d in docs if d["ppl"] is not None and d["ppl"] > 0]
    section: dict[str, Any] = {"ran": True, "mode": params.get("mode", "absolute"), "documents": len(docs),
                               "scored": len(scored), "unscorable": len(docs) - len(scored),
                               "kept": ledger["kept"], "rejected": ledger["rejected_total"],
                               "cutoffs": _cutoffs(params, scored)}
    section["histogram"] = _log_histogram(scored, cfg.histogram_bins)
    buckets = {}
    for bucket in BUCKETS:
        in_bucket = sorted((d for d in scored if d["bucket"] == bucket), key=lambda d: (d["ppl"], d["id"]))
        if not in_bucket:
            continue
        entry: dict[str, Any] = {"kept": sum(d["kept"] for d in in_bucket),
                                 "rejected": sum(not d["kept"] for d in in_bucket)}
        for name, kept in (("examples_kept", True), ("examples_rejected", False)):
            shown = _spread([d for d in in_bucket if d["kept"] == kept], cfg.examples_per_bucket)
            entry[name] = [{"id": d["id"], "lang": d["lang"], "ppl": d["ppl"], "text": _cut(d["text"], cfg.example_chars)}
                           for d in shown]
        buckets[bucket] = entry
    section["buckets"] = buckets
    return section


def _cluster_root(doc_id: str, duplicate_of: dict[str, str]) -> str:
    """The kept document a removed duplicate's duplicate_of chain ends at (`doc_id` itself when kept)."""
    seen = set()
    while doc_id in duplicate_of and doc_id not in seen:
        seen.add(doc_id)
        doc_id = duplicate_of[doc_id]
    return doc_id


def _cutoffs(params: dict[str, Any], scored: list[dict]) -> list[dict[str, Any]]:
    """The perplexity cut-offs: the configured thresholds in absolute mode; in percentile mode the
    per-language cut points the job computed, read back as the highest score of each bucket."""
    if params.get("mode", "absolute") == "absolute":
        cuts = [{"lang": "*", "label": "max_ppl", "ppl": params["max_ppl"]}] if params.get("max_ppl") else []
        for item in params.get("max_ppl_by_lang", []):
            lang, _, value = item.partition("=")
            cuts.append({"lang": lang, "label": f"max_ppl {lang or 'undetected'}", "ppl": float(value)})
        return cuts
    highest: dict[tuple[str, str], float] = {}
    for d in scored:
        key = (d["lang"], d["bucket"])
        highest[key] = max(highest.get(key, 0.0), d["ppl"])
    return [{"lang": lang, "label": f"{lang or 'undetected'} {bucket} <=", "ppl": value}
            for (lang, bucket), value in sorted(highest.items()) if bucket != "tail"]


def _log_histogram(scored: list[dict], bins: int) -> dict[str, Any]:
    if not scored:
        return {"edges": [], "kept": [], "rejected": []}
    low, high = min(d["ppl"] for d in scored), max(d["ppl"] for d in scored)
    low_log, high_log = math.log10(low), math.log10(high) + 1e-9
    step = (high_log - low_log) / bins or 1.0
    edges = [10 ** (low_log + i * step) for i in range(bins + 1)]
    kept, rejected = [0] * bins, [0] * bins
    for d in scored:
        i = min(int((math.log10(d["ppl"]) - low_log) / step), bins - 1)
        (kept if d["kept"] else rejected)[i] += 1
    return {"edges": edges, "kept": kept, "rejected": rejected}


def _spread(docs: list[dict], n: int) -> list[dict]:
    """`n` documents evenly spread over `docs` (sorted by perplexity): the low, the middle, the high."""
    if len(docs) <= n:
        return docs
    if n == 1:
        return [docs[len(docs) // 2]]
    return [docs[round(i * (len(docs) - 1) / (n - 1))] for i in range(n)]


def _excerpt(text: str, start: int, chars: int) -> str:
    excerpt = _cut(text[start:].lstrip(), chars)
    return excerpt if start == 0 else "… " + excerpt


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars].rstrip() + " …"
