"""The generation model's BLS path (how it runs in the NGC image) on the wheel's server: `<name>` is
served by a Python stand-in for the onnxruntime backend with the published config's exact tensors,
and `onnx_runner: auto` must find it ready and call it instead of opening the graph itself."""

import json
import re
import shutil
from pathlib import Path

import onnxruntime
import pytest
from tokenizers import Tokenizer

from fullchain.deploy.client import GenerationClient
from fullchain.deploy.config import ClientConfig, GenerationModelConfig, PublishConfig, SamplingConfig
from fullchain.deploy.repository import publish
from fullchain.exporters import kv_decoding
from tests.deploy.conftest import running_triton

STANDIN = Path(__file__).parent / "onnx_standin" / "model.py"


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    publish(export_dir, PublishConfig(repository=str(repo), name="tiny", generate=GenerationModelConfig(
        onnx_runner="auto", response_cache=False, stream_model=False)))
    config = repo / "tiny" / "config.pbtxt"
    # same inputs, outputs and max_batch_size; only the backend differs (and no batcher, for one-by-one runs)
    text = config.read_text().replace('platform: "onnxruntime_onnx"', 'backend: "python"')
    config.write_text(re.sub(r"dynamic_batching \{.*?\n\}\n", "", text, flags=re.S))
    shutil.copy(STANDIN, repo / "tiny" / "1" / "model.py")
    with running_triton(repo, ["tiny", "tiny_generate"], tmp_path_factory.mktemp("triton")) as running:
        yield running


def test_bls_call_to_a_python_standin_of_the_onnx_model_equals_the_in_process_session(server, export_dir):
    spec = kv_decoding.DecoderSpec.from_export(json.loads((export_dir / "export.json").read_text()))
    session = onnxruntime.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(export_dir / "tokenizer.json"))
    prompt = "The river that runs through"
    (expected,) = kv_decoding.generate(kv_decoding.session_runner(session), spec, [tokenizer.encode(prompt).ids],
                                       kv_decoding.SamplingParams(max_tokens=10, stop_token_ids=(2,)))
    with GenerationClient(ClientConfig(url=f"127.0.0.1:{server.cfg.http_port}", model="tiny")) as client:
        done = client.generate(prompt, SamplingConfig(max_tokens=10))
    assert done.token_ids == expected.tokens and len(expected.tokens) > 0
    assert "through BLS" in Path(server.log_path).read_text()
