"""The run's Triton server: started from DIR/publish/ with the project's server class (readiness
of the server and of every model, clean shutdown), shared by the stages that need one (serve's
smoke generation, loadtest, eval) and stopped when the run ends however it ends."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import time
from typing import Any

from fullchain.chain.child_process import StageFailed
from fullchain.deploy.config import GenerateConfig, ServeConfig

PID_FILE = ".tritonserver.pid"  # in the run folder, while the run's server runs


class RunServer:
    """A TritonServer over the run's repository, started on first use."""

    def __init__(self, cfg: ServeConfig, log_path: str, pid_path: str):
        self.cfg = cfg
        self.log_path = log_path
        # outside serve/, which a rerun of the serve stage empties before it starts the server
        self.pid_path = pid_path
        self.server: Any = None

    @property
    def url(self) -> str:
        """host:port of the HTTP endpoint."""
        host = "127.0.0.1" if self.cfg.address in ("0.0.0.0", "") else self.cfg.address
        return f"{host}:{self.cfg.http_port}"

    def ensure_started(self) -> "RunServer":
        """Start the server unless it runs; StageFailed when it cannot start or has died."""
        from fullchain.deploy.repository import RepositoryError, list_models
        from fullchain.deploy.server import ServerError, TritonServer, available_backends, find_triton

        if self.server is not None:
            if self.server.process.poll() is None:
                return self
            raise StageFailed(f"serve: tritonserver exited with status {self.server.process.returncode}; "
                              f"see {self.log_path}")
        try:
            models = list_models(self.cfg.repository)
            backends = available_backends(find_triton())
        except (RepositoryError, ServerError, OSError) as e:
            raise StageFailed(f"serve: {e}") from None
        load = list(self.cfg.models) or [m for m, backend in models.items() if backend in backends]
        if not load:
            raise StageFailed(f"serve: {self.cfg.repository} has no model this server can load")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self._stop_leftover()
        print(f"serve: starting tritonserver on {self.url} ({', '.join(load)}); log {self.log_path}",
              file=sys.stderr, flush=True)
        server = TritonServer(self.cfg, load, log_path=self.log_path)
        try:
            server.start()
        except ServerError as e:
            raise StageFailed(f"serve: {e}") from None
        self.server = server
        with open(self.pid_path, "w", encoding="utf-8") as fh:
            fh.write(f"{server.process.pid}\n")
        return self

    def _stop_leftover(self) -> None:
        # tritonserver runs in a session of its own, so a run killed with SIGKILL leaves it
        # behind, holding the ports: the next run stops it first
        try:
            with open(self.pid_path, encoding="utf-8") as fh:
                pid = int(fh.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                leftover = b"tritonserver" in fh.read()
        except (OSError, ValueError):
            return
        if leftover:
            print(f"serve: stopping tritonserver {pid}, left by a run that was killed", file=sys.stderr, flush=True)
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def smoke(self, prompt: str, max_tokens: int, out_path: str) -> dict[str, Any]:
        """One greedy generation through the client users run; StageFailed when it errs or is empty."""
        from fullchain.deploy.client import ClientError, GenerationClient

        self.ensure_started()
        cfg = GenerateConfig(url=self.url, max_tokens=max_tokens, temperature=0.0, timeout_s=120.0)
        started = time.perf_counter()
        try:
            with GenerationClient(cfg) as client:
                completion = client.generate(prompt, cfg)
        except ClientError as e:
            raise StageFailed(f"serve: the smoke generation failed: {e}") from None
        if not completion.token_ids:
            raise StageFailed(f"serve: the smoke generation returned no tokens (finish reason "
                              f"{completion.finish_reason!r})")
        result = {"prompt": prompt, "completion": completion.text, "tokens": len(completion.token_ids),
                  "finish_reason": completion.finish_reason, "latency_s": round(completion.latency_s, 4),
                  "seconds": round(time.perf_counter() - started, 3), "url": self.url}
        tmp = f"{out_path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, ensure_ascii=False)
        os.replace(tmp, out_path)
        return result

    def stop(self) -> None:
        """Stop the server if it runs (SIGTERM, then SIGKILL after stop_timeout_s)."""
        if self.server is not None:
            status = self.server.stop()
            if os.path.exists(self.pid_path):
                os.remove(self.pid_path)
            print(f"serve: tritonserver stopped (status {status})", file=sys.stderr, flush=True)
            self.server = None


def serve_config(cfg: ServeConfig, repository: str) -> ServeConfig:
    """The serve section with the run's repository filled in."""
    return dataclasses.replace(cfg, repository=repository)
