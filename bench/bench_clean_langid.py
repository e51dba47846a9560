"""Clean's throughput against langdetect alone, on the same documents, in the same run.

    .venv/bin/python bench/bench_clean_langid.py --docs 20000 --processes 2 --rounds 3

The documents are the generated corpus (pipelines/sample_corpus.py), half English and half
Chinese (~2 KB each). Each round times, one after the other on the same documents and the same
worker processes: (a) langdetect alone, as clean called it before script-aware identification
(a seeded detector on the 500-character prefix of every document), and (b) the whole cleaner
(DocumentCleaner with the default settings: normalisation, script-aware language id, Gopher,
C4). Rounds interleave the two, so load from other work on the machine hits both alike; the
ratio of the medians is the figure, by wall time and by the workers' CPU time (steadier
on a shared machine). Beam (shuffle, Parquet) is not part of either side.
"""

from __future__ import annotations

import argparse
import statistics
import time
from multiprocessing import Pool

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from fullchain.pipelines.clean.cleaner import DocumentCleaner
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.clean.normalize import normalize
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus

_WORKER: dict = {}


def _setup() -> None:
    cfg = CleanConfig()
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(cfg.langid.seed)
    _WORKER.update(factory=factory, prefix=cfg.langid.prefix_chars, cleaner=DocumentCleaner(cfg))


def _langdetect_chunk(texts: list[str]) -> tuple[int, float]:
    start = time.process_time()
    factory, prefix = _WORKER["factory"], _WORKER["prefix"]
    for text in texts:
        detector = factory.create()
        # clean normalises before it identifies, so langdetect alone sees normalised text too
        detector.append(normalize(text)[:prefix])
        try:
            detector.get_probabilities()
        except LangDetectException:
            pass
    return len(texts), time.process_time() - start


def _clean_chunk(texts: list[str]) -> tuple[int, float]:
    start = time.process_time()
    cleaner = _WORKER["cleaner"]
    for i, text in enumerate(texts):
        cleaner(Document(id=str(i), text=text))
    return len(texts), time.process_time() - start


def _rates(pool: Pool, work, chunks: list[list[str]]) -> tuple[float, float]:
    """(wall docs/s of the pool, docs/s per CPU second of the workers)."""
    start = time.perf_counter()
    done = pool.map(work, chunks)
    wall = time.perf_counter() - start
    n = sum(count for count, _ in done)
    return n / wall, n / sum(cpu for _, cpu in done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    records, truth = generate_corpus(args.docs, seed=0, zh_fraction=0.5, exact_dup_fraction=0.0,
                                     near_dup_fraction=0.0, noise_fraction=0.0)
    texts = [r["text"] for r in records]
    chunk = max(1, len(texts) // (args.processes * 20))
    chunks = [texts[i:i + chunk] for i in range(0, len(texts), chunk)]
    print(f"{truth.summary()}; {sum(map(len, texts)) / len(texts):,.0f} chars/doc; "
          f"{args.processes} processes, {args.rounds} rounds")
    sides = {"langdetect alone": _langdetect_chunk, "clean": _clean_chunk}
    wall = {name: [] for name in sides}
    cpu = {name: [] for name in sides}
    with Pool(args.processes, initializer=_setup) as pool:
        for work in sides.values():  # warm both sides' caches
            pool.map(work, chunks[:args.processes])
        for _ in range(args.rounds):
            for name, work in sides.items():
                rate, per_cpu = _rates(pool, work, chunks)
                wall[name].append(rate)
                cpu[name].append(per_cpu)
    for name in sides:
        print(f"{name:<17} {statistics.median(wall[name]):>8,.0f} docs/s wall "
              f"(rounds: {', '.join(f'{v:,.0f}' for v in wall[name])}), "
              f"{statistics.median(cpu[name]):,.0f} docs per CPU second")
    for label, rates in (("wall", wall), ("CPU", cpu)):
        ratio = statistics.median(rates["clean"]) / statistics.median(rates["langdetect alone"])
        print(f"clean / langdetect alone ({label}): {ratio:.2f}x")


if __name__ == "__main__":
    main()
