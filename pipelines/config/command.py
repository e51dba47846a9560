"""The skeleton every `fullchain` command shares: parse the flags, load the typed config from
`--config` and the flags, run the command, and turn a failure the user can act on into one line
`fullchain CMD: error: ...` on stderr and an exit status (2 unless said otherwise)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Mapping, Sequence

from fullchain.pipelines.config.flags import config_overrides
from fullchain.pipelines.config.loader import ConfigError, load_config

CONFIG_ERROR_STATUS = 2


def run_command(prog: str, parser: argparse.ArgumentParser, config_class: type,
                body: Callable[[argparse.Namespace, Any], int], argv: Sequence[str],
                failures: Mapping[type[BaseException], int] | None = None,
                reports: Callable[[BaseException], bool] = lambda error: True) -> int:
    """Run `body(args, config)` with `argv` parsed by `parser` (which has a `--config` option and
    the flags of `config_class`) and the config loaded from both; returns body's exit status.

    A ConfigError (from loading or from body) and the exception types in `failures` (type -> exit
    status) print `PROG: error: MESSAGE` when `reports(error)` is true (e.g. only on rank 0 when
    every process would say the same) and return their status. Any other exception propagates.
    """
    statuses = {ConfigError: CONFIG_ERROR_STATUS, **(failures or {})}
    args = parser.parse_args(list(argv))
    try:
        config = load_config(config_class, args.config, config_overrides(args, config_class))
        return body(args, config)
    except tuple(statuses) as error:
        if reports(error):
            print(f"{prog}: error: {error}", file=sys.stderr)
        return next(status for kind, status in statuses.items() if isinstance(error, kind))
