"""The `fullchain` command: the top-level parser, and each command handed to its package's cli.

Every package's cli has the same entry point, `main(command, argv) -> int`, and parses its own
arguments (flags generated from its config classes, fullchain.pipelines.config):

- fullchain.pipelines.cli: clean, dedup, ppl-filter, backtranslate, shard, prepare, config,
  sample-models, sample-corpus
- fullchain.trainers.cli: train (and `train export-hf`)
- fullchain.exporters.cli: export
- fullchain.deploy.cli: publish, serve, generate, loadtest
- fullchain.report.cli: report
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from fullchain.deploy import cli as deploy_cli
from fullchain.exporters import cli as export_cli
from fullchain.pipelines import cli as data_cli

DESCRIPTION = "fullchain: take a raw text corpus to a served model. Each stage reads and writes files."


def _train(command: str, argv: list[str]) -> int:
    # the trainer's config classes load torch: only `fullchain train` pays for that import
    from fullchain.trainers import cli as train_cli

    return train_cli.main(command, argv)


def _run(command: str, argv: list[str]) -> int:
    # the chain imports every stage's config (torch among them): only `fullchain run` pays for it
    from fullchain.chain import cli as chain_cli

    return chain_cli.main(command, argv)


def _eval(command: str, argv: list[str]) -> int:
    # evaluation loads lm-evaluation-harness (and torch, ONNX Runtime): only `fullchain eval` pays for it
    from fullchain.evaluation import cli as eval_cli

    return eval_cli.main(command, argv)


def _report(command: str, argv: list[str]) -> int:
    # the report draws with matplotlib: only `fullchain report` pays for that import
    from fullchain.report import cli as report_cli

    return report_cli.main(command, argv)


# command -> (the `main(command, argv)` that runs it, its line in `fullchain --help`), in that order
COMMANDS: dict[str, tuple[Callable[[str, list[str]], int], str]] = {
    **{command: (data_cli.main, spec.help) for command, spec in data_cli.STAGE_COMMANDS.items()},
    "run": (_run, "Run the whole chain from one YAML file into one resumable run folder (docs/RUN.md)."),
    "train": (_train, "Train a Llama-architecture decoder on the shards with DeepSpeed (dp x pp x tp), "
                      "or fine-tune an HF model with LoRA; `train export-hf` writes an HF folder."),
    "export": (export_cli.main, "Export an HF causal LM to INT8 ONNX with a key/value cache and a validation "
                                "report."),
    "publish": (deploy_cli.main, "Add an exported model as a new version to a Triton model repository."),
    "serve": (deploy_cli.main, "Serve a Triton model repository with a local Triton server."),
    "generate": (deploy_cli.main, "Generate text from a served model through Triton."),
    "loadtest": (deploy_cli.main, "Drive a served model at rising concurrency; report requests/s, tokens/s, "
                                  "latency."),
    "eval": (_eval, "Evaluate HF, ONNX and served models with EleutherAI's evaluation harness on local tasks, "
                    "side by side (docs/EVALUATION.md)."),
    "report": (_report, "Write the run report of a run folder: DIR/report/index.html (figures) and summary.json."),
    **{command: (data_cli.main, help_text) for command, help_text in data_cli.TOOL_COMMANDS.items()},
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: the global options and the command (its arguments are its cli's)."""
    parser = argparse.ArgumentParser(prog="fullchain", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="Log Beam's progress messages too.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, (_, help_text) in COMMANDS.items():
        sub.add_parser(command, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fullchain` console script: `fullchain [-v] COMMAND [ARGS...]`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # what comes before the command is this parser's (--help, -v, a missing or unknown command)
    at = next((i for i, arg in enumerate(argv) if arg in COMMANDS), len(argv))
    args = build_parser().parse_args(argv[:at + 1])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    run, _ = COMMANDS[args.command]
    return run(args.command, argv[at + 1:])
