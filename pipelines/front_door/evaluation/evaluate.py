"""`evaluate_models`: the harness run behind `fullchain eval`, from checked inputs to the files.

Order: check the tasks, the models (kind of folder, reachable server), the training text of the
contamination check and the output folder; load every model; then run the harness per model
(`lm_eval.simple_evaluate` with the model object and the checked task dicts), mark contaminated
items, and write, per model, results.json (the harness's output; samples in samples/<task>.jsonl)
plus one comparison (table, comparison.json, PNG) over all of them.

One model: OUT/results.json, OUT/samples/, OUT/scores.png.
Several:   OUT/<label>/results.json and samples/ each, OUT/comparison.json, OUT/comparison.png.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from fullchain.evaluation.backends import register
from fullchain.evaluation.config import EvalConfig
from fullchain.evaluation.contamination import find_contaminated, split_scores
from fullchain.evaluation.harness_lm import BackendError
from fullchain.evaluation.model_spec import ModelSpec, model_specs
from fullchain.evaluation.perplexity_data import perplexity_tasks
from fullchain.evaluation.summary import comparison, plot, table_text, task_scores
from fullchain.evaluation.task_files import resolve_tasks
from fullchain.pipelines.decontaminate.training_text import TrainingTextError, documents, source_kind

RESULTS_FILE = "results.json"
COMPARISON_FILE = "comparison.json"
COMPARISON_FORMAT = "fullchain-eval-comparison"
Progress = Callable[[str], None]


class EvaluationError(ValueError):
    """An evaluation that cannot start or whose output cannot be written; one line."""


def evaluate_models(models: list[str], output: str, config: EvalConfig,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate every MODEL on the configured tasks and write OUTPUT (see the module docstring);
    returns the comparison (labels, table, text). Raises EvaluationError, BackendError or
    TaskFileError in one line before any model is loaded when an input is wrong."""
    say = progress or (lambda line: None)
    started = time.perf_counter()
    target = Path(output)
    _check_output(target, config.overwrite)
    tasks = resolve_tasks(config.tasks, config.include)
    specs = model_specs(models, config.served_export, config.batch_size, config.threads)
    for source in config.contamination.training:
        try:
            source_kind(source)
        except TrainingTextError as e:
            raise EvaluationError(f"contamination.training: {e}") from None
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    register()
    scratch = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        try:
            tasks += perplexity_tasks(config.perplexity, scratch / "perplexity-data")
        except TrainingTextError as e:
            raise EvaluationError(f"perplexity.data: {e}") from None
        lms = []
        for spec in specs:
            say(f"[{time.perf_counter() - started:6.1f}s] loading {spec.label}: {spec.source}")
            lms.append(_load(spec))
        per_model, contamination = {}, {}
        for number, (spec, lm) in enumerate(zip(specs, lms), 1):
            say(f"[{time.perf_counter() - started:6.1f}s] model {number}/{len(specs)} {spec.label}: "
                f"{len(tasks)} tasks")
            folder = scratch if len(specs) == 1 else scratch / spec.label
            output_of_model = _evaluate(lm, tasks, config)
            if config.contamination.training:
                if not contamination:
                    say(f"[{time.perf_counter() - started:6.1f}s] contamination: {config.contamination.ngram}-grams "
                        f"of the items over {', '.join(config.contamination.training)}")
                    contamination = _contaminated(output_of_model, config)
                output_of_model["fullchain_contamination"] = {
                    "ngram": config.contamination.ngram, "min_overlap": config.contamination.min_overlap,
                    "training": config.contamination.training,
                    "tasks": split_scores(output_of_model, contamination)}
            _write_results(folder, output_of_model, spec)
            per_model[spec.label] = task_scores(output_of_model["results"])
        labels = [spec.label for spec in specs]
        table = comparison(per_model)
        summary = {"format": COMPARISON_FORMAT, "models": [_describe(spec) for spec in specs], "labels": labels,
                   "tasks": [t["task"] for t in tasks], "scores": table}
        name = "scores" if len(specs) == 1 else "comparison"
        (scratch / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        plot(table, labels, scratch / f"{name}.png", f"fullchain eval: {', '.join(labels)}")
        _move_into_place(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    say(f"[{time.perf_counter() - started:6.1f}s] done")
    return {**summary, "text": table_text(table, labels)}


def _load(spec: ModelSpec) -> Any:
    from lm_eval.api.registry import get_model

    try:
        return get_model(spec.backend)(**spec.args)
    except BackendError as e:
        raise BackendError(f"{spec.source}: {e}") from None


def _evaluate(lm: Any, tasks: list[dict[str, Any]], config: EvalConfig) -> dict[str, Any]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    # the tasks go in as checked dicts: indexing the harness's 14,000 built-in task files (a minute) buys nothing
    output = lm_eval.simple_evaluate(model=lm, tasks=[dict(t) for t in tasks], num_fewshot=config.num_fewshot or None,
                                     limit=config.limit or None, bootstrap_iters=config.bootstrap_iters,
                                     log_samples=True, task_manager=TaskManager(include_defaults=False))
    if output is None:
        raise EvaluationError("the harness returned no results")
    return output


def _contaminated(output: dict[str, Any], config: EvalConfig) -> dict[str, int]:
    def texts():
        for source in config.contamination.training:
            for text, _ in documents(source):
                yield text

    try:
        return find_contaminated(output["samples"], texts(), config.contamination.ngram,
                                 config.contamination.min_overlap)
    except TrainingTextError as e:
        raise EvaluationError(f"contamination.training: {e}") from None


def _describe(spec: ModelSpec) -> dict[str, Any]:
    args = {k: v for k, v in spec.args.items() if k not in ("batch_size", "threads")}
    return {"label": spec.label, "backend": spec.backend, "source": spec.source, "args": args}


def _write_results(folder: Path, output: dict[str, Any], spec: ModelSpec) -> None:
    """results.json (the harness's output without its samples, plus the model) and samples/<task>.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = output.pop("samples", {})
    output["fullchain_model"] = _describe(spec)
    (folder / RESULTS_FILE).write_text(json.dumps(output, indent=2, default=str) + "\n", encoding="utf-8")
    (folder / "samples").mkdir(exist_ok=True)
    for task, rows in samples.items():
        with open(folder / "samples" / f"{task}.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
    output["samples"] = samples


def _check_output(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise EvaluationError(f"{target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise EvaluationError(f"{target}: exists and is not empty (pass --overwrite true to replace it)")
    parent = next(p for p in [target.absolute(), *target.absolute().parents] if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EvaluationError(f"{target}: cannot write the output ({parent} is not writable)")


def _move_into_place(scratch: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
