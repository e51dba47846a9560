"""On a CUDA machine with onnxruntime-gpu (`make test-gpu`; `make test` deselects these): the export's
graphs run on ONNX Runtime's CUDA execution provider and agree with the CPU provider."""

import json

import numpy as np
import onnxruntime as ort
import pytest

from fullchain.exporters import kv_decoding
from fullchain.exporters.config import ExportConfig, ValidationConfig
from fullchain.exporters.export import export_model
from fullchain.exporters.validation_text import load_windows
from tests.tiny_models import bigram_lm, tiny_tokenizer

pytestmark = pytest.mark.gpu

PROMPTS = [[5, 9, 13, 21], [40, 41, 42, 43, 44, 45]]


def _run(path, provider):
    session = ort.InferenceSession(str(path), providers=[provider])
    assert session.get_providers()[0] == provider, session.get_providers()
    return kv_decoding.session_runner(session)


def _logits(run, spec):
    return run(kv_decoding.prefill_feeds(spec, PROMPTS))["logits"]


def test_cuda_execution_provider_matches_the_cpu_on_the_export(tmp_path):
    assert "CUDAExecutionProvider" in ort.get_available_providers(), \
        f"onnxruntime-gpu with CUDA is needed; available: {ort.get_available_providers()}"
    config = ExportConfig(validation=ValidationConfig(seq_len=32, windows=3, greedy_tokens=8, latency_tokens=3))
    tokenizer = tiny_tokenizer()
    text = load_windows("", tokenizer, len(tokenizer), 32, 3)
    # a model that passes the default INT8 perplexity gate (a random one does not)
    hf_dir = bigram_lm(str(tmp_path / "lm"), [t for window in text.windows for t in window])
    out = export_model(hf_dir, str(tmp_path / "export"), config)
    spec = kv_decoding.DecoderSpec.from_export(json.loads((out / "export.json").read_text()))
    params = kv_decoding.SamplingParams(max_tokens=16)
    for graph, rtol in ((out / "fp32" / "model.onnx", 1e-4), (out / "model.onnx", 5e-2)):
        cpu, cuda = _run(graph, "CPUExecutionProvider"), _run(graph, "CUDAExecutionProvider")
        expected, got = _logits(cpu, spec), _logits(cuda, spec)
        assert np.abs(got - expected).max() / np.abs(expected).max() < rtol, graph
        if graph.parent.name == "fp32":
            cpu_tokens = [g.tokens for g in kv_decoding.generate(cpu, spec, PROMPTS, params)]
            assert [g.tokens for g in kv_decoding.generate(cuda, spec, PROMPTS, params)] == cpu_tokens
            assert all(len(t) == 16 for t in cpu_tokens)
