"""The synonyms stage in Beam: `SynonymReplacement(cfg)` over a PCollection of Documents.

Every original is kept unchanged; a seeded share of the documents in `languages` (their `lang`
from clean, else detected as backtranslate does) gets one
augmentation, a copy with a share of its content words replaced by synonyms, added as a new
document (StageOutputs.added) and kept. A chosen document without a replaceable word gets none.
Nothing is rejected: a replacement cannot fail the way a round trip can. Counters are in the Beam
metrics namespace `fullchain.synonyms`.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from fullchain.pipelines.backtranslate.roundtrip import source_language
from fullchain.pipelines.clean.config import LangIdConfig
from fullchain.pipelines.clean.language import LanguageIdentifier
from fullchain.pipelines.stage_outputs import StageOutputs
from fullchain.pipelines.synonyms.augmentation import augment
from fullchain.pipelines.synonyms.config import METRICS_NAMESPACE, SynonymsConfig
from fullchain.pipelines.synonyms.lexicons import load_lexicon

METRIC_NAMES: tuple[str, ...] = (
    "input",  # documents in
    "other_language",  # passed through: not one of languages
    "already_augmented",  # passed through: made by an augmentation stage
    "not_selected",  # passed through: outside the seeded share
    "selected",  # chosen for augmentation
    "no_candidates",  # chosen, but without a replaceable word: no augmentation
    "generated",  # augmentations made (= added, all kept)
    "replaced_words",  # words replaced, over all augmentations
)
_ADDED = "added"


class _AugmentDoFn(beam.DoFn):
    """Passes every document on, and emits each augmentation both as kept (main) and as `added`."""

    def __init__(self, cfg: SynonymsConfig):
        self._cfg = cfg

    def setup(self):
        self._counters = {name: Metrics.counter(METRICS_NAMESPACE, name) for name in METRIC_NAMES}
        self._langid = None

    def process(self, doc):
        self._counters["input"].inc()
        yield doc
        cfg = self._cfg
        if not doc.lang and self._langid is None:
            # only documents that skipped clean lack a language (as in backtranslate)
            self._langid = LanguageIdentifier(LangIdConfig(languages=[], min_probability=None))
        lang = source_language(doc, self._langid)
        outcome = augment(doc, cfg, lambda code: load_lexicon(code, cfg.wordnet_dir, cfg.max_senses), lang)
        self._counters[outcome.status].inc()
        if outcome.document is not None:
            self._counters["selected"].inc()
            self._counters["replaced_words"].inc(outcome.document.meta["synonym_replacements"])
            yield outcome.document
            yield TaggedOutput(_ADDED, outcome.document)
        elif outcome.status == "no_candidates":
            self._counters["selected"].inc()


class SynonymReplacement(beam.PTransform):
    """PCollection[Document] -> StageOutputs(kept, rejected (always empty), added).

    Run `check_resources(cfg)` before building the pipeline (stage_job's preflight does).
    """

    def __init__(self, cfg: SynonymsConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, docs) -> StageOutputs:
        out = docs | "Augment" >> beam.ParDo(_AugmentDoFn(self._cfg)).with_outputs(_ADDED, main="kept")
        rejected = docs.pipeline | "NoRejections" >> beam.Create([])
        return StageOutputs(out.kept, rejected, out[_ADDED])
