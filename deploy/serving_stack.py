"""`fullchain serve`'s processes: tritonserver (deploy/server.py's TritonServer) and, with
`--openai-port`, the OpenAI-compatible front (deploy/openai_front) beside it, owned together."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from fullchain.deploy.config import ServeConfig
from fullchain.deploy.server import ServerError, TritonServer, http_status

log = logging.getLogger(__name__)


FRONT_MODULE = "fullchain.deploy.openai_front"
FRONT_HEALTH_PATH = "/health"


def front_command(cfg: ServeConfig, triton_pid: int) -> list[str]:
    """The front's command line: where Triton and the repository are, and the key file's path (never
    a key: the command line is visible to every local user; $FULLCHAIN_OPENAI_API_KEYS is inherited)."""
    repository = cfg.repository if "://" in cfg.repository else os.path.abspath(cfg.repository)
    host = "127.0.0.1" if cfg.address in ("0.0.0.0", "") else cfg.address
    cmd = [sys.executable, "-m", FRONT_MODULE, f"--triton-url={host}:{cfg.grpc_port}", f"--repository={repository}",
           f"--address={cfg.address}", f"--port={cfg.openai_port}", f"--triton-pid={triton_pid}",
           f"--ready-timeout-s={cfg.ready_timeout_s:g}"]
    if cfg.openai_model:
        cmd.append(f"--model={cfg.openai_model}")
    if cfg.api_key_file:
        cmd.append(f"--api-key-file={os.path.abspath(os.path.expanduser(cfg.api_key_file))}")
    return cmd


class ServingStack:
    """tritonserver and, with cfg.openai_port, the OpenAI front beside it: started in that order
    (each waited for until ready), watched together, stopped front first. The front also watches
    Triton's process itself and exits when it is gone, should this process be killed outright."""

    def __init__(self, cfg: ServeConfig, models: list[str], log_path: str | os.PathLike | None = None):
        self.cfg = cfg
        self.triton = TritonServer(cfg, models, log_path)
        self.front: subprocess.Popen | None = None
        self._front_log = None

    @property
    def openai_url(self) -> str | None:
        """The front's base URL (…/v1), or None without a front."""
        if not self.cfg.openai_port:
            return None
        host = "127.0.0.1" if self.cfg.address in ("0.0.0.0", "") else self.cfg.address
        return f"http://{host}:{self.cfg.openai_port}/v1"

    def start(self) -> "ServingStack":
        """Start Triton, then the front; return when both are ready (ServerError otherwise)."""
        self.triton.start()
        if not self.cfg.openai_port:
            return self
        try:
            log.info("starting %s", " ".join(front_command(self.cfg, self.triton.process.pid)))
            if self.triton.log_path is not None:
                self._front_log = open(self.triton.log_path, "ab")
            self.front = subprocess.Popen(front_command(self.cfg, self.triton.process.pid), stdin=subprocess.DEVNULL,
                                          stdout=self._front_log, stderr=subprocess.STDOUT if self._front_log else None,
                                          start_new_session=True)
            self._wait_front_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_front_ready(self) -> None:
        url = self.openai_url.removesuffix("/v1") + FRONT_HEALTH_PATH
        deadline = time.monotonic() + self.cfg.ready_timeout_s
        while time.monotonic() < deadline:
            code = self.front.poll()
            if code is not None:
                where = f"; see {self.triton.log_path}" if self.triton.log_path else ""
                raise ServerError(f"the OpenAI front exited with status {code} before it was ready{where}")
            if http_status(url) == 200:
                return
            time.sleep(0.25)
        raise ServerError(f"the OpenAI front was not ready within {self.cfg.ready_timeout_s:g} s ({url})")

    def failed(self) -> str | None:
        """Why the stack is no longer whole (a process that exited), or None while both run."""
        if self.triton.process is not None and self.triton.process.poll() is not None:
            return f"tritonserver exited with status {self.triton.process.returncode}"
        if self.front is not None and self.front.poll() is not None:
            return f"the OpenAI front exited with status {self.front.returncode}"
        return None

    def stop(self) -> int | None:
        """Stop the front (SIGTERM, then SIGKILL after stop_timeout_s), then Triton; Triton's exit status."""
        if self.front is not None and self.front.poll() is None:
            self.front.send_signal(signal.SIGTERM)
            try:
                self.front.wait(timeout=self.cfg.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("the OpenAI front did not stop within %g s; killing it", self.cfg.stop_timeout_s)
                os.killpg(self.front.pid, signal.SIGKILL)
                self.front.wait()
        if self._front_log is not None:
            self._front_log.close()
            self._front_log = None
        return self.triton.stop()

    def __enter__(self) -> "ServingStack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
