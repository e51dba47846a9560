"""What every data-stage test checks of a finished stage: its ledger.json (or shard manifest.json)
balances, against the Parquet rows and tar samples on disk and against the job's Beam counters.

One place for these checks, so a test of any stage, runner profile or `prepare` cannot check less.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import tarfile
from collections import Counter

import pyarrow.parquet as pq

from fullchain.pipelines.ledger import ledger_counter_values
from fullchain.pipelines.stage_folder import read_stage_folder


def parquet_rows(folder: str, part: str) -> list[dict]:
    """Every row of FOLDER/PART/*.parquet, sorted by id."""
    files = sorted(glob.glob(os.path.join(folder, part, "*.parquet")))
    return sorted((r for f in files for r in pq.read_table(f).to_pylist()), key=lambda r: r["id"])


def non_blank_lines(paths: list[str]) -> int:
    """The JSON-lines records in `paths` (.jsonl or .jsonl.gz): what a reader must account for."""
    total = 0
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as fh:
            total += sum(1 for line in fh if line.strip())
    return total


def stage_counters(counters: dict[str, int], stage: str) -> dict[str, int]:
    """The non-zero fullchain.ledger counters of one stage (a prepare job reports every stage's)."""
    return {name: n for name, n in counters.items() if name.startswith(f"{stage}.") and n}


def assert_ledger_balanced(output: str, ledger: dict | None = None, counters: dict[str, int] | None = None) -> dict:
    """OUTPUT/ledger.json balances: input + added == kept + rejected, kept and rejected equal the
    Parquet rows written, the parts it lists are the data files, the folder verifies as a later
    stage's input, and (given the job's counters) the Beam counters say the same. Returns the ledger."""
    with open(os.path.join(output, "ledger.json")) as fh:
        on_disk = json.load(fh)
    if ledger is not None:
        assert ledger == on_disk
    rejected = on_disk["rejected"]
    assert sum(rejected.values()) == on_disk["rejected_total"]
    assert on_disk["input"] + on_disk.get("added", 0) == on_disk["kept"] + on_disk["rejected_total"], on_disk
    assert on_disk["kept"] == len(parquet_rows(output, "data"))
    rejected_rows = parquet_rows(output, "rejected")
    assert on_disk["rejected_total"] == len(rejected_rows)
    by_reason: dict[str, int] = {}
    for row in rejected_rows:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    assert by_reason == {reason: n for reason, n in rejected.items() if n}
    data_files = sorted(os.path.relpath(f, output) for f in glob.glob(os.path.join(output, "data", "*"))
                        if os.path.isfile(f))
    assert sorted(p["path"] for p in on_disk["parts"]) == data_files
    assert sum(p["rows"] for p in on_disk["parts"]) == on_disk["kept"]
    assert read_stage_folder(output)[0] == on_disk
    if counters is not None:
        assert stage_counters(counters, on_disk["stage"]) == ledger_counter_values(on_disk)
    if on_disk["stage"] == "clean" and "tallies" in on_disk:
        assert_pii_tallies_match_meta(on_disk["tallies"], parquet_rows(output, "data"), rejected_rows)
    return on_disk


def assert_pii_tallies_match_meta(tallies: dict[str, int], kept_rows: list[dict], rejected_rows: list[dict]) -> None:
    """clean's PII tallies are what its documents' meta.pii says: pii_documents.<kind> the documents,
    kept or rejected, the kind was found in; pii_redacted.<kind> + pii_kept.<kind> its spans in the kept."""
    documents, spans = Counter(), Counter()
    for rows, kept in ((kept_rows, True), (rejected_rows, False)):
        for row in rows:
            found = json.loads(row["meta"] or "{}").get("pii", {})
            documents.update(found.keys())
            if kept:
                spans.update(found)
    tallied_documents, tallied_spans = Counter(), Counter()
    for key, n in tallies.items():
        name, _, kind = key.partition(".")
        (tallied_documents if name == "pii_documents" else tallied_spans)[kind] += n
    assert tallied_documents == documents and tallied_spans == spans, (tallies, documents, spans)


def tar_sample_count(path: str) -> int:
    """Samples in one WebDataset shard: the distinct keys of its members."""
    with open(path, "rb") as fh:
        data = fh.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return len({member.name.split(".", 1)[0] for member in tar.getmembers()})


def assert_manifest_balanced(output: str, input_documents: int, manifest: dict | None = None) -> dict:
    """OUTPUT/manifest.json balances: `input_documents` (what the stage was given) == written +
    skipped, every split's samples are the sum of its shards', and every shard holds the samples
    the manifest lists for it. Returns the manifest."""
    with open(os.path.join(output, "manifest.json")) as fh:
        on_disk = json.load(fh)
    if manifest is not None:
        assert manifest == on_disk
    assert on_disk["input_documents"] == input_documents
    assert on_disk["input_documents"] == on_disk["written"] + sum(on_disk["skipped"].values())
    assert on_disk["written"] == sum(split["samples"] for split in on_disk["splits"].values())
    for name, split in on_disk["splits"].items():
        shards = [s for s in on_disk["shards"] if s["split"] == name]
        assert split["shards"] == len(shards) and split["samples"] == sum(s["samples"] for s in shards)
    for shard in on_disk["shards"]:
        assert tar_sample_count(os.path.join(output, shard["path"])) == shard["samples"], shard["path"]
    return on_disk
