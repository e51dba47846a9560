"""fullchain dedup against datatrove's MinHash dedup and against the MinHash hashing ceiling, on the
same generated corpus, the same parameters (word 5-grams, 14 bands x 8 rows) and the same workers.

    .venv/bin/python bench/bench_datatrove.py --docs 50000 --workers 2 --json /tmp/dedup-vs-datatrove.json

- ceiling: datasketch's `MinHash(num_perm=112, seed=1).update_batch` over each document's word
  5-grams (the permutations fullchain's minhash.py takes from datasketch), in --workers processes:
  hashing only, no I/O, no grouping;
- fullchain: `fullchain dedup` on the local profile with --direct_num_workers=W, as configured by
  default (exact step and Jaccard verification on) and with both off ("lsh only", what datatrove does);
- datatrove: its four-step MinHash pipeline (signatures, buckets, clusters, filter) with
  LocalPipelineExecutor(workers=W), in its own virtual environment (--venv; created with
  `pip install datatrove tokenizers "xxhash<4"` when missing: its dependencies are not fullchain's).

Each figure is wall time of the whole job, start-up included, measured in the same run; documents
per second are N / seconds. The JSON (--json, also printed) is what `make bench` collects.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time

from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl

NGRAM, BANDS, ROWS, SEED = 5, 14, 8, 1
# datatrove's MinHash, JSONL and English word-tokenizer steps import regex, orjson and spacy
DATATROVE_PACKAGES = ["datatrove", "tokenizers", "xxhash<4", "regex", "orjson", "spacy"]

# Run by the datatrove venv's Python. The main guard matters: LocalPipelineExecutor starts
# its workers with multiprocessing, which re-imports this file in each of them.
DATATROVE_SCRIPT = '''
import json, sys, time
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig

if __name__ == "__main__":
    corpus, work, workers, tasks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    config = MinhashConfig(hash_config=HashConfig(precision=64), n_grams={ngram}, num_buckets={bands},
                           hashes_per_bucket={rows})
    start = time.perf_counter()
    signatures = LocalPipelineExecutor(pipeline=[
        JsonlReader(corpus, glob_pattern="*.jsonl.gz"),
        MinhashDedupSignature(output_folder=f"{{work}}/signatures", config=config)],
        tasks=tasks, workers=workers, logging_dir=f"{{work}}/logs/signatures")
    buckets = LocalPipelineExecutor(pipeline=[
        MinhashDedupBuckets(input_folder=f"{{work}}/signatures", output_folder=f"{{work}}/buckets", config=config)],
        tasks=config.num_buckets, workers=workers, logging_dir=f"{{work}}/logs/buckets", depends=signatures)
    clusters = LocalPipelineExecutor(pipeline=[
        MinhashDedupCluster(input_folder=f"{{work}}/buckets", output_folder=f"{{work}}/remove_ids", config=config)],
        tasks=1, logging_dir=f"{{work}}/logs/clusters", depends=buckets)
    kept = LocalPipelineExecutor(pipeline=[
        JsonlReader(corpus, glob_pattern="*.jsonl.gz"),
        MinhashDedupFilter(input_folder=f"{{work}}/remove_ids",
                           exclusion_writer=JsonlWriter(f"{{work}}/removed")),
        JsonlWriter(f"{{work}}/kept")],
        tasks=tasks, workers=workers, logging_dir=f"{{work}}/logs/filter", depends=clusters)
    kept.run()
    seconds = time.perf_counter() - start
    import glob, gzip
    removed = sum(1 for path in glob.glob(f"{{work}}/removed/*") for _ in gzip.open(path, "rt"))
    print(json.dumps({{"seconds": seconds, "removed": removed}}))
'''.format(ngram=NGRAM, bands=BANDS, rows=ROWS)


def ensure_venv(path: str) -> str:
    """The Python of a virtual environment at `path` with datatrove installed (created if missing)."""
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
    probe = subprocess.run([python, "-c", "import datatrove"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", *DATATROVE_PACKAGES], check=True)
    return python


def word_ngrams(text: str) -> list[bytes]:
    words = text.split()
    return [" ".join(words[i:i + NGRAM]).encode("utf-8") for i in range(max(len(words) - NGRAM + 1, 1))]


def _hash_chunk(texts: list[str]) -> int:
    from datasketch import MinHash

    for text in texts:
        MinHash(num_perm=BANDS * ROWS, seed=SEED).update_batch(word_ngrams(text))
    return len(texts)


def hashing_ceiling(texts: list[str], workers: int) -> float:
    """Seconds for datasketch MinHash of every text in `workers` processes (pool start excluded)."""
    chunks = [texts[i::workers * 8] for i in range(workers * 8)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.map(_hash_chunk, [texts[:10]] * workers)  # workers started and datasketch imported
        start = time.perf_counter()
        pool.map(_hash_chunk, chunks)
        return time.perf_counter() - start


def run_fullchain(corpus: str, output: str, workers: int, extra: list[str]) -> dict:
    """`fullchain dedup` as a user runs it; its seconds and what it removed."""
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "fullchain", "dedup", "--input", corpus, "--output", output, *extra,
               "--", f"--direct_num_workers={workers}"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    with open(os.path.join(output, "ledger.json")) as fh:
        ledger = json.load(fh)
    return {"seconds": round(seconds, 1), "removed": ledger["rejected_total"], "rejected": ledger["rejected"]}


def run_datatrove(python: str, corpus: str, work: str, workers: int, tasks: int) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    script = os.path.join(work, "run_datatrove.py")
    with open(script, "w") as fh:
        fh.write(DATATROVE_SCRIPT)
    start = time.perf_counter()
    proc = subprocess.run([python, script, corpus, work, str(workers), str(tasks)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"datatrove failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"seconds": round(seconds, 1), "pipeline_seconds": round(result["seconds"], 1),
            "removed": result["removed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/fullchain-bench-datatrove", help="scratch folder (replaced)")
    parser.add_argument("--venv", default="/tmp/fullchain-datatrove-venv", help="datatrove's virtual environment")
    parser.add_argument("--skip-datatrove", action="store_true", help="only the ceiling and fullchain")
    parser.add_argument("--json", default="", help="write the results here too")
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    corpus = os.path.join(args.workdir, "corpus")
    os.makedirs(corpus)
    records, _ = generate_corpus(args.docs, seed=0)
    for i in range(args.files):
        write_jsonl(records[i::args.files], os.path.join(corpus, f"part-{i:03d}.jsonl.gz"))
    texts = [r["text"] for r in records]
    del records

    results: dict = {"docs": args.docs, "files": args.files, "workers": args.workers,
                     "parameters": {"ngram": NGRAM, "bands": BANDS, "rows_per_band": ROWS},
                     "machine": f"{os.cpu_count()} cores (shared: figures are ratios measured in one run)"}
    ceiling_s = hashing_ceiling(texts, args.workers)
    results["ceiling"] = {"seconds": round(ceiling_s, 1), "docs_per_s": round(args.docs / ceiling_s)}
    runs = {"fullchain": [], "fullchain_lsh_only": ["--dedup.exact", "false", "--dedup.verify-jaccard", "false"]}
    for name, extra in runs.items():
        results[name] = run_fullchain(corpus, os.path.join(args.workdir, name), args.workers, extra)
    if not args.skip_datatrove:
        python = ensure_venv(args.venv)
        results["datatrove"] = run_datatrove(python, corpus, os.path.join(args.workdir, "datatrove"),
                                             args.workers, args.files)
    for name in ("fullchain", "fullchain_lsh_only", "datatrove"):
        if name in results:
            results[name]["docs_per_s"] = round(args.docs / results[name]["seconds"])
            results[name]["vs_ceiling"] = round(results[name]["docs_per_s"] / results["ceiling"]["docs_per_s"], 3)
    if "datatrove" in results:
        for name in ("fullchain", "fullchain_lsh_only"):
            results[name]["vs_datatrove"] = round(results["datatrove"]["seconds"] / results[name]["seconds"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
