"""Run the real `tritonserver` that ships in the nvidia-pytriton wheel on a model repository.

The wheel carries the server binary, its shared libraries, the Python backend and one Python
backend stub per Python version. The stub must sit beside `libtriton_python.so`, so the backend
folder is copied once into a writable cache folder with the stub of this interpreter's version.
The stub embeds libpython and imports numpy, onnxruntime and tokenizers: the server's environment
points it at this interpreter's libpython and site-packages (the stub has no notion of a venv and
ignores PYTHONPATH).

With `--openai-port`, deploy/serving_stack.py's ServingStack runs the OpenAI-compatible front
(deploy/openai_front) as a second child process beside this server, and owns both.

Every Triton API that changes server state (model-repository: load/unload, shared-memory, logging,
trace) requires the admin key in the `fullchain-admin-key` header (admin_key); readiness does not
depend on what a client loads (--strict-readiness=false; start() waits for the served models).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from fullchain.deploy.config import ADMIN_HEADER, ADMIN_KEY_ENV, RESTRICTED_APIS, ServeConfig, check_admin_key

log = logging.getLogger(__name__)

READY_PATH = "/v2/health/ready"
LIVE_PATH = "/v2/health/live"
METRICS_PATH = "/metrics"
MODEL_READY_PATH = "/v2/models/{}/ready"
# tritonserver 2.51's HTTP front puts a request body's buffer list on its thread's stack: a body of
# about half the stack limit (4 MiB under the usual 8 MiB) crashes the whole server with SIGSEGV before
# any check runs, and any client can send one (triton-inference-server/server#5840; newer Triton moved
# that allocation to the heap). Threads take their stack size from RLIMIT_STACK: 1 GiB of reserved,
# not resident, stack per thread moves the crash to bodies of about 512 MiB.
SERVER_STACK_BYTES = 1 << 30
STOP_MARGIN_S = 5
# read by deploy/triton_models/generate/model.py (which cannot import this module)
SITE_PACKAGES_ENV = "FULLCHAIN_SITE_PACKAGES"


class ServerError(RuntimeError):
    """The server could not be prepared, started or reached; the message is one line."""


@dataclass(frozen=True)
class TritonInstall:
    """Paths inside the installed nvidia-pytriton wheel."""

    binary: Path
    libs: Path
    backends: Path
    stubs: Path
    caches: Path


def find_triton() -> TritonInstall:
    """Locate tritonserver and its parts in the installed nvidia-pytriton package."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise ServerError("nvidia-pytriton is not installed (pip install nvidia-pytriton): it provides tritonserver")
    package = Path(spec.origin).parent
    root = package / "tritonserver"
    install = TritonInstall(binary=root / "bin" / "tritonserver", libs=package.parent / "nvidia_pytriton.libs",
                            backends=root / "backends", stubs=root / "python_backend_stubs", caches=root / "caches")
    missing = [str(p) for p in (install.binary, install.libs, install.backends / "python", install.stubs)
               if not p.exists()]
    if missing:
        raise ServerError(f"the nvidia-pytriton package has no {', '.join(missing)}; reinstall it")
    return install


@dataclass(frozen=True)
class AdminKey:
    """The key of the restricted APIs and where it came from (a file path, or the environment variable)."""

    key: str
    source: str

    def __repr__(self) -> str:  # never the key itself, should this object reach a log line
        return f"AdminKey(source={self.source!r})"


def cache_folder(cfg: ServeConfig) -> Path:
    """Where the prepared backend folder and the generated admin key are kept."""
    return Path(cfg.cache_dir or os.path.join("~", ".cache", "fullchain", "triton")).expanduser()


def admin_key(cfg: ServeConfig, environ: Mapping[str, str]) -> AdminKey:
    """The admin key: $FULLCHAIN_ADMIN_KEY when set; else the contents of cfg.admin_key_file when it
    exists (it must not be readable by others); else a new random key written to cfg.admin_key_file
    or <cache folder>/admin-key with mode 0600."""
    if environ.get(ADMIN_KEY_ENV):
        return AdminKey(check_admin_key(environ[ADMIN_KEY_ENV], f"${ADMIN_KEY_ENV}"), f"${ADMIN_KEY_ENV}")
    path = Path(cfg.admin_key_file).expanduser() if cfg.admin_key_file else cache_folder(cfg) / "admin-key"
    if cfg.admin_key_file and path.exists():
        if path.stat().st_mode & 0o077:
            raise ServerError(f"admin key file {path} is readable or writable by others; chmod 600 it")
        try:
            return AdminKey(check_admin_key(path.read_text(encoding="utf-8").strip(), str(path)), str(path))
        except ValueError as e:
            raise ServerError(str(e)) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # created 0600 under a temporary name and renamed: the key is never readable by others, not even briefly
    scratch = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    os.replace(scratch, path)
    return AdminKey(key, str(path))


def available_backends(install: TritonInstall) -> set[str]:
    """The backends this server can run: the folders of the wheel's backend directory ('python')."""
    return {p.name for p in install.backends.iterdir() if p.is_dir() and not p.name.startswith("__")}


def prepare_backends(install: TritonInstall, cache_dir: str | os.PathLike) -> Path:
    """A backend folder holding the Python backend with the stub of this interpreter's version.

    Built once per wheel version and Python version under a temporary name, then renamed, so a
    concurrent or interrupted run never leaves a half-copied folder in place."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = install.stubs / python / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServerError(f"the nvidia-pytriton wheel has no Python backend stub for Python {python}")
    stamp = int(install.binary.stat().st_mtime)
    target = Path(cache_dir).expanduser() / f"backends-py{python}-{stamp}"
    if (target / "python" / stub.name).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".backends-", dir=target.parent))
    try:
        shutil.copytree(install.backends / "python", scratch / "python")
        shutil.copy2(stub, scratch / "python" / stub.name)
        os.rename(scratch, target)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
        if not (target / "python" / stub.name).is_file():
            raise
    return target


def server_environment(install: TritonInstall) -> dict[str, str]:
    """The server's environment: its own libraries, this interpreter's libpython for the stub, and
    SITE_PACKAGES_ENV naming this interpreter's site-packages.

    The stub's embedded Python ignores PYTHONPATH and sees only its base installation's packages;
    the generation model puts the folders of SITE_PACKAGES_ENV first on sys.path before it imports
    numpy, onnxruntime and tokenizers, so it runs with the packages (and numpy<2) of this venv."""
    env = dict(os.environ)
    libdirs = [str(install.libs)]
    libpython = sysconfig.get_config_var("LIBDIR")
    if libpython and any(Path(libpython).glob("libpython3*.so*")):
        # the stub links libpython3.X dynamically; prefer the one of this interpreter over a system copy
        libdirs.insert(0, libpython)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libdirs + [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p])
    paths = sysconfig.get_paths()
    env[SITE_PACKAGES_ENV] = os.pathsep.join(dict.fromkeys([paths["purelib"], paths["platlib"]]))
    return env


def raise_stack_limit() -> None:
    """Set this process's stack limit to SERVER_STACK_BYTES (or the hard limit, if lower); run in the
    server's child process before exec, so tritonserver's threads get the larger stacks."""
    _, hard = resource.getrlimit(resource.RLIMIT_STACK)
    target = SERVER_STACK_BYTES if hard == resource.RLIM_INFINITY else min(SERVER_STACK_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_STACK, (target, hard))


def exit_timeout_s(cfg: ServeConfig) -> int:
    """How long tritonserver waits, once told to stop, for open connections and requests in flight:
    STOP_MARGIN_S less than stop() waits, so that an idle keep-alive connection of some client makes
    the server exit late but cleanly (status 0) instead of being killed."""
    return max(1, math.ceil(cfg.stop_timeout_s) - STOP_MARGIN_S)


def restricted_api_flags(key: str) -> list[str]:
    """The flags that make the state-changing APIs require `<ADMIN_HEADER>: key` over HTTP and gRPC
    (this tritonserver's syntax is `<api>,<api>:<header>=<value>`, whatever its --help says)."""
    apis = ",".join(RESTRICTED_APIS)
    return [f"--http-restricted-api={apis}:{ADMIN_HEADER}={key}",
            f"--grpc-restricted-protocol={apis}:{ADMIN_HEADER}={key}"]


def redacted(cmd: list[str], key: str) -> str:
    """The command line for a log, with the admin key replaced."""
    return " ".join(cmd).replace(key, "<admin key>")


def server_command(install: TritonInstall, backends: Path, cfg: ServeConfig, models: list[str], key: str) -> list[str]:
    """The tritonserver command line: explicit model control loading exactly `models`, the restricted
    APIs behind `key`, and readiness that a client's failed load cannot take away."""
    repository = cfg.repository if "://" in cfg.repository else os.path.abspath(cfg.repository)
    cmd = [str(install.binary), f"--model-repository={repository}", f"--backend-directory={backends}",
           f"--cache-directory={install.caches}", f"--http-address={cfg.address}", f"--grpc-address={cfg.address}",
           f"--http-port={cfg.http_port}", f"--grpc-port={cfg.grpc_port}", f"--metrics-port={cfg.metrics_port}",
           "--allow-gpu-metrics=false", "--model-control-mode=explicit", "--strict-readiness=false",
           f"--exit-timeout-secs={exit_timeout_s(cfg)}",
           *restricted_api_flags(key), f"--log-verbose={cfg.log_verbose}"]
    if cfg.cache_size_bytes:
        cmd.append(f"--cache-config=local,size={cfg.cache_size_bytes}")
    cmd += [f"--load-model={m}" for m in models]
    return cmd


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET on `url`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


class TritonServer:
    """A running tritonserver child process; a context manager that stops it on exit."""

    def __init__(self, cfg: ServeConfig, models: list[str], log_path: str | os.PathLike | None = None):
        self.cfg = cfg
        self.models = models
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.admin: AdminKey | None = None
        self._log_file = None

    @property
    def http_url(self) -> str:
        host = "127.0.0.1" if self.cfg.address in ("0.0.0.0", "") else self.cfg.address
        return f"http://{host}:{self.cfg.http_port}"

    def start(self) -> "TritonServer":
        """Start the server and wait until it and every served model are ready."""
        install = find_triton()
        backends = prepare_backends(install, cache_folder(self.cfg))
        self.admin = admin_key(self.cfg, os.environ)
        cmd = server_command(install, backends, self.cfg, self.models, self.admin.key)
        log.info("starting %s", redacted(cmd, self.admin.key))
        if self.log_path is not None:
            self._log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(cmd, env=server_environment(install), stdin=subprocess.DEVNULL,
                                        stdout=self._log_file, stderr=subprocess.STDOUT if self._log_file else None,
                                        start_new_session=True, preexec_fn=raise_stack_limit)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.cfg.ready_timeout_s
        waiting = self._ready_paths()
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                where = f"; see {self.log_path}" if self.log_path else ""
                raise ServerError(f"tritonserver exited with status {code} before it was ready{where}")
            waiting = [path for path in self._ready_paths() if http_status(self.http_url + path) != 200]
            if not waiting:
                return
            time.sleep(0.25)
        raise ServerError(f"tritonserver was not ready within {self.cfg.ready_timeout_s:g} s "
                          f"({self.http_url}{waiting[0]})")

    def _ready_paths(self) -> list[str]:
        # with --strict-readiness=false the server's own readiness says nothing about the models
        return [READY_PATH] + [MODEL_READY_PATH.format(urllib.parse.quote(m, safe="")) for m in self.models]

    def stop(self) -> int | None:
        """Send SIGTERM, wait up to stop_timeout_s, then SIGKILL; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.cfg.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("tritonserver did not stop within %g s; killing it", self.cfg.stop_timeout_s)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return self.process.returncode

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
