"""Fixtures of the evaluation tests: the session tiny_lm exported once to INT8 (its FP32 graph beside it)."""

import pytest

from fullchain.exporters.config import ExportConfig, ValidationConfig
from fullchain.exporters.export import export_model

VALIDATION = ValidationConfig(seq_len=32, windows=3, greedy_tokens=8, latency_tokens=3)


@pytest.fixture(scope="session")
def eval_export(tiny_lm, tmp_path_factory):
    """tiny_lm exported with the default dynamic INT8 (model.onnx) and its FP32 graph (fp32/model.onnx)."""
    return export_model(tiny_lm, str(tmp_path_factory.mktemp("eval-export") / "tiny"), ExportConfig(validation=VALIDATION))
