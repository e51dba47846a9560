"""Contamination of an evaluation, measured: each item of each task is marked clean or contaminated
by the n-gram index (fullchain.pipelines.decontaminate.ngram_index) over the training text, and each
task's metrics are recomputed on all items, the clean ones and the contaminated ones, with the
task's own aggregations from the harness."""

from __future__ import annotations

from typing import Any, Iterable

from lm_eval.api.registry import get_aggregation, get_metric_aggregation

from fullchain.pipelines.decontaminate.ngram_index import NgramIndex, contaminated_items, item_text


def item_id(task: str, doc_id: int) -> str:
    """The id of one item in the index: task/doc_id."""
    return f"{task}/{doc_id}"


def evaluation_items(samples: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Item id -> text, for every logged sample of the harness's output."""
    return {item_id(task, s["doc_id"]): item_text(s["doc"]) for task, rows in samples.items() for s in rows}


def find_contaminated(samples: dict[str, list[dict[str, Any]]], training: Iterable[str], ngram: int,
                      min_overlap: int) -> dict[str, int]:
    """Item id -> matched n-grams, for the contaminated items of the samples."""
    return contaminated_items(NgramIndex(evaluation_items(samples), ngram), training, min_overlap)


def _aggregation(metric: str, configs: dict[str, Any]) -> Any:
    for entry in configs.get("metric_list") or []:
        name = entry.get("metric")
        if (name if isinstance(name, str) else getattr(name, "__name__", "")) == metric:
            aggregation = entry.get("aggregation")
            if callable(aggregation):
                return aggregation
            if isinstance(aggregation, str):
                return get_aggregation(aggregation)
    return get_metric_aggregation(metric)


def split_scores(output: dict[str, Any], contaminated: dict[str, int]) -> dict[str, Any]:
    """Per task: items (all/clean/contaminated counts) and each metric on all, clean and
    contaminated items (None for an empty subset)."""
    report = {}
    for task, rows in output["samples"].items():
        config = output["configs"].get(task, {})
        dirty = [s for s in rows if item_id(task, s["doc_id"]) in contaminated]
        clean = [s for s in rows if item_id(task, s["doc_id"]) not in contaminated]
        metrics = {}
        for metric in rows[0]["metrics"] if rows else []:
            aggregate = _aggregation(metric, config)
            metrics[metric] = {name: (float(aggregate([s[metric] for s in subset])) if subset else None)
                               for name, subset in (("all", rows), ("clean", clean), ("contaminated", dirty))}
        report[task] = {"items": {"all": len(rows), "clean": len(clean), "contaminated": len(dirty)},
                        "contaminated_ids": sorted(s["doc_id"] for s in dirty), "metrics": metrics}
    return report
