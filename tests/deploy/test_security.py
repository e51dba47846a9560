"""What a client that reaches the server's ports can and cannot do: the state-changing APIs need the
admin key (a load with a file override runs nothing), a failed load does not change readiness,
path-like model names reach no file, oversized or malformed requests are refused without holding up
others; and the generation model's request decoder, fuzzed in-process."""

import base64
import importlib.util
import json
import math
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tritonclient.utils import InferenceServerException

from fullchain.deploy.config import ADMIN_HEADER, GRPC_ADMIN_HEADER, GenerationModelConfig, PublishConfig
from fullchain.deploy.repository import GENERATE_MODEL_DIR, publish
from fullchain.deploy.server import MODEL_READY_PATH, READY_PATH, http_status
from tests.deploy.conftest import running_triton

SERVED = ["tiny_generate", "tiny_generate_cached"]
# byte limit of the tiny model: 1024 positions x 32 bytes
PROMPT_LIMIT = 1024 * 32


@pytest.fixture(scope="module")
def repository(export_dir, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    publish(export_dir, PublishConfig(repository=str(repo), name="tiny",
                                      generate=GenerationModelConfig(stream_model=False)))
    publish(export_dir, PublishConfig(repository=str(repo), name="spare", generate=GenerationModelConfig(
        response_cache=False, stream_model=False)))
    broken = repo / "broken"
    (broken / "1").mkdir(parents=True)
    (broken / "config.pbtxt").write_text(BROKEN_CONFIG)
    (broken / "1" / "model.py").write_text("class TritonPythonModel:\n    def initialize(self, args):\n"
                                           "        raise RuntimeError('this model never loads')\n")
    return repo


BROKEN_CONFIG = ('backend: "python"\nmax_batch_size: 0\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]\n'
                 'output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]\n')


@pytest.fixture(scope="module")
def server(repository, tmp_path_factory):
    with running_triton(repository, SERVED, tmp_path_factory.mktemp("triton")) as running:
        yield running
    assert running.admin.key not in Path(running.log_path).read_text()


def call(server, method, path, body=None, headers=None, timeout=60):
    """(status, parsed JSON or text) of one HTTP request."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.http_url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def key_header(server):
    return {ADMIN_HEADER: server.admin.key}


def grpc_key_header(server):
    return {GRPC_ADMIN_HEADER: server.admin.key}


def grpc(server):
    return grpcclient.InferenceServerClient(f"127.0.0.1:{server.cfg.grpc_port}")


def ready(server, model):
    return http_status(server.http_url + MODEL_READY_PATH.format(model)) == 200


def evil_load(marker: Path) -> dict:
    """A load request whose file override would write `marker` from inside the server."""
    code = f"open({str(marker)!r}, 'w').write('ran')\nclass TritonPythonModel:\n    def execute(self, r):\n" \
           "        return []\n"
    config = json.dumps({"backend": "python", "max_batch_size": 0,
                         "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [1]}],
                         "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [1]}]})
    return {"parameters": {"config": config, "file:1/model.py": base64.b64encode(code.encode()).decode()}}


@pytest.mark.parametrize("key", [None, "wrong-key-wrong-key"], ids=["no key", "wrong key"])
def test_load_with_a_file_override_is_refused_and_runs_nothing(server, tmp_path, key):
    marker = tmp_path / "ran"
    headers = None if key is None else {ADMIN_HEADER: key}
    status, body = call(server, "POST", "/v2/repository/models/evil/load", evil_load(marker), headers)
    assert status == 403 and ADMIN_HEADER in body["error"]
    request = evil_load(marker)["parameters"]
    with pytest.raises(InferenceServerException) as e:
        grpc(server).load_model("evil", config=request["config"],
                                headers=None if key is None else {GRPC_ADMIN_HEADER: key},
                                files={"file:1/model.py": base64.b64decode(request["file:1/model.py"])})
    assert GRPC_ADMIN_HEADER in e.value.message()
    time.sleep(1)
    assert not marker.exists()
    assert http_status(server.http_url + MODEL_READY_PATH.format("evil")) != 200


def test_unload_without_the_key_is_refused_and_the_model_stays_ready(server):
    status, body = call(server, "POST", "/v2/repository/models/tiny_generate/unload")
    assert status == 403 and ADMIN_HEADER in body["error"]
    with pytest.raises(InferenceServerException, match=GRPC_ADMIN_HEADER):
        grpc(server).unload_model("tiny_generate_cached")
    time.sleep(0.5)
    assert all(ready(server, m) for m in SERVED)


@pytest.mark.parametrize("method,path", [
    ("POST", "/v2/repository/index"), ("GET", "/v2/logging"), ("POST", "/v2/logging"),
    ("GET", "/v2/trace/setting"), ("POST", "/v2/trace/setting"), ("GET", "/v2/systemsharedmemory/status"),
    ("POST", "/v2/systemsharedmemory/region/r/register"), ("GET", "/v2/cudasharedmemory/status")])
def test_state_changing_http_apis_need_the_key(server, method, path):
    body = {} if method == "POST" else None
    status, answer = call(server, method, path, body)
    assert status == 403 and ADMIN_HEADER in answer["error"]
    assert call(server, method, path, body, key_header(server))[0] != 403


@pytest.mark.parametrize("request_", [
    lambda c: c.get_model_repository_index(), lambda c: c.update_log_settings({"log_verbose_level": 1}),
    lambda c: c.update_trace_settings(settings={"trace_file": "/tmp/x"}),
    lambda c: c.register_system_shared_memory("r", "/r", 8), lambda c: c.get_system_shared_memory_status()],
    ids=["index", "logging", "trace", "shm-register", "shm-status"])
def test_state_changing_grpc_apis_need_the_key(server, request_):
    with pytest.raises(InferenceServerException) as e:
        request_(grpc(server))
    assert GRPC_ADMIN_HEADER in e.value.message()


def test_documented_curl_load_and_unload_work_with_the_key(server):
    # the commands of docs/SERVING.md, with this server's port and key
    def curl(path, method="POST"):
        return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "-H",
                               f"{ADMIN_HEADER}: {server.admin.key}", f"{server.http_url}{path}"],
                              capture_output=True, text=True, timeout=120, check=True).stdout

    assert curl("/v2/repository/models/spare_generate/load") == "200"
    assert ready(server, "spare_generate")
    assert curl("/v2/repository/models/spare_generate/unload") == "200"
    deadline = time.monotonic() + 30
    while ready(server, "spare_generate") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ready(server, "spare_generate")


def test_grpc_load_and_unload_work_with_the_key(server):
    client = grpc(server)
    client.load_model("spare_generate", headers=grpc_key_header(server))
    assert client.is_model_ready("spare_generate")
    client.unload_model("spare_generate", headers=grpc_key_header(server))
    deadline = time.monotonic() + 30
    while client.is_model_ready("spare_generate") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not client.is_model_ready("spare_generate")


def test_a_failed_load_leaves_the_server_and_its_models_ready(server):
    status, body = call(server, "POST", "/v2/repository/models/broken/load", {}, key_header(server))
    assert status == 400 and "never loads" in body["error"]
    assert http_status(server.http_url + READY_PATH) == 200
    assert all(ready(server, m) for m in SERVED)


@pytest.mark.parametrize("name", ["..", "../tiny_generate", "%2e%2e", "..%2Ftiny_generate", "tiny_generate%2F..",
                                  "a%00b", "tiny_generate%00", "%2e%2e%2fbroken"])
def test_path_like_model_names_reach_no_model(server, name):
    status, _ = call(server, "POST", f"/v2/repository/models/{name}/load", {}, key_header(server))
    assert status != 200
    text = {"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": ["hi"]}
    status, _ = call(server, "POST", f"/v2/models/{name}/infer", {"inputs": [text]})
    assert status in (400, 404)
    assert http_status(server.http_url + READY_PATH) == 200 and all(ready(server, m) for m in SERVED)


def infer_body(text, **ints):
    inputs = [{"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": [text]}]
    inputs += [{"name": k, "datatype": "INT64", "shape": [1, 1], "data": [v]} for k, v in ints.items()]
    return {"inputs": inputs}


def test_an_oversized_prompt_is_refused_at_once_and_blocks_no_one(server):
    small = infer_body("The river", max_tokens=4)
    assert call(server, "POST", "/v2/models/tiny_generate/infer", small)[0] == 200
    big = infer_body("word " * (4 * 1024 * 1024))  # the 20 MB prompt of the report

    def timed(body):
        start = time.monotonic()
        status, answer = call(server, "POST", "/v2/models/tiny_generate/infer", body)
        return status, answer, time.monotonic() - start

    with ThreadPoolExecutor(2) as pool:
        big_done = pool.submit(timed, big)
        time.sleep(0.3)  # the big request is in the server by now
        small_status, _, small_s = timed(small)
        status, answer, big_s = big_done.result()
    print(f"20 MB prompt refused in {big_s:.2f} s; small request meanwhile {small_s:.2f} s")
    assert status == 400 and answer["error"].startswith("text: ") and str(PROMPT_LIMIT) in answer["error"]
    assert small_status == 200
    assert big_s < 8 and small_s < 5


def test_a_body_far_over_the_stack_of_the_http_front_does_not_crash_the_server(server):
    # tritonserver 2.51 died with SIGSEGV on bodies of half its thread stack (4 MiB under 8 MiB stacks)
    status, _ = call(server, "POST", "/v2/models/no_such_model/infer", b"x" * (40 << 20))
    assert status in (400, 404)
    assert server.process.poll() is None and http_status(server.http_url + READY_PATH) == 200


def test_a_prompt_just_over_the_limit_is_refused_and_one_at_it_is_tokenized(server):
    status, answer = call(server, "POST", "/v2/models/tiny_generate/infer", infer_body("a" * (PROMPT_LIMIT + 1)))
    assert status == 400 and f"{PROMPT_LIMIT + 1} bytes" in answer["error"]
    # at the byte limit the prompt reaches the tokenizer, which counts its tokens against the positions
    status, answer = call(server, "POST", "/v2/models/tiny_generate/infer", infer_body("a " * (PROMPT_LIMIT // 2)))
    assert status == 400 and "tokens" in answer["error"]


@pytest.mark.parametrize("field,value", [("max_tokens", 2**31), ("max_tokens", 2**32 + 1), ("max_tokens", 2**63 - 1),
                                         ("top_k", -2**31 - 1)])
def test_integers_beyond_int32_are_reported_as_sent(server, field, value):
    status, answer = call(server, "POST", "/v2/models/tiny_generate/infer", infer_body("hi", **{field: value}))
    assert status == 400 and answer["error"].startswith(f"{field}: must be within ")
    assert answer["error"].endswith(f"got {value}")


@pytest.mark.parametrize("body,problem", [(b"not json", "JSON"), (b"[]", "inputs"), (b"{}", "inputs"),
                                          (b'{"inputs": 5}', "inputs")])
def test_malformed_bodies_are_answered_by_triton_itself(server, body, problem):
    # Triton's HTTP front answers these (500, naming the problem) before any model sees them;
    # docs/SERVING.md says so. The server must stay ready and keep answering.
    status, answer = call(server, "POST", "/v2/models/tiny_generate/infer", body)
    assert status == 500 and problem in answer["error"]
    assert call(server, "POST", "/v2/models/tiny_generate/infer", infer_body("hi", max_tokens=2))[0] == 200


# ---- the request checks of the generation model (deploy/triton_models/generate/request_checks.py), in this process


@pytest.fixture(scope="module")
def request_checks():
    """request_checks.py loaded by path, as the generation model loads it from its version folder."""
    spec = importlib.util.spec_from_file_location("fullchain_request_checks", GENERATE_MODEL_DIR / "request_checks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def limits(module, seed_required=True):
    return module.RequestLimits(default_max_tokens=64, max_tokens_limit=1024, max_prompt_bytes=1000,
                                seed_required=seed_required)


def test_decoder_takes_triton_shaped_values(request_checks):
    fields = {"text": np.array([[b"The river"]], dtype=np.object_), "max_tokens": np.array([[7]], dtype=np.int64),
              "temperature": np.array([[0.5]], dtype=np.float32), "seed": np.array([[3]], dtype=np.int64),
              "stop": np.array([[b"\n", "é".encode()]], dtype=np.object_)}
    request = request_checks.decode_request(fields, limits(request_checks))
    assert request == request_checks.Request(text="The river", max_tokens=7, temperature=0.5, top_k=0, top_p=1.0,
                                             seed=3, stop=("\n", "é"))


@pytest.mark.parametrize("fields,message", [
    ({"text": "hi", "max_tokens": 2**31}, "max_tokens: must be within 1..1024, got 2147483648"),
    ({"text": "hi", "top_k": -2**63}, f"top_k: must be within 0..{2**63 - 1}, got {-2**63}"),
    ({"text": b"x" * 1001}, "text: 1001 bytes; at most 1000"),
    ({"text": "hi", "temperature": 1e-30, "seed": 1}, "temperature: must be 0 (greedy)"),
    ({"text": "hi", "temperature": 10**400}, "temperature: must be a finite number"),
    ({"text": "hi", "stop": [["a"] * 17]}, "stop: at most 16"),
    ({"text": [b"a", b"b"]}, "text: expected one value per request, got 2"),
    ({"text": "\ud800"}, "text: must be UTF-8"),
])
def test_decoder_names_the_field_and_the_value_as_sent(request_checks, fields, message):
    with pytest.raises(request_checks.RequestError) as e:
        request_checks.decode_request(fields, limits(request_checks))
    assert str(e.value).startswith(message)


def test_decoder_checks_the_byte_length_before_decoding(request_checks):
    # not UTF-8 and too long: the length is what is reported, the bytes were never decoded
    with pytest.raises(request_checks.RequestError, match="text: 1001 bytes"):
        request_checks.decode_request({"text": b"\xff" * 1001}, limits(request_checks))


SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**70)
           | st.integers(min_value=-2**70, max_value=0) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=20) | st.binary(max_size=20) | st.sampled_from([b"\xff\xfe", "\ud800", 10**400]))
ARRAYS = hnp.arrays(st.sampled_from([np.int32, np.int64, np.uint64, np.float32, np.float64, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
BYTES_ARRAYS = st.lists(st.binary(max_size=8), min_size=1, max_size=3).map(
    lambda v: np.array([v], dtype=np.object_))
VALUES = st.recursive(SCALARS | ARRAYS | BYTES_ARRAYS,
                      lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner), max_leaves=8)
FIELD_NAMES = ("text", "max_tokens", "temperature", "top_k", "top_p", "seed", "stop")


@pytest.mark.fuzz
@given(fields=st.dictionaries(st.sampled_from(FIELD_NAMES), VALUES | st.just("hello")), seed_required=st.booleans())
def test_decoder_returns_a_valid_request_or_names_the_field(request_checks, fields, seed_required):
    bounds = limits(request_checks, seed_required)
    try:
        request = request_checks.decode_request(fields, bounds)
    except request_checks.RequestError as e:
        message = str(e)
        assert message.split(":", 1)[0] in FIELD_NAMES and "\n" not in message and len(message) < 300
        return
    assert isinstance(request.text, str) and request.text.strip()
    assert len(request.text.encode("utf-8")) <= bounds.max_prompt_bytes
    assert type(request.max_tokens) is int and 1 <= request.max_tokens <= bounds.max_tokens_limit
    assert type(request.top_k) is int and 0 <= request.top_k < 2**63
    assert request.seed is None or (type(request.seed) is int and 0 <= request.seed < 2**63)
    assert math.isfinite(request.temperature) and (request.temperature == 0 or request.temperature >= 1e-3)
    assert 0 < request.top_p <= 1
    assert all(isinstance(s, str) and s for s in request.stop)
    if seed_required and request.temperature > 0:
        assert request.seed is not None


def test_an_idle_client_connection_does_not_keep_the_server_from_a_clean_stop(tmp_path):
    import socket

    from tests.deploy.conftest import STOP_TIMEOUT_S, running_triton

    (tmp_path / "repo").mkdir()
    with running_triton(tmp_path / "repo", [], tmp_path) as server:  # asserts exit status 0 on the way out
        port = int(server.http_url.rsplit(":", 1)[1])
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        idle.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n")
        assert idle.recv(64).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
    assert server.process.returncode == 0
    assert time.monotonic() - start < STOP_TIMEOUT_S
    idle.close()
