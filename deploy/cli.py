"""`fullchain publish | serve | generate | loadtest`: argument parsing and the one-line errors.

Each command has one config class (deploy.config); every field is a flag and may also come from
`--config YAML`. fullchain/cli.py (the front door) dispatches these commands to `main(command, argv)`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from fullchain.deploy.config import GenerateConfig, LoadtestConfig, PublishConfig, ServeConfig
from fullchain.pipelines.config import add_config_flags, run_command

DESCRIPTIONS = {
    "publish": "Add an export folder as a new version of a model in a Triton model repository "
               "(local folder or fsspec URL): the ONNX model and the generation models.",
    "serve": "Serve a Triton model repository with the tritonserver of the nvidia-pytriton wheel until "
             "Ctrl-C or SIGTERM (with --openai-port, an OpenAI-compatible API beside it).",
    "generate": "Generate text from a served model through Triton (HTTP or gRPC).",
    "loadtest": "Drive a served generation model at rising concurrency (or request rate); print and write requests/s, "
                "tokens/s and latency percentiles (JSON and PNG).",
}
CONFIGS: dict[str, type] = {"publish": PublishConfig, "serve": ServeConfig, "generate": GenerateConfig,
                            "loadtest": LoadtestConfig}


def build_parser(command: str) -> argparse.ArgumentParser:
    """The argument parser of one command: its positional argument, --config and the config flags."""
    parser = argparse.ArgumentParser(prog=f"fullchain {command}", description=DESCRIPTIONS[command])
    if command == "publish":
        parser.add_argument("export_dir", metavar="EXPORT_DIR", help="Folder written by `fullchain export`.")
    if command == "generate":
        parser.add_argument("prompt", metavar="PROMPT", help="The text to continue.")
    parser.add_argument("--config", metavar="YAML", help="Config file; flags override its values.")
    add_config_flags(parser, CONFIGS[command])
    return parser


class CommandError(RuntimeError):
    """A command that failed for a reason the user can act on; the message is one line."""


def _publish(args: argparse.Namespace, cfg: PublishConfig) -> int:
    from fullchain.deploy.repository import RepositoryError, publish

    try:
        done = publish(args.export_dir, cfg)
    except RepositoryError as e:
        raise CommandError(str(e)) from None
    print(f"published {cfg.name} version {done.version} to {done.repository}: {', '.join(done.models)}")
    return 0


def _serve(args: argparse.Namespace, cfg: ServeConfig) -> int:
    from fullchain.deploy.repository import RepositoryError, list_models
    from fullchain.deploy.config import ADMIN_HEADER
    from fullchain.deploy.server import METRICS_PATH, ServerError, available_backends, find_triton
    from fullchain.deploy.serving_stack import ServingStack

    if not cfg.repository:
        raise CommandError("no repository given (--repository PATH)")
    try:
        models = list_models(cfg.repository)
        backends = available_backends(find_triton())
    except (RepositoryError, ServerError, OSError) as e:
        raise CommandError(str(e)) from None
    if cfg.models:
        unknown = sorted(set(cfg.models) - set(models))
        if unknown:
            raise CommandError(f"{cfg.repository} has no model {', '.join(unknown)}")
        load = list(cfg.models)
    else:
        load = [m for m, backend in models.items() if backend in backends]
        for m in sorted(set(models) - set(load)):
            print(f"not loading {m}: this server has no {models[m] or 'unknown'} backend "
                  "(the generation models run the ONNX file with ONNX Runtime themselves)", file=sys.stderr)
    if not load:
        raise CommandError(f"{cfg.repository} has no model this server can load")
    if cfg.openai_port:
        from fullchain.deploy.openai_front.api_keys import ApiKeyError, load_api_keys

        try:  # before anything starts: the front would refuse the same keys only once Triton is up
            load_api_keys(cfg.api_key_file, os.environ)
        except ApiKeyError as e:
            raise CommandError(str(e)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = ServingStack(cfg, load, log_path=cfg.log_file or None)
    try:
        stack.start()
    except ServerError as e:
        raise CommandError(str(e)) from None
    server = stack.triton
    try:
        host = server.http_url.split("//")[1].rsplit(":", 1)[0]
        print(f"serving {cfg.repository} ({', '.join(load)}): HTTP {server.http_url}, gRPC {host}:{cfg.grpc_port}, "
              f"metrics http://{host}:{cfg.metrics_port}{METRICS_PATH}; Ctrl-C stops", flush=True)
        if stack.openai_url:
            print(f"OpenAI-compatible API: {stack.openai_url} (metrics {stack.openai_url[:-3]}/metrics)", flush=True)
        print(f"load/unload, shared-memory, logging and trace need the header {ADMIN_HEADER} with the admin key "
              f"in {server.admin.source}", flush=True)
        while not stop.wait(0.5):
            failure = stack.failed()
            if failure:
                raise CommandError(failure)
    finally:
        code = stack.stop()
    print(f"tritonserver stopped (status {code})", file=sys.stderr)
    return 0


def _generate(args: argparse.Namespace, cfg: GenerateConfig) -> int:
    from fullchain.deploy.client import ClientError, GenerationClient

    try:
        with GenerationClient(cfg) as client:
            if cfg.stream:
                for piece in client.stream(args.prompt, cfg):
                    print(piece.text, end="", flush=True)
                print()
            else:
                print(client.generate(args.prompt, cfg).text)
    except ClientError as e:
        raise CommandError(str(e)) from None
    return 0


def _loadtest(args: argparse.Namespace, cfg: LoadtestConfig) -> int:
    from fullchain.deploy.client import ClientError
    from fullchain.deploy.loadtest import LoadtestError, run_loadtest
    from fullchain.deploy.loadtest_report import report_table, write_json, write_plot

    try:
        report = run_loadtest(cfg, progress=lambda level: print(
            (f"request rate {level.request_rate:g}/s: {level.delayed_requests} sent late, "
             if level.request_rate is not None else f"concurrency {level.concurrency}: ")
            + f"{level.requests} requests, {level.output_tokens_per_s} tokens/s", file=sys.stderr, flush=True))
    except (ClientError, LoadtestError) as e:
        raise CommandError(str(e)) from None
    print(report_table(report))
    json_path = write_json(report, Path(cfg.output + ".json"))
    print(f"wrote {json_path}")
    try:
        print(f"wrote {write_plot(report, Path(cfg.output + '.png'))}")
    except LoadtestError as e:
        raise CommandError(str(e)) from None
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Any], int]] = {
    "publish": _publish, "serve": _serve, "generate": _generate, "loadtest": _loadtest}


def main(command: str, argv: list[str]) -> int:
    """Run one deploy command; 2 with `fullchain <command>: error: ...` on stderr when it cannot."""
    return run_command(f"fullchain {command}", build_parser(command), CONFIGS[command], COMMANDS[command], argv,
                       failures={CommandError: 2})
