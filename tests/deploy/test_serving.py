"""The real tritonserver of the nvidia-pytriton wheel serving published tiny models: FP32 generation
through HTTP and gRPC against PyTorch, INT8 generation against in-process ONNX Runtime INT8,
sampling, the response cache, bad requests, queue overflow, streaming, the generate/loadtest
commands and a clean stop of `fullchain serve`."""

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

from fullchain.deploy.cli import main
from fullchain.deploy.client import ClientError, GenerationClient
from fullchain.deploy.config import BatchingConfig, ClientConfig, GenerationModelConfig, PublishConfig, SamplingConfig
from fullchain.deploy.repository import publish
from fullchain.deploy.server import http_status
from fullchain.exporters import kv_decoding
from tests.conftest import PROJECT_ROOT
from tests.deploy.conftest import read_line, running_triton, wait_or_kill
from tests.ports import PortTaken, says_address_in_use, start_on_fresh_ports

PROMPTS = ["The river that runs through", "Local historians have gathered letters, parish records",
           "现在的河流安静了许多", "Today"]


@pytest.fixture(scope="module")
def repository(export_dir, int8_export_dir, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    publish(export_dir, PublishConfig(repository=str(repo), name="tiny"))
    publish(int8_export_dir, PublishConfig(repository=str(repo), name="tiny8", generate=GenerationModelConfig(
        response_cache=False, stream_model=False)))
    # a model that runs one request at a time and queues at most one more: for the overflow test
    publish(export_dir, PublishConfig(
        repository=str(repo), name="tinyq",
        batching=BatchingConfig(max_batch_size=1, preferred_batch_sizes=[], max_queue_size=1),
        generate=GenerationModelConfig(response_cache=False, stream_model=False, max_tokens_limit=4096)))
    return repo


@pytest.fixture(scope="module")
def server(repository, tmp_path_factory):
    models = ["tiny_generate", "tiny_generate_cached", "tiny_generate_stream", "tinyq_generate", "tiny8_generate"]
    with running_triton(repository, models, tmp_path_factory.mktemp("triton")) as running:
        yield running


def client_cfg(server, protocol="http", model="tiny"):
    port = server.cfg.http_port if protocol == "http" else server.cfg.grpc_port
    return ClientConfig(url=f"127.0.0.1:{port}", protocol=protocol, timeout_s=30, model=model)


@pytest.fixture(scope="module")
def torch_greedy(tiny_lm):
    model = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)

    def run(prompt, max_tokens):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=0, eos_token_id=2)
        tokens = out[0, ids.shape[1]:].tolist()
        tokens = tokens[:tokens.index(2)] if 2 in tokens else tokens
        return tokens, tokenizer.decode(tokens, skip_special_tokens=True)

    return run


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_fp32_greedy_generation_equals_pytorch(server, torch_greedy, protocol):
    with GenerationClient(client_cfg(server, protocol)) as client:
        for prompt in PROMPTS[:2]:
            done = client.generate(prompt, SamplingConfig(max_tokens=12))
            tokens, text = torch_greedy(prompt, 12)
            assert done.token_ids == tokens
            assert done.text == text
            assert done.finish_reason == ("length" if len(tokens) == 12 else "stop")


INT8_TOKENS = 24


def test_int8_generation_one_request_at_a_time_equals_in_process_onnxruntime_int8(server, int8_export_dir):
    export = json.loads((int8_export_dir / "export.json").read_text())
    assert export["precision"] == "int8-dynamic"
    spec = kv_decoding.DecoderSpec.from_export(export)
    tokenizer = Tokenizer.from_file(str(int8_export_dir / "tokenizer.json"))
    params = kv_decoding.SamplingParams(max_tokens=INT8_TOKENS, stop_token_ids=tuple(export["stop_token_ids"]))

    def greedy(model_file):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # as the served model runs it (ort_threads: 1)
        session = onnxruntime.InferenceSession(str(int8_export_dir / model_file), options,
                                               providers=["CPUExecutionProvider"])
        run = kv_decoding.session_runner(session)
        return {p: kv_decoding.generate(run, spec, [tokenizer.encode(p).ids], params)[0].tokens for p in PROMPTS}

    int8, fp32 = greedy(export["model_file"]), greedy(export["fp32_model_file"])
    # quantization changes some greedy tokens, so a server running the FP32 graph fails below
    assert any(int8[p] != fp32[p] for p in PROMPTS), int8
    # one request at a time: INT8 activation scales span the batch, so batched tokens may differ
    with GenerationClient(client_cfg(server, model="tiny8")) as client:
        served = {p: client.generate(p, SamplingConfig(max_tokens=INT8_TOKENS)).token_ids for p in PROMPTS}
    assert served == int8 and all(served.values())


def test_fp32_concurrent_requests_are_batched_and_still_equal_pytorch(server, torch_greedy):
    # different prompt lengths in one batch: the left-padded path of the decoding loop
    def one(prompt):
        with GenerationClient(client_cfg(server)) as client:
            return client.generate(prompt, SamplingConfig(max_tokens=10))

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        results = list(pool.map(one, PROMPTS))
    for prompt, done in zip(PROMPTS, results):
        assert done.token_ids == torch_greedy(prompt, 10)[0]


def test_sampling_with_a_seed_is_reproducible(server):
    with GenerationClient(client_cfg(server, "grpc")) as client:
        def sample(seed):
            return client.generate(PROMPTS[0], SamplingConfig(max_tokens=16, temperature=1.5, top_k=50,
                                                              top_p=0.95, seed=seed)).token_ids
        assert sample(7) == sample(7)
        assert len({tuple(sample(s)) for s in range(5)}) > 1


def test_repeated_greedy_request_is_answered_from_the_cache(server):
    stats = httpclient.InferenceServerClient(f"127.0.0.1:{server.cfg.http_port}")

    def hits():
        (model,) = stats.get_inference_statistics("tiny_generate_cached")["model_stats"]
        return int(model["inference_stats"]["cache_hit"]["count"]), int(model["execution_count"])

    with contextlib.closing(stats), GenerationClient(client_cfg(server)) as client:
        sampling = SamplingConfig(max_tokens=9)
        first = client.generate("A prompt asked twice", sampling)
        hits_before, runs_before = hits()
        second = client.generate("A prompt asked twice", sampling)
        hits_after, runs_after = hits()
    assert second == first.__class__(first.text, first.token_ids, first.finish_reason, second.latency_s)
    assert (hits_after, runs_after) == (hits_before + 1, runs_before)
    with urlopen_text(f"http://127.0.0.1:{server.cfg.metrics_port}/metrics") as metrics:
        line = [m for m in metrics.splitlines() if m.startswith("nv_cache_num_hits_per_model")
                and 'model="tiny_generate_cached"' in m]
    assert line and float(line[0].split()[-1]) >= 1


class urlopen_text:
    def __init__(self, url):
        import urllib.request
        self.response = urllib.request.urlopen(url, timeout=10)

    def __enter__(self):
        return self.response.read().decode()

    def __exit__(self, *exc):
        self.response.close()


def raw_inputs(module, **values):
    """Input tensors with exactly the given numpy values (any dtype), for malformed requests."""
    inputs = []
    for name, value in values.items():
        datatype = {np.object_: "BYTES", np.int32: "INT32", np.int64: "INT64", np.float32: "FP32",
                    np.float64: "FP64"}[value.dtype.type]
        t = module.InferInput(name, list(value.shape), datatype)
        t.set_data_from_numpy(value)
        inputs.append(t)
    return inputs


TEXT = np.array([[b"hello"]], dtype=np.object_)
MALFORMED = [
    ({"text": TEXT, "temperature": np.array([[0.5]], dtype=np.float64)}, "temperature"),
    ({"text": np.array([[b"  "]], dtype=np.object_)}, "text"),
    ({"text": TEXT, "max_tokens": np.array([[0]], dtype=np.int64)}, "max_tokens"),
    ({"text": TEXT, "max_tokens": np.array([[100000]], dtype=np.int64)}, "max_tokens"),
    ({"text": TEXT, "temperature": np.array([[-1.0]], dtype=np.float32)}, "temperature"),
    ({"text": TEXT, "temperature": np.array([[np.nan]], dtype=np.float32)}, "temperature"),
    ({"text": TEXT, "top_p": np.array([[0.0]], dtype=np.float32)}, "top_p"),
    ({"text": TEXT, "temperature": np.array([[0.7]], dtype=np.float32)}, "seed"),
    ({"text": np.array([[b"\xff\xfe"]], dtype=np.object_)}, "text"),
]


@pytest.mark.parametrize("values,field", MALFORMED, ids=[f for _, f in MALFORMED])
def test_malformed_requests_get_a_400_naming_the_field(server, values, field):
    with contextlib.closing(httpclient.InferenceServerClient(f"127.0.0.1:{server.cfg.http_port}")) as client:
        # twice: an error must not come back from the response cache as an empty success
        for _ in range(2):
            with pytest.raises(InferenceServerException) as e:
                client.infer("tiny_generate", raw_inputs(httpclient, **values))
            assert e.value.status() == "400"
            assert field in e.value.message()


def test_malformed_grpc_request_is_invalid_argument(server):
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.cfg.grpc_port}")
    with pytest.raises(InferenceServerException) as e:
        client.infer("tiny_generate", raw_inputs(grpcclient, text=TEXT, max_tokens=np.array([[0]], dtype=np.int64)))
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT" and "max_tokens" in e.value.message()


def test_requests_beyond_the_queue_are_rejected_not_hung(server):
    sampling = SamplingConfig(max_tokens=300)

    def one(i):
        with GenerationClient(client_cfg(server, model="tinyq")) as client:
            try:
                return client.generate(f"{PROMPTS[0]} {i}", sampling)
            except ClientError as e:
                return str(e)

    start = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, range(10)))
    rejected = [r for r in results if isinstance(r, str)]
    assert rejected and all("queue" in r.lower() for r in rejected), rejected
    assert len(rejected) < len(results)
    assert time.monotonic() - start < 30


def test_streaming_gives_the_same_text_in_pieces(server):
    with GenerationClient(client_cfg(server, "grpc")) as client:
        whole = client.generate(PROMPTS[1], SamplingConfig(max_tokens=20))
        pieces = list(client.stream(PROMPTS[1], SamplingConfig(max_tokens=20)))
    assert len(pieces) > 2
    assert "".join(p.text for p in pieces) == whole.text
    assert [t for p in pieces for t in p.token_ids] == whole.token_ids
    assert [p.finish_reason for p in pieces[:-1]] == [""] * (len(pieces) - 1)
    assert pieces[-1].finish_reason == whole.finish_reason
    # a client that leaves: the model stops decoding its request (greedy, this prompt's answer has
    # no stop token in 1000 tokens, so a request that is not cancelled decodes all 1000)
    with GenerationClient(client_cfg(server, "grpc")) as client:
        stream = client.stream("The river that runs through", SamplingConfig(max_tokens=1000))
        assert next(stream).token_ids
        stream.close()
    log = Path(server.log_path)
    deadline = time.monotonic() + 30
    while not (found := re.search(r"tiny_generate_stream: a request was cancelled by its client after (\d+) tokens",
                                  log.read_text(errors="replace"))):
        assert time.monotonic() < deadline, "the model did not notice the cancellation"
        time.sleep(0.05)
    assert int(found.group(1)) < 800


@pytest.mark.parametrize("stream", [False, True])
def test_stop_strings_end_the_text_before_them(server, stream):
    with GenerationClient(client_cfg(server, "grpc")) as client:
        full = client.generate(PROMPTS[0], SamplingConfig(max_tokens=20)).text
        stop = full[len(full) // 2: len(full) // 2 + 2]
        sampling = SamplingConfig(max_tokens=20, stop=[stop])
        if stream:
            text = "".join(p.text for p in client.stream(PROMPTS[0], sampling))
        else:
            done = client.generate(PROMPTS[0], sampling)
            text = done.text
            assert done.finish_reason == "stop"
    assert text == full[:full.index(stop)]


def test_generate_command_prints_the_text(server, capsys):
    url = f"127.0.0.1:{server.cfg.grpc_port}"
    with GenerationClient(client_cfg(server)) as client:
        expected = client.generate(PROMPTS[0], SamplingConfig(max_tokens=7)).text
    assert main("generate", [PROMPTS[0], "--url", url, "--protocol", "grpc", "--model", "tiny",
                             "--max-tokens", "7"]) == 0
    assert capsys.readouterr().out == expected + "\n"
    assert main("generate", [PROMPTS[0], "--url", url, "--protocol", "grpc", "--model", "tiny", "--max-tokens", "7",
                             "--stream"]) == 0
    assert capsys.readouterr().out == expected + "\n"
    assert main("generate", [PROMPTS[0], "--url", url, "--protocol", "grpc", "--model", "tiny",
                             "--max-tokens", "0"]) == 2
    assert "fullchain generate: error:" in capsys.readouterr().err


def test_loadtest_command_reports_the_requests_the_server_answered(server, tmp_path, capsys):
    stats = httpclient.InferenceServerClient(f"127.0.0.1:{server.cfg.http_port}")

    def answered():
        (model,) = stats.get_inference_statistics("tiny_generate")["model_stats"]
        return int(model["inference_stats"]["success"]["count"])

    # closed whatever the outcome: tritonserver's shutdown waits for every open HTTP connection
    with contextlib.closing(stats):
        before = answered()
        out = tmp_path / "lt"
        assert main("loadtest", ["--url", f"127.0.0.1:{server.cfg.http_port}", "--model", "tiny", "--concurrency",
                                 "[1, 2]", "--duration-s", "1", "--max-tokens", "8", "--output", str(out)]) == 0
        report = json.loads((tmp_path / "lt.json").read_text())
        assert [lv["concurrency"] for lv in report["levels"]] == [1, 2]
        # the server's own count: every request the report counts was answered, and no other
        assert sum(lv["requests"] for lv in report["levels"]) == answered() - before
    for level in report["levels"]:
        assert level["requests"] > 0 and level["errors"] == 0
        assert level["requests_per_s"] == pytest.approx(level["requests"] / level["duration_s"], rel=0.01)
        # at most 8 tokens a request, every one of them counted in tokens/s (the report rounds both
        # figures, so they are compared within a rounding's reach)
        assert 0 < level["output_tokens_avg"] <= 8
        assert level["tokens_per_s"] == pytest.approx(
            level["output_tokens_avg"] * level["requests"] / level["duration_s"], rel=0.01)
        # a closed loop: no request outlasts its level
        assert 0 < level["p50_ms"] and level["p99_ms"] <= level["duration_s"] * 1000
    assert (tmp_path / "lt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "req/s" in capsys.readouterr().out


def _serve_command(repository, folder, ports):
    """`fullchain serve` (as users run it) on `ports` and its first line, once that line says it
    serves; PortTaken when the server's log says a port was taken."""
    http, grpc, metrics = ports
    log = folder / f"tritonserver-{http}.log"
    cmd = [sys.executable, "-m", "fullchain", "serve", "--repository", str(repository), "--http-port", str(http),
           "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--cache-dir", str(folder / "cache"),
           "--log-file", str(log), "--models", "tinyq_generate"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    try:
        line = read_line(process.stdout, timeout_s=120)
    except BaseException:
        process.kill()
        process.wait(timeout=30)
        raise
    if not line.startswith("serving ") or (log.is_file() and says_address_in_use(log.read_text(errors="replace"))):
        process.kill()
        _, err = process.communicate(timeout=30)
        if log.is_file() and says_address_in_use(log.read_text(errors="replace")):
            raise PortTaken(f"fullchain serve on ports {ports}")
        pytest.fail(f"fullchain serve did not start: {line!r} {err[-2000:]}")
    return process, line, http


def test_serve_command_serves_until_ctrl_c_then_stops_the_server(repository, tmp_path):
    process, line, http = start_on_fresh_ports(lambda ports: _serve_command(repository, tmp_path, ports), 3)
    try:
        assert line.startswith(f"serving {repository} (tinyq_generate): HTTP http://127.0.0.1:{http}"), line
        assert http_status(f"http://127.0.0.1:{http}/v2/health/ready") == 200
        process.send_signal(signal.SIGINT)
        assert wait_or_kill(process, timeout_s=40) == 0
        assert http_status(f"http://127.0.0.1:{http}/v2/health/live") is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_model_must_be_named_when_the_server_has_several(server):
    with GenerationClient(client_cfg(server, model="")) as client:
        with pytest.raises(ClientError, match=r"has 3 ready generation models \(tiny, tiny8, tinyq\)"):
            client.model()
