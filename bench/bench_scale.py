"""Scale check of the data stages: the same job several times in a row, every ledger balanced and
every run's output identical.

    .venv/bin/python bench/bench_scale.py --docs 200000 --files 16 --runs 5 \
        --profiles local,portable --stages dedup,clean --json /tmp/scale.json

Generates the sample corpus (`fullchain sample-corpus`'s generator) split into --files .jsonl.gz
files (or uses --corpus, an existing folder; --write-corpus only writes one), then runs
`fullchain STAGE` as a user would (one process per run, under /usr/bin/time -v for the peak RSS)
for every profile and stage, --runs times. A run passes when it exits 0, its ledger.json is valid
and balances with input == the documents generated, and its kept and rejected rows hash the same
as the first run's (a digest of the rows sorted by id, so it does not depend on how rows fall into
part files). Prints a table and writes the results as JSON.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pyarrow.parquet as pq

from fullchain.pipelines.ledger import LedgerError, validate_ledger
from fullchain.pipelines.sample_corpus import generate_corpus, write_jsonl

FULLCHAIN = [sys.executable, "-m", "fullchain"]


def shifted(text: str, k: int) -> str:
    """`text` with a-z and A-Z rotated by `k` and other letters (CJK included) moved `k` code points
    where that is still a letter: a copy that shares no word with the original but keeps its
    duplicate structure (equal words stay equal)."""
    out = []
    for c in text:
        if "a" <= c <= "z" or "A" <= c <= "Z":
            base = 97 if c >= "a" else 65
            out.append(chr((ord(c) - base + k) % 26 + base))
        elif c.isalpha() and ord(c) >= 0xC0 and chr(ord(c) + k).isalpha():
            out.append(chr(ord(c) + k))
        else:
            out.append(c)
    return "".join(out)


def write_corpus(docs: int, files: int, folder: str, copies: int = 1) -> None:
    """The sample corpus of `docs` documents as `files` .jsonl.gz files (round-robin). With
    `copies` > 1, docs / copies documents are generated and written `copies` times, copy k with
    ids prefixed c<k>- and its text `shifted` by k (generating a million documents takes most of
    an hour; this takes minutes, and each copy has the corpus's duplicates)."""
    os.makedirs(folder, exist_ok=True)
    records, _ = generate_corpus(docs // copies, seed=0)
    if copies > 1:
        records = [dict(r, id=f"c{k}-{r['id']}", text=shifted(r["text"], k)) for k in range(copies) for r in records]
    for i in range(files):
        write_jsonl(records[i::files], os.path.join(folder, f"part-{i:03d}.jsonl.gz"))


def rows_digest(output: str) -> str:
    """sha256 over every kept and rejected row, sorted: equal for equal outputs however they are split."""
    rows = []
    for part in ("data", "rejected"):
        for path in sorted(glob.glob(os.path.join(output, part, "*.parquet"))):
            for row in pq.read_table(path).to_pylist():
                rows.append(part + json.dumps(row, sort_keys=True, ensure_ascii=False))
    digest = hashlib.sha256()
    for row in sorted(rows):
        digest.update(row.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def run_once(stage: str, profile: str, corpus: str, output: str, docs: int) -> dict:
    """One `fullchain STAGE` run: exit status, seconds, peak RSS, ledger check and output digest."""
    shutil.rmtree(output, ignore_errors=True)
    command = ["/usr/bin/time", "-v", *FULLCHAIN, stage, "--input", corpus, "--output", output,
               "--runner-profile", profile]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    result = {"stage": stage, "profile": profile, "rc": proc.returncode, "seconds": round(seconds, 1),
              "ms_per_doc": round(1000 * seconds / docs, 3),
              "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None}
    if proc.returncode != 0:
        result["error"] = [line for line in proc.stderr.splitlines() if "Error" in line][-1:]
        return result
    with open(os.path.join(output, "ledger.json")) as fh:
        ledger = json.load(fh)
    try:
        validate_ledger(ledger)
        result["balanced"] = ledger["input"] == docs
    except LedgerError as e:
        result["balanced"], result["error"] = False, str(e)
    result.update(input=ledger["input"], kept=ledger["kept"], rejected=ledger["rejected_total"],
                  digest=rows_digest(output))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profiles", default="local,portable")
    parser.add_argument("--stages", default="dedup,clean")
    parser.add_argument("--workdir", default="/tmp/fullchain-bench-scale", help="scratch folder (replaced)")
    parser.add_argument("--corpus", default="", help="an existing corpus folder of --docs documents (kept): "
                                                     "no corpus is generated")
    parser.add_argument("--copies", type=int, default=1, help="generate --docs / COPIES documents and write them "
                                                                "COPIES times, each copy's letters shifted")
    parser.add_argument("--write-corpus", default="", help="only write the corpus to this folder, run nothing")
    parser.add_argument("--json", default="", help="write the results here too")
    args = parser.parse_args()

    if args.write_corpus:
        write_corpus(args.docs, args.files, args.write_corpus, args.copies)
        return
    if args.corpus and os.path.abspath(args.corpus).startswith(os.path.abspath(args.workdir) + os.sep):
        parser.error("--corpus must not be inside --workdir, which is replaced")
    shutil.rmtree(args.workdir, ignore_errors=True)
    corpus = args.corpus or os.path.join(args.workdir, "corpus")
    if not args.corpus:
        write_corpus(args.docs, args.files, corpus, args.copies)
    results = []
    for profile in args.profiles.split(","):
        for stage in args.stages.split(","):
            for i in range(args.runs):
                result = run_once(stage, profile, corpus, os.path.join(args.workdir, f"{stage}-{profile}"), args.docs)
                result["run"] = i + 1
                results.append(result)
                print(json.dumps(result), flush=True)
    summary = {}
    for result in results:
        key = f"{result['stage']}/{result['profile']}"
        entry = summary.setdefault(key, {"runs": 0, "balanced": 0, "digests": set(), "seconds": [], "rss_mb": []})
        entry["runs"] += 1
        entry["balanced"] += bool(result.get("balanced"))
        entry["digests"].add(result.get("digest"))
        entry["seconds"].append(result["seconds"])
        entry["rss_mb"].append(result["peak_rss_mb"])
    print(f"\n{'stage/profile':<18}{'runs':>5}{'balanced':>10}{'identical':>11}{'seconds':>18}{'peak RSS MB':>18}")
    for key, entry in summary.items():
        identical = len(entry["digests"]) == 1 and None not in entry["digests"]
        entry["identical"] = identical
        entry["digests"] = sorted(d for d in entry["digests"] if d)
        print(f"{key:<18}{entry['runs']:>5}{entry['balanced']:>10}{str(identical):>11}"
              f"{min(entry['seconds']):>8.0f}-{max(entry['seconds']):<8.0f}"
              f"{min(r or 0 for r in entry['rss_mb']):>8}-{max(r or 0 for r in entry['rss_mb'])}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"docs": args.docs, "files": args.files, "runs": results, "summary": summary}, fh, indent=2)


if __name__ == "__main__":
    main()
