"""Stage commands as child processes that die with the run.

Each child asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so a run killed
with SIGKILL takes the stage it was running along instead of leaving it writing into the run
folder; training's own workers already die with their launcher (trainers.processes)."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys

_PR_SET_PDEATHSIG = 1


class StageFailed(RuntimeError):
    """A stage that did not complete; the message is one line naming the stage and why."""


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def fullchain_command(args: list[str]) -> list[str]:
    """The argv of `fullchain ARGS` as this interpreter runs it."""
    return [sys.executable, "-m", "fullchain", *args]


def run_child(stage: str, argv: list[str], cwd: str) -> None:
    """Run `argv` in `cwd` to its end (its output goes to this terminal); StageFailed unless it exits 0."""
    process = subprocess.Popen(argv, cwd=cwd, preexec_fn=_die_with_parent)
    try:
        status = process.wait()
    except BaseException:
        # interrupted (Ctrl-C, SIGTERM): the stage stops with the run, then the run reports it
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    if status != 0:
        shown = " ".join(argv[2:] if argv[:2] == [sys.executable, "-m"] else argv)
        raise StageFailed(f"{stage}: `{shown}` exited with status {status} (its error is printed above)")
