"""Cost of the synonyms stage's core on the CPU: lexicon loading, and documents per second per core.

    .venv/bin/python bench/bench_synonyms.py --docs 300

Every document is chosen (fraction 1) and gets its augmentation at the default synonym_ratio 0.1:
English documents of 2,048 characters (the sentences of bench_classify.py) with WordNet, and
Chinese documents of 550 characters with Cilin. Docs/s is CPU time of this process, so other
load on the machine affects it little; the loading times are wall clock.
"""

from __future__ import annotations

import argparse
import sys
import time

from fullchain.pipelines.document import Document
from fullchain.pipelines.synonyms.augmentation import augment
from fullchain.pipelines.synonyms.config import DEFAULT_WORDNET_DIR, SynonymsConfig
from fullchain.pipelines.synonyms.lexicons import load_lexicon

CHINESE = "这条穿过老城的河流，几百年来一直影响着两岸居民的生活。现在的河流安静了许多，但它在当地人的生活中依然非常重要。"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=300)
    args = parser.parse_args()
    sys.path.insert(0, "bench")
    from bench_classify import documents

    cfg = SynonymsConfig(fraction=1.0)
    lexicons = {}
    for lang in ("en", "zh"):
        start = time.perf_counter()
        lexicons[lang] = load_lexicon(lang, DEFAULT_WORDNET_DIR, cfg.max_senses)
        print(f"{lang}: lexicon loaded in {time.perf_counter() - start:.1f} s")
    corpora = {"en": [Document(id=f"e{i}", text=t, lang="en") for i, t in enumerate(documents(args.docs, 5))],
               "zh": [Document(id=f"z{i}", text=CHINESE * 10, lang="zh") for i in range(args.docs)]}
    for lang, docs in corpora.items():
        start = time.process_time()
        outcomes = [augment(doc, cfg, lexicons.get) for doc in docs]
        rate = len(docs) / (time.process_time() - start)
        replaced = sum(o.document.meta["synonym_replacements"] for o in outcomes if o.document is not None)
        size = sum(len(d.text.encode("utf-8")) for d in docs) / len(docs)
        print(f"{lang}: {rate:,.0f} docs/s per core (CPU time; {size:,.0f} bytes per document), "
              f"{sum(o.document is not None for o in outcomes)} augmentations, {replaced / len(docs):.1f} words "
              f"replaced per document")


if __name__ == "__main__":
    main()
