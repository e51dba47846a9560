"""Evaluation tasks in lm-evaluation-harness's YAML format, read from local files only.

The shipped suite (`fullchain_suite`) is the YAML files of tasks/ beside this module; users add
theirs with `--include` (YAML files, or folders of them). Each file is checked before any model is
loaded: its fields must be the harness's TaskConfig fields, its output type one of the harness's,
and its data files must exist. Data files given relative to the YAML file are resolved against the
YAML file's folder (the harness itself resolves them against the working directory), and the task
goes to the harness as the checked dict.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Iterable

from lm_eval.api.instance import OutputType
from lm_eval.config.task import TaskConfig
from lm_eval.tasks._yaml_loader import load_yaml

SUITE_DIR = Path(__file__).parent / "tasks"
SUITE_NAME = "fullchain_suite"
TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(TaskConfig))
OUTPUT_TYPES = tuple(OutputType.__args__) if hasattr(OutputType, "__args__") else (
    "loglikelihood", "loglikelihood_rolling", "generate_until", "multiple_choice")
LOCAL_DATASETS = ("json", "csv", "parquet", "text")


class TaskFileError(ValueError):
    """A task that is unknown or whose file is wrong; the message is one line naming the file and field."""


def task_files(include: Iterable[str] = ()) -> dict[str, Path]:
    """Task name -> its YAML file, for the shipped suite and every YAML under the `include` paths
    (a later file with the same task name replaces an earlier one, so users can override)."""
    found: dict[str, Path] = {}
    for source in [str(SUITE_DIR), *include]:
        path = Path(source)
        if not path.exists():
            raise TaskFileError(f"{source}: no such task file or folder")
        files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
        for file in files:
            config = _read(file, resolve=False)
            name = config.get("task")
            if not isinstance(name, str) or not name:
                if "group" in config:
                    continue  # a group file names other tasks; --tasks lists tasks
                raise TaskFileError(f"{file}: no 'task' name")
            found[name] = file
    return found


def suite_tasks() -> list[str]:
    """The task names of the shipped suite, in file order."""
    return [name for name, file in task_files().items() if file.parent == SUITE_DIR]


def resolve_tasks(names: Iterable[str], include: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The checked task configs (dicts for lm_eval.simple_evaluate) of the task names; `fullchain_suite`
    stands for every shipped task. TaskFileError for an unknown name or a wrong file."""
    known = task_files(include)
    wanted: list[str] = []
    for name in names:
        expanded = suite_tasks() if name == SUITE_NAME else [name]
        for task in expanded:
            if task not in known:
                close = difflib.get_close_matches(task, list(known) + [SUITE_NAME], n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise TaskFileError(f"unknown task {task!r}{hint}; known: {SUITE_NAME}, {', '.join(sorted(known))}")
            if task not in wanted:
                wanted.append(task)
    if not wanted:
        raise TaskFileError("no task given (--tasks NAME[,NAME...])")
    return [checked_task(known[task]) for task in wanted]


def checked_task(file: Path) -> dict[str, Any]:
    """One task file as the dict the harness takes, after the checks of the module docstring."""
    config = _read(file, resolve=True)
    unknown = sorted(set(config) - TASK_FIELDS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], TASK_FIELDS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise TaskFileError(f"{file}: unknown field {unknown[0]!r}{hint}")
    output_type = config.get("output_type", "generate_until")
    if output_type not in OUTPUT_TYPES:
        raise TaskFileError(f"{file}: output_type {output_type!r} is not one of {', '.join(OUTPUT_TYPES)}")
    if config.get("dataset_path") in LOCAL_DATASETS:
        config["dataset_kwargs"] = _local_data(file, config.get("dataset_kwargs"))
    elif not config.get("custom_dataset"):
        raise TaskFileError(f"{file}: dataset_path must be a local format ({', '.join(LOCAL_DATASETS)}) with "
                            f"dataset_kwargs.data_files (evaluation reads local files only), got "
                            f"{config.get('dataset_path')!r}")
    return config


def _local_data(file: Path, kwargs: Any) -> dict[str, Any]:
    if not isinstance(kwargs, dict) or "data_files" not in kwargs:
        raise TaskFileError(f"{file}: dataset_kwargs.data_files is missing (the task's local data files)")
    data_files = kwargs["data_files"]
    splits = data_files if isinstance(data_files, dict) else {"train": data_files}
    resolved: dict[str, Any] = {}
    for split, paths in splits.items():
        many = paths if isinstance(paths, list) else [paths]
        absolute = [str(p if Path(p).is_absolute() else (file.parent / p).resolve()) for p in map(str, many)]
        for path in absolute:
            if not Path(path).is_file():
                raise TaskFileError(f"{file}: data file {path} (split {split!r}) does not exist")
        resolved[split] = absolute if isinstance(paths, list) else absolute[0]
    return {**kwargs, "data_files": resolved if isinstance(data_files, dict) else resolved["train"]}


def _read(file: Path, resolve: bool) -> dict[str, Any]:
    try:
        return load_yaml(file, resolve_func=resolve)
    except FileNotFoundError as e:
        raise TaskFileError(f"{file}: {e}") from None
    except (ValueError, ImportError, AttributeError, OSError) as e:
        raise TaskFileError(f"{file}: {str(e).splitlines()[0]}") from None
    except Exception as e:  # the YAML parser's errors: ScannerError, ParserError, ...
        if type(e).__module__.startswith("yaml"):
            raise TaskFileError(f"{file}: not valid YAML: {str(e).splitlines()[0]}") from None
        raise
