"""`fullchain classifier train`: read two sets of documents, train, print the held-out table, write the folder."""

from __future__ import annotations

import argparse
import sys

from fullchain.pipelines.classify.train_config import ClassifierTrainConfig
from fullchain.pipelines.config import ConfigError, add_config_flags, run_command

PROG = "fullchain classifier"
SUBCOMMANDS = {"train": "Train a hashed word/character n-gram classifier from positive and negative documents."}


def build_parser() -> argparse.ArgumentParser:
    """The parser of `fullchain classifier train`."""
    parser = argparse.ArgumentParser(
        prog=f"{PROG} train", description=SUBCOMMANDS["train"],
        usage=f"{PROG} train [--config YAML] --positive GLOB --negative GLOB --output DIR [OPTIONS]")
    parser.add_argument("--config", metavar="YAML", help="Config file; flags override its values.")
    add_config_flags(parser, ClassifierTrainConfig, lambda path: True)
    return parser


def read_texts(spec: str, cfg: ClassifierTrainConfig, option_name: str) -> tuple[list[str], int]:
    """The texts of every document an input spec names, read as every stage reads its input, and the
    number of records the reader rejected. ConfigError when nothing usable is given."""
    from fullchain.pipelines.input_reading import ReadFile
    from fullchain.pipelines.document import Document
    from fullchain.pipelines.input_files import resolve_input

    if not spec:
        raise ConfigError(f"--{option_name} is not set: give the {option_name} documents (globs or folders)")
    texts, rejected = [], 0
    # the stage reader's own per-file parser, so training reads exactly what a stage would
    reader = ReadFile(cfg.read)
    for file in resolve_input(spec).files:
        for item in reader.process(file):
            if isinstance(item, Document):
                texts.append(item.text)
            else:
                rejected += 1
    return texts, rejected


def _train(args: argparse.Namespace, cfg: ClassifierTrainConfig) -> int:
    from tqdm import tqdm

    from fullchain.pipelines.classify.hashed_model import metrics_table, save_classifier
    from fullchain.pipelines.classify.roc_plot import write_roc_plot
    from fullchain.pipelines.classify.training import train_classifier

    if not cfg.output:
        raise ConfigError("--output is not set: give the folder to write the classifier into")
    positive, positive_rejected = read_texts(cfg.positive, cfg, "positive")
    negative, negative_rejected = read_texts(cfg.negative, cfg, "negative")
    if positive_rejected or negative_rejected:
        print(f"{PROG} train: skipped unreadable records: {positive_rejected} positive, {negative_rejected} "
              f"negative", file=sys.stderr)
    with tqdm(total=len(positive) + len(negative), desc="featurising", unit="doc", file=sys.stderr) as bar:
        try:
            trained = train_classifier(positive, negative, cfg.features.spec(), cfg.settings(), progress=bar.update)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    labels = (cfg.negative_label, cfg.positive_label)
    config_path = save_classifier(cfg.output, trained, labels, cfg.settings(), {
        "positive": cfg.positive, "negative": cfg.negative, "positive_documents": len(positive),
        "negative_documents": len(negative)})
    plot = write_roc_plot(cfg.output, trained, cfg.positive_label)
    print(metrics_table(trained.metrics, labels))
    print(f"output: {cfg.output} ({config_path}, held-out ROC curve {plot})")
    return 0


def main(argv: list[str]) -> int:
    """`fullchain classifier SUBCOMMAND ...`; 2 with one error line for a bad config or input."""
    parser = argparse.ArgumentParser(
        prog=PROG, usage=f"{PROG} train [--config YAML] --positive GLOB --negative GLOB --output DIR [OPTIONS]",
        epilog=f"`{PROG} train --help` lists every option.")
    sub = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    for name, help_text in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args = parser.parse_args(argv[:1])
    return run_command(f"{PROG} {args.subcommand}", build_parser(), ClassifierTrainConfig, _train, argv[1:])
