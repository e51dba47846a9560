"""`python -m fullchain.deploy.openai_front`: run the front with uvicorn until SIGTERM or Ctrl-C.

`fullchain serve --openai-port N` starts this as its second child process (deploy/server.py); in
Kubernetes it is the second container of the pod (deploy/k8s). At start it connects to Triton over
gRPC, waits up to ready_timeout_s for a served model and reads its tokenizer from the repository.
Exit status: 0 after a signal, 1 when the watched tritonserver (--triton-pid) is gone, 2 when it
cannot start (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from typing import Any, AsyncIterator

import tritonclient.grpc.aio as grpcaio
import uvicorn

from fullchain.deploy.openai_front.api_keys import ApiKeyError, load_api_keys
from fullchain.deploy.openai_front.app import FrontState, create_app
from fullchain.deploy.openai_front.config import OpenAIFrontConfig
from fullchain.deploy.openai_front.served_models import ServedModelError, load_served_models
from fullchain.pipelines.config import add_config_flags, run_command

PROG = "python -m fullchain.deploy.openai_front"
WATCH_INTERVAL_S = 0.5
TRITON_GONE_STATUS = 1


class FrontError(RuntimeError):
    """The front cannot start; the message is one line."""


def build_parser() -> argparse.ArgumentParser:
    """--config and one flag per OpenAIFrontConfig field."""
    parser = argparse.ArgumentParser(prog=PROG, description="The OpenAI-compatible HTTP front of a Triton server.")
    parser.add_argument("--config", metavar="YAML", help="Config file; flags override its values.")
    add_config_flags(parser, OpenAIFrontConfig)
    return parser


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


async def _wait_for_models(client: grpcaio.InferenceServerClient, cfg: OpenAIFrontConfig) -> dict:
    deadline = time.monotonic() + cfg.ready_timeout_s
    while True:
        try:
            return await load_served_models(client, cfg.repository, cfg.model, cfg.request_timeout_s)
        except ServedModelError as e:
            if time.monotonic() > deadline:
                raise FrontError(f"{e} (waited {cfg.ready_timeout_s:g} s)") from None
        await asyncio.sleep(0.5)


def _run(args: argparse.Namespace, cfg: OpenAIFrontConfig) -> int:
    if not cfg.repository:
        raise FrontError("no repository given (--repository PATH_OR_URL): the tokenizer is read from it")
    try:
        keys = load_api_keys(cfg.api_key_file, os.environ)
    except ApiKeyError as e:
        raise FrontError(str(e)) from None
    outcome: dict[str, Any] = {}

    async def triton_live() -> bool:
        try:
            return await state.client.is_server_live()
        except Exception:  # any failure to answer means not live, which /health reports as 503
            return False

    state = FrontState(served={}, keys=keys, max_choices=cfg.max_choices, max_body_bytes=cfg.max_body_bytes,
                       triton_live=triton_live)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        state.client = grpcaio.InferenceServerClient(cfg.triton_url)
        watcher = None
        try:
            try:
                state.served = await _wait_for_models(state.client, cfg)
            except FrontError as e:
                outcome["error"] = e
                raise
            if cfg.triton_pid:
                watcher = asyncio.create_task(_watch(cfg.triton_pid))
            print(f"OpenAI front for {', '.join(sorted(state.served))} "
                  f"({', '.join(s.backend.model for s in state.served.values())}) on http://{cfg.address}:{cfg.port}/v1"
                  f"; API keys {'required (' + ', '.join(keys.sources) + ')' if keys.required else 'off'}",
                  flush=True)
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            await state.client.close()

    async def _watch(pid: int) -> None:
        while process_alive(pid):
            await asyncio.sleep(WATCH_INTERVAL_S)
        print(f"{PROG}: tritonserver (pid {pid}) is gone; stopping", flush=True)
        outcome["triton_gone"] = True
        server.should_exit = True

    server = uvicorn.Server(uvicorn.Config(create_app(state, lifespan), host=cfg.address, port=cfg.port,
                                           access_log=cfg.access_log, timeout_graceful_shutdown=5,
                                           log_level="info"))
    server.run()
    if "error" in outcome:
        raise outcome["error"]
    if not server.started:
        raise FrontError(f"the front did not start on {cfg.address}:{cfg.port} (see the log above)")
    return TRITON_GONE_STATUS if outcome.get("triton_gone") else 0


def main(argv: list[str]) -> int:
    """Run the front; 2 with `PROG: error: ...` when it cannot start."""
    return run_command(PROG, build_parser(), OpenAIFrontConfig, _run, argv, failures={FrontError: 2})
