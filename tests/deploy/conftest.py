"""Fixtures of the deploy tests: one tiny model exported once per session, free loopback ports."""

import socket

import pytest

from fullchain.exporters.config import ExportConfig, QuantizeConfig, ValidationConfig
from fullchain.exporters.export import export_model
from fullchain.pipelines.sample_models import tiny_causal_lm


def free_ports(n: int) -> list[int]:
    """n distinct ports that were free on 127.0.0.1 a moment ago."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory):
    """A 2-layer random-weight Llama with its tokenizer."""
    return tiny_causal_lm(str(tmp_path_factory.mktemp("hf") / "lm"))


@pytest.fixture(scope="session")
def export_dir(hf_dir, tmp_path_factory):
    """The tiny model exported by `fullchain export` (FP32, so greedy tokens equal PyTorch's exactly)."""
    config = ExportConfig(quantize=QuantizeConfig(mode="none"),
                          validation=ValidationConfig(seq_len=32, windows=3, greedy_tokens=8, latency_tokens=3))
    return export_model(hf_dir, str(tmp_path_factory.mktemp("export") / "tiny"), config)
