"""The chain as one table: a stage is one entry (its name, the stages it reads, its config sections,
how it runs, its completion marker and its key figure). Adding a stage is adding an entry; its
sections join the run's YAML by themselves (chain.config builds the root config from this table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from fullchain.chain import classify_stage_runs as classify
from fullchain.chain import release_stage_runs as release
from fullchain.chain import stage_runs as runs
from fullchain.chain.config import ChainSection
from fullchain.chain.context import RunContext
from fullchain.deploy.config import LoadtestConfig, PublishConfig, ServeConfig
from fullchain.evaluation.config import EvalConfig
from fullchain.exporters.config import ExportConfig
from fullchain.pipelines.backtranslate.config import BacktranslateConfig
from fullchain.pipelines.classify.config import ClassifyConfig
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.config import option
from fullchain.pipelines.dedup.config import DedupConfig
from fullchain.pipelines.job_config import ReadConfig
from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.real_text.config import CorpusConfig
from fullchain.pipelines.shard.config import ShardConfig
from fullchain.trainers.config import TrainConfig


@dataclass(kw_only=True)
class ReferenceLmConfig:
    """The small reference LM that ppl-filter scores with: shards of dedup's output and a training run."""

    shard: ShardConfig = option(ShardConfig(), "How dedup's output is tokenized for the reference LM.")
    train: TrainConfig = option(TrainConfig(), "The reference LM's training run (a fullchain train config).")


def _always(ctx: RunContext) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    """One stage of the chain.

    sections: the config sections it reads (section name -> typed config class); its fingerprint
    covers them. owned: dotted keys the run fills in (paths between stages), refused in the YAML.
    wanted: whether this run has the stage (LoRA only with a `lora` section); a stage that is not
    wanted is passed over, saying `not_wanted_because`, and the stages reading it read what it would
    have read."""

    name: str
    reads: tuple[str, ...]
    sections: dict[str, type]
    run: Callable[[RunContext], None]
    complete: Callable[[RunContext], bool]
    marker: str
    key_figure: Callable[[RunContext], dict[str, Any]]
    owned: tuple[str, ...] = ()
    wanted: Callable[[RunContext], bool] = _always
    not_wanted_because: str = ""


STAGES: tuple[Stage, ...] = (
    Stage("corpus", (), {"chain": ChainSection, "corpus": CorpusConfig}, runs.run_corpus, runs.corpus_complete,
          "corpus/corpus.json", runs.corpus_figure),
    Stage("clean", ("corpus",), {"read": ReadConfig, "clean": CleanConfig}, runs.run_clean,
          runs.ledger_complete("clean"), "clean/ledger.json", runs.ledger_figure("clean", "kept")),
    Stage("dedup", ("clean",), {"read": ReadConfig, "dedup": DedupConfig}, runs.run_dedup,
          runs.ledger_complete("dedup"), "dedup/ledger.json", runs.ledger_figure("dedup", "removed")),
    Stage("quality-classifier", ("corpus",), {"quality_classifier": classify.QualityClassifierConfig},
          classify.run_quality_classifier, classify.quality_classifier_complete, "quality-classifier/model/config.json",
          classify.quality_classifier_figure,
          owned=tuple(f"quality_classifier.train.{key}" for key in ("positive", "negative", "output")),
          wanted=classify.quality_classifier_wanted, not_wanted_because="the config has no quality_classifier section"),
    Stage("classify", ("dedup", "quality-classifier"), {"read": ReadConfig, "classify": ClassifyConfig},
          classify.run_classify, runs.ledger_complete("classify"), "classify/ledger.json", classify.classify_figure,
          wanted=runs.classify_wanted, not_wanted_because="the config has no classify or quality_classifier section"),
    Stage("reference-lm", ("dedup", "classify"), {"reference_lm": ReferenceLmConfig}, runs.run_reference_lm,
          runs.training_complete(runs.REFERENCE_RUN, "reference_lm.train"), "reference-lm/train/hf/config.json",
          runs.training_figure(runs.REFERENCE_RUN),
          owned=("reference_lm.train.output", "reference_lm.train.data.manifest"), wanted=runs.reference_lm_wanted,
          not_wanted_because="ppl_filter.model names a reference LM"),
    Stage("ppl-filter", ("dedup", "classify", "reference-lm"), {"read": ReadConfig, "ppl_filter": PerplexityConfig},
          runs.run_ppl_filter, runs.ledger_complete("ppl-filter"), "ppl-filter/ledger.json",
          runs.ledger_figure("ppl-filter", "kept")),
    Stage("backtranslate", ("ppl-filter",), {"read": ReadConfig, "backtranslate": BacktranslateConfig},
          runs.run_backtranslate, runs.ledger_complete("backtranslate"), "backtranslate/ledger.json",
          runs.ledger_figure("backtranslate", "added")),
    Stage("shard", ("backtranslate",), {"read": ReadConfig, "shard": ShardConfig}, runs.run_shard,
          runs.manifest_complete("shard"), "shard/manifest.json", runs.shard_figure),
    Stage("train", ("shard",), {"train": TrainConfig, "chain": ChainSection}, runs.run_train, runs.train_complete,
          "train/hf/config.json", runs.training_figure("train"), owned=("train.output", "train.data.manifest")),
    Stage("lora", ("train", "shard"), {"lora": TrainConfig, "chain": ChainSection}, runs.run_lora,
          runs.training_complete("lora", "lora"), "lora/hf/config.json", runs.training_figure("lora"),
          owned=("lora.output", "lora.data.manifest", "lora.lora.base_model"), wanted=runs.lora_wanted,
          not_wanted_because="the config has no lora section"),
    Stage("export", ("train", "lora", "shard"), {"export": ExportConfig}, runs.run_export, runs.export_complete,
          "export/export.json",
          runs.export_figure, owned=("export.validation.manifest",)),
    Stage("eval", ("train", "lora", "export"), {"eval": EvalConfig}, release.run_eval, release.eval_complete,
          release.EVAL_COMPARISON, release.eval_figure),
    Stage("publish", ("export", "eval"), {"publish": PublishConfig}, release.run_publish, release.publish_complete,
          "publish/<name>/<version>/", release.publish_figure, owned=("publish.repository", "publish.gate.evaluation")),
    Stage("serve", ("publish",), {"serve": ServeConfig, "chain": ChainSection}, release.run_serve, release.serve_complete,
          "serve/smoke.json", release.serve_figure, owned=("serve.repository",)),
    Stage("served-eval", ("export", "serve"), {"eval": EvalConfig}, release.run_served_eval,
          release.served_eval_complete, release.SERVED_COMPARISON, release.served_eval_figure),
    Stage("loadtest", ("serve",), {"loadtest": LoadtestConfig}, release.run_loadtest, release.loadtest_complete,
          "loadtest/loadtest.json", release.loadtest_figure, owned=("loadtest.url", "loadtest.output")),
    Stage("report", ("corpus", "clean", "dedup", "quality-classifier", "classify", "reference-lm", "ppl-filter",
                     "backtranslate", "shard", "train",
                     "lora", "export", "eval", "publish", "serve", "served-eval", "loadtest"), {}, release.run_report, release.report_complete,
          "report/index.html", release.report_figure),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def config_sections() -> list[tuple[str, type]]:
    """Every (section, config class) of the table, each once, in table order."""
    seen: dict[str, type] = {}
    for stage in STAGES:
        for name, cls in stage.sections.items():
            seen.setdefault(name, cls)
    return list(seen.items())
