"""Fixtures shared by test modules, and the hypothesis profiles of the fuzzing tier."""

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, settings

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# `make test` runs every fuzz test with a budget that fits the suite's 15 minutes; `make fuzz`
# selects the long profile (HYPOTHESIS_PROFILE=fuzz) for many more examples per test.
settings.register_profile("default", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def dataflow_workdir(tmp_path_factory):
    """A folder holding dist/fullchain-*.whl, where the dataflow profile looks for the package to
    stage (as `make wheel` builds it); built once per test session."""
    folder = tmp_path_factory.mktemp("dataflow")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(folder / "dist"), PROJECT_ROOT], check=True, timeout=600)
    return folder


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    """The sample 2-layer random-weight Llama with its tokenizer (tests/tiny_models.py), built once per
    session and shared: read it, copy it to change it."""
    from tests.tiny_models import tiny_causal_lm  # torch and transformers: only for the tests that use it

    return tiny_causal_lm(str(tmp_path_factory.mktemp("tiny-lm") / "lm"))
