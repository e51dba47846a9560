"""`fullchain serve --openai-port`, the command: it refuses a key file others may read before
anything starts, prints the front's URL once both servers are ready, answers through the front and
stops both on Ctrl-C."""

import signal
import subprocess
import sys

import openai
import pytest

from fullchain.deploy.config import PublishConfig
from fullchain.deploy.repository import publish
from fullchain.deploy.server import http_status
from tests.conftest import PROJECT_ROOT
from tests.deploy.conftest import READY_TIMEOUT_S, read_line, wait_or_kill
from tests.ports import PortTaken, says_address_in_use, start_on_fresh_ports

KEY = "sk-test-key-0123456789"
PROMPT = "The river that runs through"


@pytest.fixture(scope="module")
def repository(export_dir, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    publish(export_dir, PublishConfig(repository=str(repo), name="tiny"))
    return repo


def _serve_with_front(repository, folder, key_file, ports):
    http_port, grpc_port, metrics_port, openai_port = ports
    log = folder / f"serve-{http_port}.log"
    cmd = [sys.executable, "-m", "fullchain", "serve", "--repository", str(repository), "--http-port", str(http_port),
           "--grpc-port", str(grpc_port), "--metrics-port", str(metrics_port), "--openai-port", str(openai_port),
           "--api-key-file", str(key_file), "--cache-dir", str(folder / "cache"), "--log-file", str(log),
           "--models", "tiny_generate_stream", "--ready-timeout-s", str(READY_TIMEOUT_S)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    try:
        lines = [read_line(process.stdout, timeout_s=120) for _ in range(2)]
    except BaseException:
        process.kill()
        process.wait(timeout=30)
        raise
    if not lines[1].startswith("OpenAI-compatible API: ") or says_address_in_use(log.read_text(errors="replace")):
        process.kill()
        _, err = process.communicate(timeout=30)
        if says_address_in_use(log.read_text(errors="replace")):
            raise PortTaken(f"fullchain serve on ports {ports}")
        pytest.fail(f"fullchain serve did not start the front: {lines!r} {err[-2000:]}")
    return process, lines[1], openai_port


def test_fullchain_serve_with_openai_port_prints_the_url_and_stops_both(repository, tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    refused = subprocess.run([sys.executable, "-m", "fullchain", "serve", "--repository", str(repository),
                              "--openai-port", "9999", "--api-key-file", str(key_file)],
                             capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert refused.returncode == 2 and "chmod 600" in refused.stderr  # refused before anything starts
    key_file.chmod(0o600)
    process, line, port = start_on_fresh_ports(lambda ports: _serve_with_front(repository, tmp_path, key_file, ports),
                                               4)
    try:
        assert line.startswith(f"OpenAI-compatible API: http://127.0.0.1:{port}/v1"), line
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=60)
        assert client.completions.create(model="tiny", prompt=PROMPT, max_tokens=3).usage.completion_tokens == 3
        process.send_signal(signal.SIGINT)
        assert wait_or_kill(process, timeout_s=40) == 0
        assert http_status(f"http://127.0.0.1:{port}/health") is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
