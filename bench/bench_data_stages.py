"""Benchmark of the clean and dedup jobs on a generated corpus, with dedup precision and recall.

    .venv/bin/python bench/bench_data_stages.py --docs 50000

Generates N mixed English/Chinese documents of ~2 KB with planted exact and near duplicates at
known Jaccard similarity, runs `clean` and `dedup` as real Beam jobs on a runner profile
(default `local`: DirectRunner, one process per core), and prints docs/s for each and how well
dedup found the planted duplicates. Wall times include the job's start-up (a few seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time

import pyarrow.parquet as pq

from fullchain.pipelines.config import load_config
from fullchain.pipelines.job_config import RunConfig
from fullchain.pipelines.sample_corpus import CorpusTruth, generate_corpus, write_jsonl
from fullchain.pipelines.stage_job import run_stage
from fullchain.pipelines.worker_progress import show_worker_progress


def timed_stage(stage: str, input: str, output: str, profile: str, beam_args: list[str]) -> tuple[dict, float]:
    """Run one stage; returns its ledger and the wall time in seconds."""
    cfg = load_config(RunConfig, None, {"input": input, "output": output, "runner_profile": profile})
    start = time.perf_counter()
    outcome = run_stage(stage, cfg, beam_args)
    return outcome.ledger, time.perf_counter() - start


def survivor_of(dedup_output: str) -> dict[str, str]:
    """Each removed document's final survivor, following duplicate_of chains to a kept document."""
    parent = {}
    for name in os.listdir(os.path.join(dedup_output, "rejected")):
        table = pq.read_table(os.path.join(dedup_output, "rejected", name), columns=["id", "duplicate_of"])
        parent.update({r["id"]: r["duplicate_of"] for r in table.to_pylist() if r["duplicate_of"]})

    def root(doc_id: str) -> str:
        while doc_id in parent:
            doc_id = parent[doc_id]
        return doc_id

    return {doc_id: root(doc_id) for doc_id in parent}


def dedup_quality(truth: CorpusTruth, survivors: dict[str, str]) -> dict[str, float]:
    """Recall of planted pairs by Jaccard band, and precision: the share of removed (non-noise)
    documents whose survivor is in their planted family."""
    cluster = lambda doc_id: survivors.get(doc_id, doc_id)  # noqa: E731
    same = lambda d: cluster(d.original_id) == cluster(d.duplicate_id)  # noqa: E731
    near = [d for d in truth.duplicates if d.kind == "near"]
    high = [d for d in near if d.jaccard >= 0.85]
    low = [d for d in near if d.jaccard <= 0.5]
    exact = [d for d in truth.duplicates if d.kind == "exact"]
    family = {}
    for d in truth.duplicates:
        family[d.duplicate_id] = family.setdefault(d.original_id, d.original_id)
    # the generated boilerplate noise repeats itself by construction; score removals of real documents
    real = {doc: root for doc, root in survivors.items() if doc not in truth.noisy}
    correct = sum(family.get(doc, doc) == family.get(root, root) for doc, root in real.items())
    return {
        "exact_pairs": len(exact),
        "exact_recall": sum(map(same, exact)) / max(len(exact), 1),
        "near_pairs_j>=0.85": len(high),
        "recall_j>=0.85": sum(map(same, high)) / max(len(high), 1),
        "near_pairs_j<=0.5": len(low),
        "false_positive_rate_j<=0.5": sum(map(same, low)) / max(len(low), 1),
        "removed": len(survivors),
        "removed_noise": len(survivors) - len(real),
        "precision": correct / max(len(real), 1),
    }


def plot_detection_by_jaccard(truth: CorpusTruth, survivors: dict[str, str], bands: int, rows: int,
                              threshold: float, path: str) -> None:
    """PNG: share of planted near-duplicate pairs removed per Jaccard bin, against the LSH curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cluster = lambda doc_id: survivors.get(doc_id, doc_id)  # noqa: E731
    near = [d for d in truth.duplicates if d.kind == "near"]
    edges = np.arange(0.0, 1.0001, 0.05)
    centres, rates, counts = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = [d for d in near if lo <= d.jaccard < hi]
        if in_bin:
            centres.append((lo + hi) / 2)
            rates.append(sum(cluster(d.original_id) == cluster(d.duplicate_id) for d in in_bin) / len(in_bin))
            counts.append(len(in_bin))
    j = np.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(j, 1 - (1 - j ** rows) ** bands, color="0.6", label=f"LSH candidate probability ({bands}x{rows})")
    ax.axvline(threshold, color="0.3", linestyle=":", label=f"verification threshold {threshold:g}")
    ax.plot(centres, rates, "o-", color="tab:blue", label="planted pairs removed (measured)")
    for x, y, n in zip(centres, rates, counts):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xlabel("shingle Jaccard similarity of the planted pair")
    ax.set_ylabel("share removed as near duplicate")
    ax.set_title(f"dedup: detection of {len(near):,} planted near duplicates (numbers: pairs per bin)")
    ax.set_xlim(0.25, 1.0)
    ax.set_ylim(-0.03, 1.05)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000, help="documents to generate [50000]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="bench-output/data-stages", help="scratch folder (replaced)")
    parser.add_argument("--profile", default="local", help="runner profile [local]")
    parser.add_argument("beam_args", nargs="*", help="Beam options after --, e.g. -- --direct_num_workers=2")
    args = parser.parse_args()

    show_worker_progress()
    shutil.rmtree(args.workdir, ignore_errors=True)
    corpus = os.path.join(args.workdir, "corpus")
    os.makedirs(corpus)
    start = time.perf_counter()
    records, truth = generate_corpus(args.docs, seed=args.seed)
    write_jsonl(records, os.path.join(corpus, "corpus.jsonl.gz"))
    mean_bytes = sum(len(r["text"].encode()) for r in records) / len(records)
    print(f"generated {truth.summary()}; mean {mean_bytes:,.0f} bytes/doc in {time.perf_counter() - start:.1f} s")

    clean_ledger, clean_s = timed_stage("clean", corpus, os.path.join(args.workdir, "clean"), args.profile,
                                        args.beam_args)
    # dedup runs on the raw corpus, so every planted pair is there to be found
    dedup_out = os.path.join(args.workdir, "dedup")
    dedup_ledger, dedup_s = timed_stage("dedup", corpus, dedup_out, args.profile, args.beam_args)
    survivors = survivor_of(dedup_out)
    quality = dedup_quality(truth, survivors)
    dedup_cfg = load_config(RunConfig).dedup
    plot_path = os.path.join(args.workdir, "dedup_detection_by_jaccard.png")
    plot_detection_by_jaccard(truth, survivors, dedup_cfg.minhash.num_bands, dedup_cfg.minhash.rows_per_band,
                              dedup_cfg.jaccard_threshold, plot_path)

    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "profile": args.profile,
        "docs": args.docs,
        "mean_doc_bytes": round(mean_bytes),
        "clean_seconds": round(clean_s, 1),
        "clean_docs_per_s": round(args.docs / clean_s),
        "clean_kept": clean_ledger["kept"],
        "dedup_seconds": round(dedup_s, 1),
        "dedup_docs_per_s": round(args.docs / dedup_s),
        "dedup_rejected": dedup_ledger["rejected"],
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in quality.items()},
    }
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    with open(os.path.join(args.workdir, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2)
    print(f"plot: {plot_path}")


if __name__ == "__main__":
    main()
