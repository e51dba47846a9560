"""Fixtures of the deploy tests: the tiny model exported once per session (FP32 and INT8), and
tritonserver started on fresh ports (tests/ports.py) and checked to stop cleanly."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
from pathlib import Path
from typing import Iterator

import pytest

from fullchain.deploy.config import ServeConfig
from fullchain.deploy.server import ServerError, TritonServer
from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model
from tests.ports import PortTaken, says_address_in_use, start_on_fresh_ports

VALIDATION = ValidationConfig(seq_len=32, windows=3, greedy_tokens=8, latency_tokens=3)
READY_TIMEOUT_S = 90
# teardown waits at most this long; tritonserver gives up on lingering connections 5 s before
STOP_TIMEOUT_S = 10


@pytest.fixture(scope="session")
def export_dir(tiny_lm, tmp_path_factory):
    """The tiny model exported by `fullchain export` in FP32, so greedy tokens equal PyTorch's exactly."""
    config = ExportConfig(quantize=QuantizeConfig(mode="none"), validation=VALIDATION)
    return export_model(tiny_lm, str(tmp_path_factory.mktemp("export") / "tiny"), config)


@pytest.fixture(scope="session")
def int8_export_dir(tiny_lm, tmp_path_factory):
    """The tiny model exported with the default INT8 quantization (dynamic, per channel) and the
    default perplexity gate."""
    config = ExportConfig(validation=VALIDATION)
    return export_model(tiny_lm, str(tmp_path_factory.mktemp("export") / "tiny8"), config)


def _start_triton(repository: Path, models: list[str], folder: Path, ports: list[int]) -> TritonServer:
    http, grpc, metrics = ports
    cfg = ServeConfig(repository=str(repository), http_port=http, grpc_port=grpc, metrics_port=metrics,
                      cache_dir=str(folder / "cache"), ready_timeout_s=READY_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S)
    log = folder / f"tritonserver-{http}.log"
    server = TritonServer(cfg, models, log_path=log)
    try:
        server.start()
    except ServerError as e:
        if log.is_file() and says_address_in_use(log.read_text(errors="replace")):
            raise PortTaken(f"tritonserver on ports {ports}: {e}") from e
        raise
    # a taken metrics port is only logged and the server runs on without metrics; a taken HTTP port
    # makes it exit, possibly after another server on that port answered the readiness check
    if says_address_in_use(log.read_text(errors="replace")) or server.process.poll() is not None:
        server.stop()
        raise PortTaken(f"tritonserver on ports {ports}: a port was taken (see {log})")
    return server


@contextlib.contextmanager
def running_triton(repository: Path, models: list[str], folder: Path) -> Iterator[TritonServer]:
    """tritonserver serving `models` of `repository` on fresh ports, its log in `folder`; stopped on
    exit, and it must have stopped with status 0 (the log's tail says why not)."""
    server = start_on_fresh_ports(lambda ports: _start_triton(repository, models, folder, ports), 3)
    try:
        yield server
    finally:
        code = server.stop()
    assert code == 0, Path(server.log_path).read_text(errors="replace")[-3000:]


def read_line(stream, timeout_s: float) -> str:
    """The next line of a child's text stream, or "" at its end; TimeoutError after timeout_s (a
    readline of its own would wait for as long as the child writes nothing)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout_s)
    except queue.Empty:
        raise TimeoutError(f"no line from the child process within {timeout_s:g} s") from None


def wait_or_kill(process: subprocess.Popen, timeout_s: float) -> int:
    """The child's exit status within timeout_s; killed (and the test failed) when it does not exit."""
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)
        raise
