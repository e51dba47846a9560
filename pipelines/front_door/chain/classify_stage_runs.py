"""The chain's classifier stages: `quality-classifier` trains a quality classifier with
`fullchain classifier train` from the run's corpus, and `classify` scores dedup's output with it
(and with any classifier named in the `classify` section) and rejects low-quality documents.

The training sets, as CCNet and FineWeb-Edu built theirs from reference text against crawl:
positives are the corpus's original documents (planted copies and junk left out, by
DIR/corpus/planted.json); negatives are junk made by the generator that planted the corpus's junk
(with another seed) and, when the corpus is real text, template text of `fullchain sample-corpus`.
They are generated, not the planted documents themselves, but the generator is the same (docs/RUN.md).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import random
import sys
from dataclasses import dataclass
from typing import Any, Iterable

from fullchain.chain.child_process import StageFailed
from fullchain.chain.context import RunContext
from fullchain.chain.stage_runs import data_stage_config, ledger_figure, read_json, run_data_command, run_path_exists
from fullchain.pipelines.classify.train_config import ClassifierTrainConfig
from fullchain.pipelines.config import option

STAGE_FOLDER = "quality-classifier"
MODEL_FOLDER = os.path.join(STAGE_FOLDER, "model")
POSITIVE_FILE = os.path.join(STAGE_FOLDER, "positive.jsonl.gz")
NEGATIVE_FILE = os.path.join(STAGE_FOLDER, "negative.jsonl.gz")
# the name of the run's classifier in classify: meta.quality, reason classifier_quality
QUALITY = "quality"
# the seed of the generated negatives is apart from the corpus's, so they are other documents
_NEGATIVE_SEED_OFFSET = 1_000_003


@dataclass(kw_only=True)
class QualityClassifierConfig:
    """The quality classifier the run trains: its corpus's real text against generated junk and template text."""

    negative_documents: int = option(0, "Negative documents generated (0: as many as the positives); half junk, "
                                        "half template text when the corpus is real text, else all junk.")
    train: ClassifierTrainConfig = option(
        ClassifierTrainConfig(),
        "The training run (a `fullchain classifier train` config; its positive, negative and output are the run's).")

    def __post_init__(self) -> None:
        if self.negative_documents < 0:
            raise ValueError(f"negative_documents must be >= 0, got {self.negative_documents}")


def quality_classifier_wanted(ctx: RunContext) -> bool:
    """The run trains a quality classifier when its config has a `quality_classifier` section."""
    return "quality_classifier" in ctx.present


def negative_documents(n: int, seed: int, donors: list[str], with_template: bool) -> list[dict[str, Any]]:
    """`n` negative records {"id", "text"}: junk of every kind around words of `donors` (English
    texts), and template prose (English and Chinese) for half of them when `with_template`."""
    from fullchain.pipelines.real_text.planting import JUNK_KINDS, junk
    from fullchain.pipelines.sample_corpus import generate_corpus

    if not donors:
        raise ValueError("negative_documents: no donor text for the junk")
    rng = random.Random(seed + _NEGATIVE_SEED_OFFSET)
    n_template = n // 2 if with_template else 0
    texts = [junk(rng, JUNK_KINDS[k % len(JUNK_KINDS)], rng.choice(donors)) for k in range(n - n_template)]
    if n_template:
        records, _ = generate_corpus(n_template, seed=seed + _NEGATIVE_SEED_OFFSET, exact_dup_fraction=0.0,
                                     near_dup_fraction=0.0, noise_fraction=0.0)
        texts += [record["text"] for record in records]
    return [{"id": f"negative-{i}", "text": text} for i, text in enumerate(texts)]


def _write_jsonl_gz(records: Iterable[dict[str, Any]], path: str) -> int:
    written = 0
    # mtime 0: the same sets are the same bytes on every run
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for record in records:
            gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            written += 1
    return written


def _corpus_originals(ctx: RunContext) -> list[dict[str, Any]]:
    from fullchain.pipelines.real_text.corpus import CORPUS_FILE, read_planted

    planted = {row["id"] for row in read_planted(ctx.path("corpus")) or []}
    with gzip.open(ctx.path("corpus", CORPUS_FILE), "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    return [r for r in records if r["id"] not in planted]


def run_quality_classifier(ctx: RunContext) -> None:
    # the run's command line refuses --input with this section before any stage runs
    cfg = ctx.config.quality_classifier
    os.makedirs(ctx.path(STAGE_FOLDER), exist_ok=True)
    originals = _corpus_originals(ctx)
    donors = [r["text"] for r in originals if r.get("declared_lang") == "en"] or [r["text"] for r in originals]
    n = cfg.negative_documents or len(originals)
    positives = _write_jsonl_gz(({"id": r["id"], "text": r["text"]} for r in originals), ctx.path(POSITIVE_FILE))
    negatives = _write_jsonl_gz(negative_documents(n, ctx.config.corpus.seed, donors,
                                                   ctx.config.corpus.source == "real"), ctx.path(NEGATIVE_FILE))
    print(f"quality-classifier: {positives:,} positives (the corpus's originals) against {negatives:,} generated "
          f"negatives (junk{' and template text' if ctx.config.corpus.source == 'real' else ''}; the same "
          f"generator as the planted junk, other documents)", file=sys.stderr)
    train = dataclasses.replace(cfg.train, positive=POSITIVE_FILE, negative=NEGATIVE_FILE, output=MODEL_FOLDER)
    relative = ctx.write_config(STAGE_FOLDER, train)
    ctx.run_fullchain(STAGE_FOLDER, ["classifier", "train", "--config", relative])


def quality_classifier_complete(ctx: RunContext) -> bool:
    return run_path_exists(ctx, MODEL_FOLDER, "config.json")


def _heldout(ctx: RunContext) -> dict[str, Any]:
    return read_json(ctx.path(MODEL_FOLDER, "config.json"))["heldout_metrics"]


def _heldout_text(m: dict[str, Any]) -> str:
    return f"held-out precision {m['precision']:.3f}, recall {m['recall']:.3f}, AUC {m['auc']:.3f}"


def quality_classifier_figure(ctx: RunContext) -> dict[str, Any]:
    m = _heldout(ctx)
    return {"name": "heldout_f1", "value": m["f1"], "precision": m["precision"], "recall": m["recall"],
            "auc": m["auc"], "text": f"{_heldout_text(m)} ({m['positives']:,} / {m['negatives']:,} held out)"}


def classify_config(ctx: RunContext) -> Any:
    """The classify section with the user's folders made absolute and, when the run trains one, its
    quality classifier added with a keep filter on its positive label."""
    cfg = ctx.config.classify
    classifiers = {name: os.path.abspath(folder) for name, folder in cfg.classifiers.items()}
    filters = dict(cfg.filter)
    if quality_classifier_wanted(ctx):
        if QUALITY in classifiers:
            raise StageFailed(f"classify: classify.classifiers names '{QUALITY}', the name of the classifier the "
                              f"quality_classifier section trains; rename yours")
        classifiers[QUALITY] = MODEL_FOLDER
        filters[f"{QUALITY}.{ctx.config.quality_classifier.train.positive_label}"] = "keep"
    return dataclasses.replace(cfg, classifiers=classifiers, filter=filters)


def run_classify(ctx: RunContext) -> None:
    run_data_command(ctx, "classify", "classify", data_stage_config(ctx, "classify", "dedup", "classify",
                                                                   classify_config(ctx)))


def classify_figure(ctx: RunContext) -> dict[str, Any]:
    figure = ledger_figure("classify", "kept")(ctx)
    if quality_classifier_wanted(ctx):
        m = _heldout(ctx)
        figure.update(precision=m["precision"], recall=m["recall"],
                      text=f"{figure['text']} (quality: {_heldout_text(m)})")
    return figure

