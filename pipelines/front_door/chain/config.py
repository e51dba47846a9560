"""The one YAML of `fullchain run`: a section per stage, each the typed config its command reads.

The root config class is built from the stage table (every section a stage names becomes a field),
so a new stage brings its section with its table entry. Loading goes through the project's checked
loader: a bad key or value anywhere is a ConfigError naming file:line and key before any work.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Iterable

from fullchain.pipelines.config import ConfigError, compose_yaml, load_config, option


@dataclass(kw_only=True)
class ChainSection:
    """The run itself: how many training processes, which Beam runner, the smoke generation."""

    nproc_per_node: int = option(2, "Processes of each training stage (`fullchain train --nproc-per-node`).")
    runner_profile: str = option("local", "Runner profile of the data stages (runners.yaml): local, portable, flink, "
                                          "dataflow.")
    runners_file: str = option("", "Runner profiles file of the data stages; empty: the data stages' default.")
    smoke_prompt: str = option("The hacker", "Prompt of the smoke generation after the server is ready; an error or "
                                             "an empty completion fails the run.")
    smoke_max_tokens: int = option(24, "New tokens of the smoke generation.")

    def __post_init__(self) -> None:
        if self.nproc_per_node < 1:
            raise ValueError(f"nproc_per_node must be at least 1, got {self.nproc_per_node}")
        if self.smoke_max_tokens < 1:
            raise ValueError(f"smoke_max_tokens must be at least 1, got {self.smoke_max_tokens}")
        if not self.smoke_prompt.strip():
            raise ValueError("smoke_prompt must not be empty")


def _help(cls: type) -> str:
    return (cls.__doc__ or cls.__name__).strip().splitlines()[0]


@functools.lru_cache(maxsize=None)
def chain_config_class(sections: tuple[tuple[str, type], ...]) -> type:
    """The root config class of the run: one field per (section, config class), in table order."""
    fields = [(name, cls, option(cls(), _help(cls))) for name, cls in sections]
    return dataclasses.make_dataclass("ChainConfig", fields, kw_only=True)


def top_level_keys(path: str) -> frozenset[str]:
    """The sections written in the YAML file (a stage like lora runs only when its section is there)."""
    try:
        with open(path, encoding="utf-8") as fh:
            root = compose_yaml(fh, path)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    if root is None or not hasattr(root, "value") or not isinstance(root.value, list):
        return frozenset()
    return frozenset(str(key.value) for key, _ in root.value)


def load_chain_config(path: str, sections: Iterable[tuple[str, type]]) -> tuple[Any, frozenset[str]]:
    """The run's config from `path` (every section checked through its class) and the sections present."""
    cls = chain_config_class(tuple(sections))
    config = load_config(cls, path)
    return config, top_level_keys(path)


def get_path(config: Any, dotted: str) -> Any:
    """The value at a dotted key (`train.data.manifest`)."""
    value = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def refuse_run_owned(config: Any, path: str, owned: Iterable[str]) -> None:
    """ConfigError for a key the run fills in (a path between stages) that the file sets anyway."""
    defaults = type(config)()
    for dotted in owned:
        if get_path(config, dotted) != get_path(defaults, dotted):
            raise ConfigError(f"{path}: '{dotted}' is set by fullchain run (the stages' folders in --output); "
                              f"remove it from the config")
