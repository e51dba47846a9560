"""Single-process cost of the clean and dedup cores, without Beam: where a stage's time goes.

    .venv/bin/python bench/bench_stage_cores.py --docs 5000

Prints, for the generated corpus: the cleaner's milliseconds per document with and without
language identification (English and Chinese separately), and dedup's signature throughput
(shingles + MinHash + LSH band keys) in documents per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from fullchain.pipelines.clean.cleaner import DocumentCleaner
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.dedup.lsh import band_keys
from fullchain.pipelines.dedup.minhash import minhash_signatures
from fullchain.pipelines.dedup.shingles import shingle_sets
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus


def ms_per_doc(cleaner: DocumentCleaner, docs: list[Document]) -> float:
    """Mean wall milliseconds of one cleaner call, best of three passes."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for doc in docs:
            cleaner(doc)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(docs)


def signature_docs_per_s(texts: list[str], cfg: DedupConfig) -> float:
    """Documents per second through shingling, MinHash and band keys in batches of cfg.minhash.batch_size."""
    batch = cfg.minhash.batch_size
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        sets = shingle_sets(texts[i:i + batch], cfg.shingles)
        band_keys(minhash_signatures(sets, cfg.minhash), cfg.minhash)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=5000)
    args = parser.parse_args()
    records, truth = generate_corpus(args.docs, seed=0, noise_fraction=0.0)
    docs = [Document(id=r["id"], text=r["text"]) for r in records]
    by_lang = {lang: [d for d in docs if truth.languages[d.id] == lang] for lang in ("en", "zh")}
    with_langid = DocumentCleaner(CleanConfig())
    base = CleanConfig()
    without_langid = DocumentCleaner(dataclasses.replace(base, langid=dataclasses.replace(base.langid, enabled=False)))
    for lang, subset in by_lang.items():
        chars = sum(len(d.text) for d in subset) / len(subset)
        print(f"clean {lang}: {ms_per_doc(with_langid, subset):.2f} ms/doc with langid, "
              f"{ms_per_doc(without_langid, subset):.2f} ms/doc without ({chars:,.0f} chars/doc, {len(subset)} docs)")
    rate = signature_docs_per_s([d.text for d in docs], DedupConfig())
    print(f"dedup signatures (shingles + 112-permutation MinHash + 14 band keys): {rate:,.0f} docs/s")


if __name__ == "__main__":
    main()
