"""`fullchain report DIR`: write the run report of a run folder and print where it is."""

from __future__ import annotations

import argparse
import json
import time

from fullchain.pipelines.config import add_config_flags, run_command
from fullchain.report.config import ReportConfig
from fullchain.report.run_layout import ReportError

DESCRIPTION = ("Write the run report of a fullchain run folder: DIR/report/index.html (figures as PNG, readable "
               "offline) and DIR/report/summary.json (every figure's numbers). Stages that did not run are named "
               "as such.")


def build_parser(command: str) -> argparse.ArgumentParser:
    """The parser of `fullchain report`, one flag per ReportConfig option."""
    parser = argparse.ArgumentParser(prog=f"fullchain {command}", description=DESCRIPTION,
                                     usage=f"fullchain {command} DIR [--config YAML] [OPTIONS]")
    parser.add_argument("run_dir", metavar="DIR", help="The run folder (the --output of fullchain run).")
    parser.add_argument("--config", metavar="YAML", help="Report config file; flags override its values.")
    add_config_flags(parser, ReportConfig)
    return parser


def _report(args: argparse.Namespace, config: ReportConfig) -> int:
    started = time.perf_counter()
    # matplotlib and pyarrow load only once the flags are known to be good
    from fullchain.report.summary import headline_table
    from fullchain.report.write import SUMMARY_FILE, write_report

    page = write_report(args.run_dir, config)
    with open(page.parent / SUMMARY_FILE, encoding="utf-8") as fh:
        print(headline_table(json.load(fh)))
    print(f"report: {page} (summary.json and the figures beside it; {time.perf_counter() - started:.1f}s)")
    return 0


def main(command: str, argv: list[str]) -> int:
    """Entry point of `fullchain report`; returns the exit status (2 with one line on stderr for a
    bad config, a DIR that is not a folder, or an unreadable file in it)."""
    return run_command(f"fullchain {command}", build_parser(command), ReportConfig, _report, argv,
                       failures={ReportError: 2})
