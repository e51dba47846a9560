"""`fullchain run CONFIG --output DIR [--input GLOB] [--from STAGE] [--until STAGE] [--force STAGE]`."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from fullchain.pipelines.config import ConfigError

DESCRIPTION = ("Run the whole chain from one YAML file: corpus, clean, dedup, quality classifier and classify "
               "(when configured), reference LM, ppl-filter, "
               "backtranslate, shard, train (and LoRA), export, publish, serve, loadtest, report. Every stage "
               "writes DIR/<stage>/ as its own command would; a rerun skips what is complete and up to date and "
               "resumes a stage that was cut short (docs/RUN.md).")


def build_parser(stage_names: tuple[str, ...]) -> argparse.ArgumentParser:
    """The parser of `fullchain run`."""
    parser = argparse.ArgumentParser(prog="fullchain run", description=DESCRIPTION)
    parser.add_argument("config", metavar="CONFIG", help="The run's YAML file: one section per stage (docs/RUN.md).")
    parser.add_argument("--output", required=True, metavar="DIR", help="The run folder (created; resumed if it "
                                                                       "holds a run).")
    parser.add_argument("--input", default="", metavar="GLOB",
                        help="Your own data (comma-separated globs or folders of .jsonl[.gz], .parquet, .txt) "
                             "instead of the built-in corpus; nothing is planted then.")
    parser.add_argument("--from", dest="start", choices=stage_names, default=stage_names[0], metavar="STAGE",
                        help=f"Start at STAGE (those before it must be complete): {', '.join(stage_names)}.")
    parser.add_argument("--until", choices=stage_names, default=stage_names[-1], metavar="STAGE",
                        help="Stop after STAGE.")
    parser.add_argument("--force", action="append", choices=stage_names, default=[], metavar="STAGE",
                        help="Rerun STAGE and every stage after it even if complete (repeatable).")
    return parser


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM ends the run as Ctrl-C does: the running stage and the server are stopped cleanly
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(command: str, argv: list[str]) -> int:
    """Entry point of `fullchain run`; 2 with one line on stderr for a bad config, 1 for a failed stage."""
    from fullchain.chain.child_process import StageFailed
    from fullchain.chain.config import load_chain_config, refuse_run_owned
    from fullchain.chain.context import RunContext
    from fullchain.chain.record import RunRecord
    from fullchain.chain.runner import Selection, run_chain
    from fullchain.chain.stages import STAGE_NAMES, STAGES, config_sections

    args = build_parser(STAGE_NAMES).parse_args(argv)
    prog = f"fullchain {command}"
    order = list(STAGE_NAMES)
    user_input = ",".join(os.path.abspath(p.strip()) if "://" not in p else p.strip()
                          for p in args.input.split(",") if p.strip())
    try:
        if order.index(args.start) > order.index(args.until):
            raise ConfigError(f"--from {args.start} comes after --until {args.until}")
        config, present = load_chain_config(args.config, config_sections())
        for stage in STAGES:
            refuse_run_owned(config, args.config, stage.owned)
        if user_input and "quality_classifier" in present:
            raise ConfigError(f"{args.config}: the quality_classifier section trains from the run's own corpus, "
                              f"and --input replaces it; train yours with `fullchain classifier train` "
                              f"(docs/CLASSIFY.md), name it in classify.classifiers and drop the section")
    except ConfigError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    folder = os.path.abspath(args.output)
    ctx = RunContext(dir=folder, config_path=args.config, config=config, present=present, user_input=user_input,
                     record=RunRecord.open(folder))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run_chain(ctx, Selection(args.start, args.until, frozenset(args.force)))
    except StageFailed as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
