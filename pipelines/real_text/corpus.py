"""The corpus a run starts from, written into one folder (docs/RUN.md, `corpus` stage):

    corpus.jsonl.gz   the documents, {"id", "text", "declared_lang", "origin"}, in a seeded order
    planted.json      a list, one entry per planted document: {"id", "kind", "source_id"}
                      (JSON, not JSON lines: a stage given this folder as its input reads
                      only the corpus, never the truth about it)
    corpus.json       what was written: sources and licences, documents, planted counts, sha256s

written last, so a folder without corpus.json is a write that was cut short.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from collections import Counter
from typing import Any

from fullchain.pipelines.real_text.config import CorpusConfig
from fullchain.pipelines.real_text.planting import Original, plant
from fullchain.pipelines.real_text.sources import Source, available_sources

CORPUS_FILE = "corpus.jsonl.gz"
PLANTED_FILE = "planted.json"
SUMMARY_FILE = "corpus.json"
TEMPLATE_DOCUMENTS = 5000


def read_planted(folder: str) -> list[dict[str, Any]] | None:
    """The planted documents recorded in a corpus folder, or None when it has no planted.json
    (the user's own input plants nothing)."""
    path = os.path.join(folder, PLANTED_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class CorpusError(ValueError):
    """A corpus that cannot be built; the message is one line."""


def documents_of(source: Source, doc_chars: int) -> list[Original]:
    """Consecutive passages of one source joined (blank line between) into documents of about
    `doc_chars` characters; a short tail joins the document before it."""
    docs: list[list[str]] = [[]]
    size = 0
    for passage in source.passages:
        if size >= doc_chars:
            docs.append([])
            size = 0
        docs[-1].append(passage)
        size += len(passage)
    if len(docs) > 1 and sum(map(len, docs[-1])) < doc_chars // 3:
        docs[-2] += docs.pop()
    return [Original("\n\n".join(d) + "\n", source.lang, source.name) for d in docs if d]


def _real_records(cfg: CorpusConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    sources, missing = available_sources()
    if not sources:
        raise CorpusError("no real text found on this machine: " + "; ".join(missing))
    rng = random.Random(cfg.seed)
    originals = [doc for source in sources for doc in documents_of(source, cfg.doc_chars)]
    rng.shuffle(originals)
    if cfg.documents:
        originals = originals[:cfg.documents]
    planted = plant(rng, originals, cfg.exact_duplicate_fraction, cfg.near_duplicate_fraction, cfg.junk_fraction)
    entries = [(o.text, o.lang, o.source, "", -1) for o in originals]
    entries += [(p.text, p.lang, originals[p.original].source if p.original >= 0 else "planted", p.kind,
                 p.original) for p in planted]
    order = list(range(len(entries)))
    rng.shuffle(order)  # copies get ids before and after their originals
    width = len(str(len(entries)))
    ids = {index: f"doc-{position:0{width}d}" for position, index in enumerate(order)}
    records = [{"id": ids[i], "text": entries[i][0], "declared_lang": entries[i][1], "origin": entries[i][2]}
               for i in order]
    truth = [{"id": ids[i], "kind": entries[i][3], "source_id": ids[entries[i][4]] if entries[i][4] >= 0 else None}
             for i in order if entries[i][3]]
    used = Counter(o.source for o in originals)
    info = {"sources": [{"name": s.name, "lang": s.lang, "licence": s.licence, "origin": s.origin,
                         "chars": s.chars, "documents": used.get(s.name, 0)} for s in sources],
            "missing_sources": missing}
    return records, truth, info


def _template_records(cfg: CorpusConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    from fullchain.pipelines.sample_corpus import generate_corpus

    n = cfg.documents or TEMPLATE_DOCUMENTS
    records, truth = generate_corpus(n, seed=cfg.seed, exact_dup_fraction=cfg.exact_duplicate_fraction,
                                     near_dup_fraction=cfg.near_duplicate_fraction, noise_fraction=cfg.junk_fraction)
    for record in records:
        record["declared_lang"] = truth.languages[record["id"]]
    planted = [{"id": d.duplicate_id, "kind": f"{d.kind}_duplicate", "source_id": d.original_id}
               for d in truth.duplicates]
    planted += [{"id": doc_id, "kind": f"junk_{kind}", "source_id": None} for doc_id, kind in truth.noisy.items()]
    info = {"sources": [{"name": "template", "lang": "en+zh", "licence": "generated",
                         "origin": "fullchain.pipelines.sample_corpus", "chars": sum(len(r["text"]) for r in records),
                         "documents": len(records)}], "missing_sources": []}
    return records, sorted(planted, key=lambda p: p["id"]), info


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_corpus(cfg: CorpusConfig, folder: str) -> dict[str, Any]:
    """Build the corpus of `cfg` into `folder` (its old contents replaced); returns corpus.json's content."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    build = _real_records if cfg.source == "real" else _template_records
    records, planted, info = build(cfg)
    corpus_path = os.path.join(folder, CORPUS_FILE)
    # mtime 0 in the gzip header: the same corpus is the same bytes on every run
    with open(corpus_path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for record in records:
            gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
    planted_path = os.path.join(folder, PLANTED_FILE)
    with open(planted_path, "w", encoding="utf-8") as fh:
        json.dump(planted, fh, ensure_ascii=False, indent=1)
    languages = Counter(r["declared_lang"] for r in records)
    summary = {"source": cfg.source, "seed": cfg.seed, "documents": len(records),
               "languages": dict(sorted(languages.items())),
               "chars": sum(len(r["text"]) for r in records),
               "planted": dict(sorted(Counter(p["kind"] for p in planted).items())), **info,
               "files": {CORPUS_FILE: _sha256(corpus_path), PLANTED_FILE: _sha256(planted_path)}}
    tmp = os.path.join(folder, f".{SUMMARY_FILE}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, ensure_ascii=False)
    os.replace(tmp, os.path.join(folder, SUMMARY_FILE))
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """One line: documents per language and planted documents per kind."""
    langs = ", ".join(f"{n} {lang or 'none'}" for lang, n in summary["languages"].items())
    planted = ", ".join(f"{n} {kind}" for kind, n in summary["planted"].items()) or "nothing"
    return f"{summary['documents']} documents ({langs}; {summary['chars']:,} characters), planted: {planted}"
