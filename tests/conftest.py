"""Fixtures shared by test modules."""

import os
import subprocess
import sys

import pytest

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def dataflow_workdir(tmp_path_factory):
    """A folder holding dist/fullchain-*.whl, where the dataflow profile looks for the package to
    stage (as `make wheel` builds it); built once per test session."""
    folder = tmp_path_factory.mktemp("dataflow")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(folder / "dist"), PROJECT_ROOT], check=True)
    return folder
