"""The report on what the real clean and dedup jobs write (not a fixture written from the docs):
a small generated corpus with its planted documents, both stages run by Beam, then the summary."""

from __future__ import annotations

import json
import os

import pytest

from fullchain.pipelines.config import load_config
from fullchain.pipelines.job_config import RunConfig
from fullchain.pipelines.real_text.corpus import PLANTED_FILE
from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl
from fullchain.pipelines.stage_job import run_stage
from fullchain.report.summary import summarize_run
from tests.stage_checks import parquet_rows


def planted_lines(truth) -> list[dict]:
    """The corpus's planted documents in the run folder's planted.json shape (docs/RUN.md)."""
    lines = [{"id": d.duplicate_id, "kind": f"{d.kind}_duplicate", "source_id": d.original_id} for d in truth.duplicates]
    return lines + [{"id": doc_id, "kind": f"junk_{kind}", "source_id": None} for doc_id, kind in truth.noisy.items()]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> tuple[str, int]:
    """(run folder, documents in its corpus)."""
    run = tmp_path_factory.mktemp("real") / "run"
    records, truth = generate_corpus(150, seed=5)
    os.makedirs(run / "corpus")
    write_jsonl(records, str(run / "corpus" / "corpus.jsonl.gz"))
    with open(run / "corpus" / PLANTED_FILE, "w") as fh:
        json.dump(planted_lines(truth), fh)
    # the corpus folder as a user would name it: planted.json beside the corpus is no input
    for stage, source in (("clean", "corpus"), ("dedup", "clean")):
        cfg = load_config(RunConfig, None, {"input": str(run / source), "output": str(run / stage),
                                            "runner_profile": "local"})
        run_stage(stage, cfg, ["--direct_num_workers=1"])
    return str(run), len(records)


def test_funnel_and_planted_catches_of_real_stage_folders(real_run):
    run_dir, documents = real_run
    summary = summarize_run(run_dir)
    clean, dedup = summary["funnel"]["stages"][:2]
    assert clean["input"] == clean["kept"] + clean["rejected_total"] == documents
    assert dedup["input"] == clean["kept"] and summary["funnel"]["stages"][2]["ran"] is False
    kinds = {k["kind"]: k for k in summary["planted"]["kinds"]}
    # an exact copy is dropped by clean with its original, or found by dedup (the copy or its source removed)
    exact = kinds["exact_duplicate"]
    assert exact["planted"] > 0 and exact["catch_rate"] == 1.0
    assert set(exact["by_stage"]) <= {"clean", "dedup"}
    assert exact["by_stage"].get("dedup", {}).keys() <= {"exact_duplicate", "exact_duplicate (source removed)"}
    for kind, entry in kinds.items():
        if kind.startswith("junk_"):
            assert set(entry["by_stage"]) <= {"clean"}, kind
    assert sum(k["planted"] for k in kinds.values()) == summary["planted"]["planted"]


def test_duplicate_clusters_of_real_dedup_output(real_run):
    run_dir, _ = real_run
    dedup = summarize_run(run_dir)["dedup"]
    removed = [r for r in parquet_rows(os.path.join(run_dir, "dedup"), "rejected") if r["duplicate_of"]]
    kept = {r["id"]: r["text"] for r in parquet_rows(os.path.join(run_dir, "dedup"), "data")}
    assert dedup["removed"] == len(removed) > 0
    assert sum((h["size"] - 1) * h["clusters"] for h in dedup["size_histogram"]) == len(removed)
    for example in dedup["examples"]:
        survivor = example["survivor"]
        assert survivor["id"] in kept and survivor["text"].lstrip("… ").rstrip(" …") in kept[survivor["id"]]
