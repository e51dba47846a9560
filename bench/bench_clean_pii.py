"""PII detection in clean: precision and recall per kind, and the step's cost against the cleaner's.

    PYTHONPATH=. .venv/bin/python bench/bench_clean_pii.py --items 10000 --docs 2000

Quality: `--items` generated sentences (tests/clean/pii_samples.py: English and Chinese
alternately, 40% look-alike negatives), scored per kind. Speed: the generated corpus (half
English, half Chinese, ~1.5 KB), where every fourth document gets a sentence with personal data
appended; single process, CPU time, the PII finder alone against the whole cleaner (which runs it).
"""

from __future__ import annotations

import argparse
import random
import time

from fullchain.pipelines.clean.cleaner import DocumentCleaner
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.clean.normalize import normalize
from fullchain.pipelines.clean.pii import PII_KINDS, PiiFinder
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import generate_corpus
from tests.clean.pii_samples import generate_items, score


def _docs_per_cpu_s(work, items) -> float:
    start = time.process_time()
    for item in items:
        work(item)
    return len(items) / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--docs", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cfg = CleanConfig()
    finder = PiiFinder(PII_KINDS, tuple(cfg.pii.phone_regions))

    items = generate_items(args.items, seed=args.seed)
    print(f"| kind | positives | true positives | false positives | precision | recall |")
    print("|---|---|---|---|---|---|")
    for kind, c in score(finder, items).items():
        print(f"| `{kind}` | {c['tp'] + c['fn']} | {c['tp']} | {c['fp']} | {c['precision']:.4f} | {c['recall']:.4f} |")
    print(f"({len(items)} items, {sum(i.kind is None for i in items)} negatives, seed {args.seed})")

    records, _ = generate_corpus(args.docs, seed=0, zh_fraction=0.5, exact_dup_fraction=0.0,
                                 near_dup_fraction=0.0, noise_fraction=0.0)
    rng = random.Random(0)
    planted = [item.text for item in items if item.kind is not None]
    texts = [r["text"] + ("\n" + rng.choice(planted) if i % 4 == 0 else "") for i, r in enumerate(records)]
    normalized = [normalize(text) for text in texts]
    docs = [Document(id=str(i), text=text) for i, text in enumerate(texts)]
    cleaner = DocumentCleaner(cfg)
    for doc in docs[:50]:
        cleaner(doc)
    pii_rate = _docs_per_cpu_s(finder, normalized)
    clean_rate = _docs_per_cpu_s(cleaner, docs)
    chars = sum(map(len, texts)) / len(texts)
    print(f"PII finder alone: {pii_rate:,.0f} docs per CPU second; whole cleaner: {clean_rate:,.0f} "
          f"({len(docs)} docs, {chars:,.0f} chars/doc): PII is {100 * clean_rate / pii_rate:.1f}% of clean's time")


if __name__ == "__main__":
    main()
