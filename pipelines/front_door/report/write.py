"""write_report: the run report of a run folder, DIR/report/ (index.html, summary.json, *.png)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from fullchain.report.config import ReportConfig
from fullchain.report.figures import write_figures
from fullchain.report.page import render_page
from fullchain.report.run_layout import EVAL, REPORT
from fullchain.report.summary import summarize_run

SUMMARY_FILE = "summary.json"
PAGE_FILE = "index.html"


def write_report(run_dir: str | os.PathLike, cfg: ReportConfig | None = None) -> Path:
    """Read the run folder `run_dir`, write DIR/report/ and return the path of its index.html.

    The folder is built beside the old one and swapped in whole, so a report cut short never
    leaves a page pointing at figures of another run."""
    run_dir = str(run_dir)
    summary = summarize_run(run_dir, cfg)
    target = os.path.join(run_dir, REPORT)
    work = tempfile.mkdtemp(prefix=".report-", dir=run_dir)
    try:
        figures = write_figures(summary, work)
        if summary["eval"].get("figure"):
            # the evaluation draws its own comparison plot: the page shows a copy of it
            shutil.copy(os.path.join(run_dir, EVAL, summary["eval"]["figure"]), os.path.join(work, "eval_scores.png"))
            figures["eval_scores"] = "eval_scores.png"
        summary["figures"] = figures
        with open(os.path.join(work, SUMMARY_FILE), "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        with open(os.path.join(work, PAGE_FILE), "w", encoding="utf-8") as fh:
            fh.write(render_page(summary, figures))
        os.chmod(work, 0o755)
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Path(target, PAGE_FILE)
