"""The data-stage commands: `fullchain clean | dedup | classify | ppl-filter | backtranslate | synonyms | shard | prepare`
and the tools `config`, `sample-models`, `sample-corpus`, `classifier train` (dispatched from fullchain.cli).

Every config option of a stage is also a flag, generated from the config classes so that
defaults and help are written once: the YAML key `clean.gopher_quality.min_doc_words`
is the flag `--clean.gopher-quality.min-doc-words`. Flags override the `--config` file.
Beam options go after `--` and override the runner profile.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, NamedTuple, Sequence

from fullchain.pipelines.config import add_config_flags, run_command
from fullchain.pipelines.job_config import RunConfig


class StageCommand(NamedTuple):
    """A data-stage command: the stage it runs, the config sections it reads, its help line."""

    stage: str
    sections: tuple[str, ...]
    help: str


STAGE_COMMANDS = {
    "clean": StageCommand("clean", ("read", "clean"),
                          "Normalise text, identify the language and drop low-quality documents "
                          "(Gopher, C4, blocklist)."),
    "dedup": StageCommand("dedup", ("read", "dedup"),
                          "Remove exact duplicates, then near duplicates with MinHash LSH; keep one document "
                          "per cluster."),
    "classify": StageCommand("classify", ("read", "classify"),
                             "Score documents with quality/safety classifiers (trained or Hugging Face) and "
                             "annotate or filter them per label."),
    "ppl-filter": StageCommand("ppl_filter", ("read", "ppl_filter"),
                               "Score documents with a reference causal LM and keep them by perplexity "
                               "(CCNet buckets)."),
    "backtranslate": StageCommand("backtranslate", ("read", "backtranslate"),
                                  "Augment documents by translating to a pivot language and back, behind a "
                                  "quality gate."),
    "synonyms": StageCommand("synonyms", ("read", "synonyms"),
                             "Augment documents by replacing a share of their content words with synonyms "
                             "(WordNet for English, Cilin for Chinese)."),
    "decontaminate": StageCommand("decontaminate", ("read", "decontaminate"),
                                  "Drop documents that contain evaluation items (word 13-gram overlap with the "
                                  "fullchain eval suite or given item files), reason decontaminated."),
    "shard": StageCommand("shard", ("read", "shard"),
                          "Tokenize kept documents into WebDataset tar shards (train/val) with a manifest.json."),
    "prepare": StageCommand("prepare", ("read", "clean", "dedup", "classify", "ppl_filter", "backtranslate",
                                        "synonyms", "decontaminate", "shard", "prepare"),
                            "Run clean, dedup, (classify,) ppl-filter, backtranslate, (synonyms,) and shard as one "
                            "Beam job from one config."),
}
# command -> help line of the commands that write or print files for the stages
TOOL_COMMANDS = {
    "config": "Print a run config file with every option's default and help.",
    "sample-models": "Write tiny random-weight stand-ins for the reference LM and the translation model "
                     "(demo and tests; no download).",
    "sample-corpus": "Write a generated English/Chinese sample corpus with planted duplicates and noisy "
                     "documents (the demo input).",
    "classifier": "`classifier train`: train a fast hashed n-gram classifier from positive and negative "
                  "documents, for the classify stage.",
}
RUN_FIELDS = ("input", "output", "runner_profile", "runners_file")


def _add_config_flags(parser: argparse.ArgumentParser, sections: Sequence[str]) -> None:
    def include(path: str) -> bool:
        return path.split(".")[0] in sections if "." in path else path in RUN_FIELDS

    add_config_flags(parser, RunConfig, include)


def build_parser(command: str) -> argparse.ArgumentParser:
    """The argument parser of one data-stage or tool command."""
    prog = f"fullchain {command}"
    if command in STAGE_COMMANDS:
        spec = STAGE_COMMANDS[command]
        parser = argparse.ArgumentParser(
            prog=prog, description=spec.help,
            usage=f"{prog} [--config YAML] [--input GLOB] [--output DIR] [OPTIONS] [-- BEAM_OPTIONS]",
            epilog="Beam options after `--` override the runner profile, e.g. `-- --direct_num_workers=2`.")
        parser.add_argument("--config", metavar="YAML", help="Run config file; flags override its values.")
        _add_config_flags(parser, spec.sections)
        return parser
    parser = argparse.ArgumentParser(prog=prog)
    if command == "config":
        parser.add_argument("--sections", default=",".join(STAGE_COMMANDS["prepare"].sections),
                            help="Comma-separated config sections to include [default: all].")
    elif command == "sample-models":
        parser.add_argument("--output", required=True, help="Folder to write lm/ and mt/ into.")
    elif command == "sample-corpus":
        parser.add_argument("--output", required=True, help="File to write (.jsonl or .jsonl.gz).")
        parser.add_argument("--docs", type=int, default=5000, help="Number of documents [default: 5000].")
        parser.add_argument("--seed", type=int, default=0, help="Random seed [default: 0].")
    else:
        raise ValueError(f"not a data-stage command: {command!r}")
    return parser


def _split_beam_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def run_data_stage(stage: str, cfg: RunConfig, beam_args: list[str]) -> int:
    """Run one stage (or prepare) with its loaded run config and print its summary table."""
    from fullchain.pipelines.ledger import ledger_counter_values, ledger_table, prepare_table
    from fullchain.pipelines.shard.manifest import manifest_table
    from fullchain.pipelines.stage_job import run_stage

    outcome = run_stage(stage, cfg, beam_args)
    if outcome.ledger is None:
        print("dry run: the job graph was built and checked; nothing ran", file=sys.stderr)
        return 0
    if stage == "shard":
        print(manifest_table(outcome.ledger))
    elif stage == "prepare":
        print(prepare_table(outcome.ledger))
    else:
        print(ledger_table(outcome.ledger))
        if outcome.counters and outcome.counters != ledger_counter_values(outcome.ledger):
            # The ledger is counted from the data; metrics can be lost by a runner, the data cannot.
            print(f"warning: Beam metrics {outcome.counters} differ from the ledger", file=sys.stderr)
    print(f"output: {cfg.output}")
    return 0


def _sample_corpus(args: argparse.Namespace) -> int:
    from fullchain.pipelines.sample_corpus import write_sample_corpus

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    summary = write_sample_corpus(args.output, n_docs=args.docs, seed=args.seed)
    print(summary)
    return 0


def _sample_models(args: argparse.Namespace) -> int:
    from fullchain.pipelines.sample_models import tiny_causal_lm, tiny_seq2seq

    lm = tiny_causal_lm(os.path.join(args.output, "lm"))
    mt = tiny_seq2seq(os.path.join(args.output, "mt"))
    print(f"wrote {lm} (causal LM) and {mt} (translation model): random weights, for plumbing only")
    return 0


def _print_config(args: argparse.Namespace) -> int:
    from fullchain.pipelines.config import commented_yaml

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    print(commented_yaml(RunConfig, sections))
    return 0


TOOLS: dict[str, Callable[[argparse.Namespace], int]] = {
    "config": _print_config, "sample-models": _sample_models, "sample-corpus": _sample_corpus}


def main(command: str, argv: list[str]) -> int:
    """Run one data-stage or tool command; 2 with `fullchain <command>: error: ...` on stderr for a
    config, input or output the stage cannot use."""
    if command == "classifier":
        from fullchain.pipelines.classify.train_cli import main as classifier_main

        return classifier_main(argv)
    if command in TOOLS:
        return TOOLS[command](build_parser(command).parse_args(argv))
    if not logging.getLogger().isEnabledFor(logging.INFO):
        # with `fullchain -v` the workers' progress lines already reach the log
        from fullchain.pipelines.worker_progress import show_worker_progress

        show_worker_progress()
    own, beam_args = _split_beam_args(argv)
    stage = STAGE_COMMANDS[command].stage
    return run_command(f"fullchain {command}", build_parser(command), RunConfig,
                       lambda _, cfg: run_data_stage(stage, cfg, beam_args), own)
