"""The `fullchain` command: one subcommand per stage.

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
from typing import Callable, Sequence

from fullchain.pipelines.config_flags import add_config_flags, config_overrides
from fullchain.pipelines.config_loader import ConfigError, load_config
from fullchain.pipelines.job_config import RunConfig

# command -> (stage, config sections it reads, help)
STAGE_COMMANDS = {
    "clean": ("clean", ("read", "clean"),
              "Normalise text, identify the language and drop low-quality documents (Gopher, C4, blocklist)."),
    "dedup": ("dedup", ("read", "dedup"),
              "Remove exact duplicates, then near duplicates with MinHash LSH; keep one document per cluster."),
    "ppl-filter": ("ppl_filter", ("read", "ppl_filter"),
                   "Score documents with a reference causal LM and keep them by perplexity (CCNet buckets)."),
    "backtranslate": ("backtranslate", ("read", "backtranslate"),
                      "Augment documents by translating to a pivot language and back, behind a quality gate."),
    "shard": ("shard", ("read", "shard"),
              "Tokenize kept documents into WebDataset tar shards (train/val) with a manifest.json."),
    "prepare": ("prepare", ("read", "clean", "dedup", "ppl_filter", "backtranslate", "shard", "prepare"),
                "Run clean, dedup, ppl-filter, backtranslate and shard as one Beam job from one config."),
}
RUN_FIELDS = ("input", "output", "runner_profile", "runners_file")

# Commands of the later stages: command -> (module with `main(command, argv) -> int`, help).
# They parse their own arguments; importing them (torch, DeepSpeed, ONNX Runtime) waits until used.
STAGE_PACKAGE_COMMANDS = {
    "train": ("fullchain.trainers.cli", "Train a Llama-architecture decoder on the shards with DeepSpeed (dp x pp x tp), "
                              "or fine-tune an HF model with LoRA; `train export-hf` writes an HF folder."),
    "export": ("fullchain.exporters.cli", "Export an HF causal LM to INT8 ONNX with a key/value cache and a validation report."),
    "publish": ("fullchain.deploy.cli", "Add an exported model as a new version to a Triton model repository."),
    "serve": ("fullchain.deploy.cli", "Serve a Triton model repository with a local Triton server."),
    "generate": ("fullchain.deploy.cli", "Generate text from a served model through Triton."),
    "loadtest": ("fullchain.deploy.cli", "Drive a served model at rising concurrency; report requests/s, tokens/s, latency."),
}


def _add_config_flags(parser: argparse.ArgumentParser, sections: Sequence[str]) -> None:
    def include(path: str) -> bool:
        return path.split(".")[0] in sections if "." in path else path in RUN_FIELDS

    add_config_flags(parser, RunConfig, include)


def _stage_parser(sub, name: str, help_text: str, sections: Sequence[str]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name, help=help_text, description=help_text,
        usage=f"fullchain {name} [--config YAML] [--input GLOB] [--output DIR] [OPTIONS] [-- BEAM_OPTIONS]",
        epilog="Beam options after `--` override the runner profile, e.g. `-- --direct_num_workers=2`.")
    parser.add_argument("--config", metavar="YAML", help="Run config file; flags override its values.")
    _add_config_flags(parser, sections)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `fullchain` command with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="fullchain",
        description="fullchain: take a raw text corpus to a served model. Each stage reads and writes files.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log Beam's progress messages too.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, (_, sections, help_text) in STAGE_COMMANDS.items():
        _stage_parser(sub, command, help_text, sections=sections)
    for command, (_, help_text) in STAGE_PACKAGE_COMMANDS.items():
        sub.add_parser(command, help=help_text, add_help=False)
    config = sub.add_parser("config", help="Print a run config file with every option's default and help.")
    config.add_argument("--sections", default=",".join(STAGE_COMMANDS["prepare"][1]),
                        help="Comma-separated config sections to include [default: all].")
    models = sub.add_parser("sample-models", help="Write tiny random-weight stand-ins for the reference LM and "
                                                  "the translation model (demo and tests; no download).")
    models.add_argument("--output", required=True, help="Folder to write lm/ and mt/ into.")
    sample = sub.add_parser("sample-corpus", help="Write a generated English/Chinese sample corpus with planted "
                                                  "duplicates and noisy documents (the demo input).")
    sample.add_argument("--output", required=True, help="File to write (.jsonl or .jsonl.gz).")
    sample.add_argument("--docs", type=int, default=5000, help="Number of documents [default: 5000].")
    sample.add_argument("--seed", type=int, default=0, help="Random seed [default: 0].")
    return parser


def _split_beam_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def run_data_stage(stage: str, args: argparse.Namespace, beam_args: list[str]) -> int:
    """Load the run config, run one stage (or prepare) and print its summary table."""
    from fullchain.pipelines.ledger import ledger_counter_values, ledger_table, prepare_table
    from fullchain.pipelines.shard.manifest import manifest_table
    from fullchain.pipelines.stage_job import run_stage

    cfg = load_config(RunConfig, args.config, config_overrides(args, RunConfig))
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
    from fullchain.pipelines.config_reference import commented_yaml

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    print(commented_yaml(RunConfig, sections))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fullchain` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in STAGE_PACKAGE_COMMANDS:
        import importlib

        module = importlib.import_module(STAGE_PACKAGE_COMMANDS[argv[0]][0])
        return module.main(argv[0], argv[1:])
    own, beam_args = _split_beam_args(argv)
    args = build_parser().parse_args(own)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        from fullchain.pipelines.worker_progress import show_worker_progress

        show_worker_progress()
    commands: dict[str, Callable[[], int]] = {
        **{command: (lambda s=stage: run_data_stage(s, args, beam_args))
           for command, (stage, _, _) in STAGE_COMMANDS.items()},
        "sample-models": lambda: _sample_models(args),
        "sample-corpus": lambda: _sample_corpus(args),
        "config": lambda: _print_config(args),
    }
    try:
        return commands[args.command]()
    except ConfigError as e:
        print(f"fullchain {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
