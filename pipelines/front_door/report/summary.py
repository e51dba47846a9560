"""The run report's content: everything the page shows, read from a run folder into one dict
(written as DIR/report/summary.json). Every figure and every number of the page comes from here."""

from __future__ import annotations

import os
from typing import Any, Callable

from fullchain.report import data_summary, model_summary
from fullchain.report.config import ReportConfig
from fullchain.report.lineage import lineage
from fullchain.report.roundtrip_summary import roundtrip_quality
from fullchain.report.run_layout import LORA, REFERENCE_LM_TRAIN, RUN_FILE, TRAIN, ReportError, read_json

FORMAT_VERSION = 1


def summarize_run(run_dir: str, cfg: ReportConfig | None = None) -> dict[str, Any]:
    """The summary of the run folder `run_dir`; a stage that did not run has a section
    {"ran": False, "note": ...}. Raises ReportError when `run_dir` is not a folder or one of its
    files is there but unreadable."""
    cfg = cfg or ReportConfig()
    if not os.path.isdir(run_dir):
        raise ReportError(f"{run_dir}: not a folder (give the --output folder of fullchain run)")
    return {
        "format_version": FORMAT_VERSION,
        "run_dir": os.path.abspath(run_dir),
        "run": run_record(run_dir),
        "funnel": data_summary.funnel(run_dir),
        "planted": data_summary.planted_catches(run_dir),
        "dedup": data_summary.duplicate_clusters(run_dir, cfg),
        "perplexity": data_summary.perplexity_distribution(run_dir, cfg),
        "backtranslation": roundtrip_quality(run_dir),
        "reference_lm": model_summary.training(run_dir, REFERENCE_LM_TRAIN),
        "train": model_summary.training(run_dir, TRAIN),
        "lora": model_summary.training(run_dir, LORA),
        "export": model_summary.export_table(run_dir),
        "serving": model_summary.serving(run_dir),
        "eval": model_summary.evaluation(run_dir),
        "lineage": lineage(run_dir),
    }


def run_record(run_dir: str) -> dict[str, Any]:
    """DIR/run.json's status and, per stage, status, seconds and key figure (docs/RUN.md)."""
    record = read_json(os.path.join(run_dir, RUN_FILE))
    if record is None:
        return {"ran": False, "note": f"no {RUN_FILE}: the stages were run one by one, not by fullchain run"}
    if not isinstance(record, dict) or not isinstance(record.get("stages", {}), dict):
        raise ReportError(f"{os.path.join(run_dir, RUN_FILE)}: not a run record (an object with 'stages')")
    stages = [{"stage": name, "status": entry.get("status"), "seconds": entry.get("seconds"),
               "key_figure": (entry.get("key_figure") or {}).get("text", "")}
              for name, entry in record.get("stages", {}).items()]
    return {"ran": True, "status": record.get("status"), "config": record.get("config"),
            "started": record.get("started"), "finished": record.get("finished"), "stages": stages}


def headline_table(summary: dict[str, Any]) -> str:
    """A few lines for the terminal: each section's key figure, or that it did not run."""
    def line(name: str, section: dict[str, Any], text: Callable[[dict[str, Any]], str]) -> str:
        return f"{name:<14}{text(section) if section.get('ran') else 'did not run'}"

    funnel_text = (lambda f: f"{f['input_documents']:,} documents -> "
                   + " -> ".join(f"{s['folder']} {s['kept']:,}" for s in f["stages"] if s["ran"])
                   + (f" -> shards {f['shard']['written']:,}" if f["shard"]["ran"] else ""))
    lines = [
        line("data", summary["funnel"], funnel_text),
        line("planted", summary["planted"], lambda p: f"{p['caught']:,} of {p['planted']:,} caught "
                                                      f"({100 * p['catch_rate']:.1f}%)"),
        line("dedup", summary["dedup"], lambda d: f"{d['removed']:,} removed in {d['clusters']:,} clusters"),
        line("train", summary["train"], _train_text),
        line("export", summary["export"], lambda e: ", ".join(
            f"{r['label']} {r['ms_per_token']:.2f} ms/token" for r in e["rows"] if r["ms_per_token"] is not None)),
        line("serving", summary["serving"], lambda s: f"peak {s['peak_tokens_per_s']:,.0f} tokens/s"),
        line("eval", summary["eval"], lambda e: f"{e['total_rows']} scores of {len(e['labels'])} model(s); release "
                                                f"gate: {e['gate'].get('decision') or 'did not run'}"),
    ]
    return "\n".join(lines)


def _train_text(train: dict[str, Any]) -> str:
    if "start_val_ppl" in train:
        return (f"{train['steps']:,} steps, validation perplexity {train['start_val_ppl']:.1f} untrained -> "
                f"{train['end_val_ppl']:.1f} trained")
    if "first_val_ppl" in train:
        return f"{train['steps']:,} steps, validation perplexity {train['first_val_ppl']:.1f} -> {train['last_val_ppl']:.1f}"
    return f"{train['steps']:,} steps"
