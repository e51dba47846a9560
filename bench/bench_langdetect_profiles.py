"""clean's language identifier (langdetect_profiles.ProfileDetector) against langdetect's own detector:
CPU per text and agreement, on the same texts, in one process.

    .venv/bin/python bench/bench_langdetect_profiles.py --docs 2000 --trials 3

The texts: the first 500 characters (clean's prefix) of every register of tests/clean/data/
langid_registers.jsonl (real man pages and fortunes in several languages) and of --docs generated
documents (`fullchain sample-corpus`'s generator). Both detectors use seed 0 and --trials trials;
each text is detected once by each (ProfileDetector's word cache starts empty). Prints ms per
text for each, the speed-up, how many texts got different languages and the largest difference
of a probability.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from fullchain.pipelines.clean.langdetect_profiles import ProfileDetector
from fullchain.pipelines.sample_corpus import generate_corpus

REGISTERS = Path(__file__).resolve().parent.parent / "tests" / "clean" / "data" / "langid_registers.jsonl"


def texts(docs: int) -> list[str]:
    rows = [json.loads(line) for line in REGISTERS.read_text(encoding="utf-8").splitlines()]
    records, _ = generate_corpus(docs, seed=3)
    return [row["text"][:500] for row in rows] + [r["text"][:500] for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    sample = texts(args.docs)
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    start = time.perf_counter()
    ours = ProfileDetector(PROFILES_DIRECTORY, 0, args.trials)
    load_s = time.perf_counter() - start

    def langdetect(text: str) -> list[tuple[str, float]]:
        detector = factory.create()
        detector.n_trial = args.trials
        detector.append(text)
        try:
            return [(item.lang, item.prob) for item in detector.get_probabilities()]
        except LangDetectException:
            return []

    start = time.perf_counter()
    expected = [langdetect(t) for t in sample]
    theirs_s = time.perf_counter() - start
    start = time.perf_counter()
    got = [ours.probabilities(t) for t in sample]
    ours_s = time.perf_counter() - start
    differ, largest = 0, 0.0
    for a, b in zip(expected, got):
        if [lang for lang, _ in a] != [lang for lang, _ in b]:
            differ += 1
        else:
            largest = max([largest] + [abs(p - q) for (_, p), (_, q) in zip(a, b)])
    n = len(sample)
    print(f"{n} texts, {args.trials} trials; ProfileDetector loads in {load_s:.2f} s")
    print(f"langdetect       {theirs_s / n * 1e3:.3f} ms per text")
    print(f"ProfileDetector  {ours_s / n * 1e3:.3f} ms per text ({theirs_s / ours_s:.2f}x)")
    print(f"texts with other languages: {differ}; largest probability difference: {largest:.2g}")


if __name__ == "__main__":
    main()
