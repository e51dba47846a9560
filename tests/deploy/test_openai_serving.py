"""The OpenAI-compatible front beside the real tritonserver (deploy.serving_stack.ServingStack, as
`fullchain serve --openai-port` runs it), driven with the `openai` Python client: completions and
chat, streamed and not, against in-process ONNX Runtime; the error shape and statuses; API keys
(and that no key reaches the log); a client that leaves mid-stream; the Kubernetes dashboard's and
autoscaler's queries in a real Prometheus scraping both; tritonserver stopping cleanly
after all of it, and the front stopping with it. The command `fullchain serve --openai-port`:
test_openai_serve_command.py."""

import http.client
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime
import openai
import pytest
import yaml
from tokenizers import Tokenizer

from fullchain.deploy.config import GenerationModelConfig, LlmModelConfig, PublishConfig, ServeConfig
from fullchain.deploy.openai_front.api_keys import API_KEYS_ENV
from fullchain.deploy.repository import list_models, publish
from fullchain.deploy.server import ServerError
from fullchain.deploy.serving_stack import ServingStack
from fullchain.exporters import kv_decoding
from tests.deploy.conftest import READY_TIMEOUT_S, STOP_TIMEOUT_S
from tests.deploy.prometheus import POD_LABELS, SCRAPE_INTERVAL_S, Prometheus, adapter_query, dashboard_query
from tests.deploy.served_metrics import closed_requests, exposed_metrics, llm_metric, wait_for
from tests.ports import PortTaken, says_address_in_use, start_on_fresh_ports

KEY = "sk-test-key-0123456789"
ENV_KEY = "sk-env-key-9876543210"
WRONG_KEY = "sk-wrong-key-000000000"
PROMPT = "The river that runs through"
CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}<|assistant|>"


@pytest.fixture(scope="module")
def repository(export_dir, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    publish(export_dir, PublishConfig(repository=str(repo), name="tiny"))
    # one slot, one queue place: for the overload test
    publish(export_dir, PublishConfig(repository=str(repo), name="tinyq",
                                      llm=LlmModelConfig(max_batch_size=1, max_queue_size=1),
                                      generate=GenerationModelConfig(response_cache=False, stream_model=False)))
    # what publish copies from a model folder that has a chat template
    (repo / "tinyq_llm" / "1" / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return repo


@pytest.fixture(scope="module")
def stack(repository, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stack")
    key_file = folder / "api-keys"
    key_file.write_text(f"# the test's key\n{KEY}\n")
    key_file.chmod(0o600)
    models = [m for m, backend in list_models(str(repository)).items()
              if backend == "python" and (m.startswith("tiny_") or m == "tinyq_llm")]
    os.environ[API_KEYS_ENV] = ENV_KEY  # inherited by the front, as a deployment would set it
    try:
        stack = start_on_fresh_ports(lambda ports: _start(repository, models, folder, key_file, ports), 4)
    finally:
        del os.environ[API_KEYS_ENV]
    try:
        yield stack
    finally:
        code = stack.stop()
    log = Path(stack.triton.log_path).read_text(errors="replace")
    assert_stopped_cleanly(code, log)
    for key in (KEY, ENV_KEY, WRONG_KEY):
        assert key not in log


def assert_stopped_cleanly(code, log):
    # every model unloaded: no request, refused or cancelled, still holds one (see backends.py)
    assert code == 0 and "Exit timeout expired" not in log, log[-3000:]


def _start(repository, models, folder, key_file, ports):
    http_port, grpc_port, metrics_port, openai_port = ports
    cfg = ServeConfig(repository=str(repository), http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port,
                      openai_port=openai_port, api_key_file=str(key_file), cache_dir=str(folder / "cache"),
                      ready_timeout_s=READY_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S)
    log = folder / f"serve-{http_port}.log"
    stack = ServingStack(cfg, models, log_path=log)
    try:
        stack.start()
    except ServerError as e:
        if log.is_file() and says_address_in_use(log.read_text(errors="replace")):
            raise PortTaken(f"ports {ports}: {e}") from e
        raise
    if says_address_in_use(log.read_text(errors="replace")) or stack.failed():
        stack.stop()
        raise PortTaken(f"ports {ports}: a port was taken (see {log})")
    return stack


@pytest.fixture(scope="module")
def client(stack):
    return openai.OpenAI(base_url=stack.openai_url, api_key=KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def reference(export_dir):
    """Greedy tokens and per-position log-probabilities of the exported graph in ONNX Runtime."""
    spec = kv_decoding.DecoderSpec.from_export(json.loads((Path(export_dir) / "export.json").read_text()))
    session = onnxruntime.InferenceSession(str(Path(export_dir) / "model.onnx"), providers=["CPUExecutionProvider"])
    run = kv_decoding.session_runner(session)
    tokenizer = Tokenizer.from_file(str(Path(export_dir) / "tokenizer.json"))

    class Reference:
        def encode(self, text):
            return tokenizer.encode(text).ids

        def greedy(self, ids, max_tokens):
            params = kv_decoding.SamplingParams(max_tokens=max_tokens, stop_token_ids=(2,))
            return kv_decoding.generate(run, spec, [ids], params)[0].tokens

        def decode(self, ids):
            return tokenizer.decode(ids)

        def logprobs(self, ids):
            logits = run(kv_decoding.prefill_feeds(spec, [ids]))["logits"][0].astype(np.float64)
            logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
            return [None] + [float(logp[i - 1, t]) for i, t in enumerate(ids) if i > 0]

    return Reference()


def test_models_lists_the_published_model(client):
    assert [m.id for m in client.models.list().data] == ["tiny", "tinyq"]
    assert client.models.retrieve("tiny").owned_by == "fullchain"


def test_greedy_completion_equals_onnx_runtime_and_counts_usage(client, reference):
    ids = reference.encode(PROMPT)
    expected = reference.greedy(ids, 12)
    response = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0)
    (choice,) = response.choices
    assert choice.text == reference.decode(expected)
    assert choice.finish_reason == ("length" if len(expected) == 12 else "stop")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (len(ids), len(expected))
    assert response.object == "text_completion" and response.id.startswith("cmpl-")


def test_a_streamed_completion_joins_to_the_whole(client, stack):
    whole = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=16, temperature=0)
    chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=16, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole.choices[0].text and len(chunks) > 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    # the raw events end with [DONE]
    request = urllib.request.Request(stack.openai_url + "/completions", method="POST", headers={
        "Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        data=json.dumps({"model": "tiny", "prompt": PROMPT, "max_tokens": 4, "stream": True}).encode())
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = [line for line in answer.read().decode().split("\n\n") if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: {") for e in events[:-1])


def test_seeded_sampling_with_n_choices_is_reproducible(client):
    def sample():
        return [c.text for c in client.completions.create(model="tiny", prompt=PROMPT, max_tokens=8, temperature=1,
                                                           seed=7, n=3).choices]

    first = sample()
    assert first == sample() and len(set(first)) > 1


def test_chat_with_the_plain_template_streamed_and_not(client, reference):
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Where is the river?"}]
    response = client.chat.completions.create(model="tiny", messages=messages, max_tokens=10, temperature=0)
    prompt = "System: Be terse.\nUser: Where is the river?\nAssistant:"
    expected = reference.decode(reference.greedy(reference.encode(prompt), 10)).split("\nUser:")[0]
    assert response.choices[0].message.content == expected and response.choices[0].message.role == "assistant"
    assert response.usage.prompt_tokens == len(reference.encode(prompt))
    chunks = list(client.chat.completions.create(model="tiny", messages=messages, max_tokens=10, temperature=0,
                                                 stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_echo_logprobs_equal_onnx_runtime(client, reference):
    # lm-evaluation-harness's log-likelihood request: the prompt as token ids, echo, logprobs, 1 token
    ids = reference.encode(PROMPT)
    expected = reference.logprobs(ids)
    response = client.completions.create(model="tiny", prompt=ids, max_tokens=1, temperature=0, logprobs=1,
                                         echo=True)
    logprobs = response.choices[0].logprobs
    assert len(logprobs.token_logprobs) == len(ids) + 1 and logprobs.token_logprobs[0] is None
    assert np.allclose(logprobs.token_logprobs[1:len(ids)], expected[1:], atol=1e-4, rtol=0)
    assert len(logprobs.tokens) == len(logprobs.text_offset) == len(logprobs.top_logprobs) == len(ids) + 1
    assert response.choices[0].text.startswith(reference.decode(ids))
    # the generated token's logprob is that of the greedy next token, the most likely one
    (greedy,) = reference.greedy(ids, 1)
    assert np.isclose(logprobs.token_logprobs[-1], reference.logprobs(ids + [greedy])[-1], atol=1e-4)
    assert logprobs.token_logprobs[-1] == max(logprobs.top_logprobs[-1].values())
    # text prompt, max_tokens 0: the prompt scored, nothing generated
    scored = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=0, logprobs=0, echo=True)
    assert scored.choices[0].text == PROMPT and scored.usage.completion_tokens == 0
    assert np.allclose(scored.choices[0].logprobs.token_logprobs[1:], expected[1:], atol=1e-4, rtol=0)


def test_lm_evaluation_harness_scores_through_the_front(stack, reference):
    # lm-eval 0.4's own local-completions payloads and parsers, on the front's answers
    from types import SimpleNamespace

    from lm_eval.models.openai_completions import LocalCompletionsAPI

    lm = SimpleNamespace(model="tiny", _max_gen_toks=8)
    context, continuation = reference.encode(PROMPT), reference.encode(" the town")[1:]  # no second BOS
    status, answer = raw(stack, "/completions",
                         LocalCompletionsAPI._create_payload(lm, [context + continuation], generate=False))
    assert status == 200
    ((loglikelihood, greedy),) = LocalCompletionsAPI.parse_logprobs(answer, tokens=[context + continuation],
                                                                    ctxlens=[len(context)])
    expected = reference.logprobs(context + continuation)[len(context):]
    assert abs(loglikelihood - sum(expected)) < 1e-4 * len(expected)
    assert greedy == (reference.greedy(context, len(continuation)) == continuation)
    payload = LocalCompletionsAPI._create_payload(lm, [PROMPT], generate=True, gen_kwargs={"until": ["\n\n"]},
                                                  eos="</s>")
    status, answer = raw(stack, "/completions", payload)
    assert status == 200
    assert LocalCompletionsAPI.parse_generations(answer) == [reference.decode(reference.greedy(context, 8))]


def test_streamed_logprobs_of_a_chat_answer(client, reference):
    messages = [{"role": "user", "content": "Where is the river?"}]
    chunks = list(client.chat.completions.create(model="tiny", messages=messages, max_tokens=6, temperature=0,
                                                 logprobs=True, top_logprobs=1, stream=True))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    prompt = reference.encode("User: Where is the river?\nAssistant:")
    tokens = reference.greedy(prompt, 6)
    assert len(entries) == len(tokens)
    full = reference.logprobs(prompt + tokens)
    assert np.allclose([e.logprob for e in entries], full[len(prompt):], atol=1e-4, rtol=0)
    assert all(e.logprob == e.top_logprobs[0].logprob for e in entries)  # greedy: each was the most likely


def test_chat_with_the_models_own_template_goes_as_token_ids(client, reference, export_dir):
    # tinyq_llm has a chat template: rendered, encoded without adding special tokens (one <s>), sent as ids
    tokenizer = Tokenizer.from_file(str(Path(export_dir) / "tokenizer.json"))
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Where is the river?"}]
    rendered = "<s><|system|>Be terse.\n<|user|>Where is the river?\n<|assistant|>"
    ids = tokenizer.encode(rendered, add_special_tokens=False).ids
    assert ids.count(tokenizer.token_to_id("<s>")) == 1
    response = client.chat.completions.create(model="tinyq", messages=messages, max_tokens=8, temperature=0)
    assert response.choices[0].message.content == reference.decode(reference.greedy(ids, 8))
    assert response.usage.prompt_tokens == len(ids)


def raw(stack, path, body, key=KEY, method="POST"):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.openai_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def openai_shape(body):
    return set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("body,param", [
    ({"model": "tiny", "prompt": PROMPT, "max_tokens": "many"}, "max_tokens"),
    ({"model": "tiny", "prompt": PROMPT, "temperature": -1}, "temperature"),
    ({"model": "tiny", "prompt": PROMPT, "max_tokens": 100000}, "max_tokens"),  # refused by the model itself
    ({"model": "tiny"}, "prompt")])
def test_bad_fields_are_400_in_the_openai_shape(stack, body, param):
    status, answer = raw(stack, "/completions", body)
    assert status == 400 and openai_shape(answer) and answer["error"]["param"] == param
    assert answer["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'{"model": "tiny", "prompt": "x"'])
def test_malformed_json_is_400(stack, body):
    status, answer = raw(stack, "/completions", body)
    assert status == 400 and openai_shape(answer)


def test_unknown_model_and_path_are_404(client, stack):
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="nope", prompt="x")
    assert e.value.body["code"] == "model_not_found" and e.value.body["param"] == "model"
    status, answer = raw(stack, "/no/such/path", None, method="GET")
    assert status == 404 and openai_shape(answer)


@pytest.mark.parametrize("key", [None, WRONG_KEY], ids=["no key", "wrong key"])
def test_a_request_without_a_valid_key_is_401(stack, key):
    for path, body in (("/completions", {"model": "tiny", "prompt": "x"}), ("/models", None)):
        status, answer = raw(stack, path, body, key=key, method="GET" if body is None else "POST")
        assert status == 401 and openai_shape(answer) and answer["error"]["code"] == "invalid_api_key"
    if key is not None:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=stack.openai_url, api_key=key, max_retries=0).models.list()


def test_the_key_from_the_environment_works_too(stack):
    assert raw(stack, "/models", None, key=ENV_KEY, method="GET")[0] == 200


def test_a_full_queue_is_503_at_once_and_the_rest_complete(stack):
    body = {"model": "tinyq", "prompt": PROMPT, "max_tokens": 400, "temperature": 0}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: raw(stack, "/completions", body), range(6)))
    statuses = sorted(status for status, _ in answers)
    assert statuses[0] == 200 and statuses[-1] == 503, statuses
    assert set(statuses) == {200, 503}
    for status, answer in answers:
        if status == 503:
            assert openai_shape(answer) and answer["error"]["code"] == "queue_full"
        else:
            assert answer["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not streamed"])
def test_a_client_that_leaves_mid_answer_frees_its_slot(stack, stream):
    # tinyq has one slot and one queue place. Greedy, this prompt's answer has no stop token in its
    # first 1000 tokens: a request that is not cancelled holds the slot for all 1000.
    long = {"model": "tinyq", "prompt": PROMPT, "max_tokens": 1000, "temperature": 0}
    closed_before, _ = closed_requests(stack)
    tokens_before = llm_metric(stack.triton, "generated_tokens")
    host, port = stack.openai_url.split("//")[1].split("/")[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("POST", "/v1/completions", json.dumps({**long, "stream": stream}),
                       {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    if stream:
        answer = connection.getresponse()
        assert answer.status == 200 and answer.read(7) == b"data: {"
    wait_for(lambda: llm_metric(stack.triton, "running_sequences") == 1)  # it decodes
    connection.sock.shutdown(2)
    connection.close()
    wait_for(lambda: llm_metric(stack.triton, "running_sequences") == 0)
    produced = llm_metric(stack.triton, "generated_tokens") - tokens_before
    print(f"the slot was freed after {produced:.0f} of the request's 1000 tokens")
    assert 0 < produced < 800  # 89 and 127 measured; 1000 when the model ignores cancellation
    # the slot and the queue place are free: two requests are both taken at once
    short = {"model": "tinyq", "prompt": "Today", "max_tokens": 2, "temperature": 0}
    with ThreadPoolExecutor(2) as pool:
        assert [status for status, _ in pool.map(lambda _: raw(stack, "/completions", short), range(2))] == [200, 200]
    closed_after, metrics = closed_requests(stack)
    assert closed_after == closed_before + 1
    assert "fullchain_openai_requests_in_flight 0.0" in metrics


K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
METRIC_NAME = re.compile(r"\b(?:nv|fullchain_openai|fullchain_llm)_[a-z_]+\b")


def test_every_dashboard_and_autoscaler_query_names_metrics_the_servers_expose(client, stack):
    client.completions.create(model="tiny", prompt=PROMPT, max_tokens=4, temperature=0)  # samples in every family
    host = stack.triton.http_url.rsplit(":", 1)[0]
    exposed = exposed_metrics(f"{host}:{stack.cfg.metrics_port}/metrics") | exposed_metrics(
        stack.openai_url[:-3] + "/metrics")
    dashboard = json.loads((K8S / "grafana-dashboard.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text())["rules"]["custom"]
    queries += [q for rule in rules for q in (rule["seriesQuery"], rule["metricsQuery"])]
    named = {name for query in queries for name in METRIC_NAME.findall(query)}
    assert len(named) >= 14 and {"nv_inference_queue_duration_us", "nv_inference_exec_count",
                                 "fullchain_openai_time_to_first_token_seconds_bucket",
                                 "fullchain_llm_waiting_requests", "fullchain_llm_running_sequences",
                                 "fullchain_llm_kv_reserved_tokens", "fullchain_llm_generated_tokens"} <= named
    assert sorted(named - exposed) == []


def test_dashboard_and_autoscaler_queries_evaluate_in_a_real_prometheus(client, stack, tmp_path):
    front = stack.openai_url[:-3].removeprefix("http://")
    targets = [f"127.0.0.1:{stack.cfg.metrics_port}", front]
    with start_on_fresh_ports(lambda ports: Prometheus(targets, tmp_path, ports[0]), 1) as prometheus:
        wait_for(lambda: sorted(float(s["value"][1]) for s in prometheus.query("up")) == [1.0, 1.0])
        # traffic over several scrapes, so that every rate and quantile has samples that differ
        for _ in range(3):
            client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, temperature=0)
            list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, temperature=0, stream=True))
            time.sleep(SCRAPE_INTERVAL_S)
        dashboard = json.loads((K8S / "grafana-dashboard.json").read_text())
        panels = {t["expr"]: panel["title"] for panel in dashboard["panels"] for t in panel["targets"]}
        rules = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text())["rules"]["custom"]

        def scraped_after_traffic():
            generated = prometheus.query(dashboard_query(
                "sum(rate(fullchain_llm_generated_tokens[$__rate_interval])) by (model)"))
            return any(s["metric"].get("model") == "tiny_llm" and float(s["value"][1]) > 0 for s in generated)

        wait_for(scraped_after_traffic, timeout_s=15)
        for expr, title in panels.items():
            series = prometheus.query(dashboard_query(expr))
            values = [float(s["value"][1]) for s in series]
            # a quantile of no observations, or a counter that never moved, would show as no data or NaN
            assert values and all(np.isfinite(values)), (title, expr, series)
        tokens_per_s = prometheus.query(dashboard_query(next(e for e in panels if "completion_tokens" in e)))
        assert float(tokens_per_s[0]["value"][1]) > 0
        by_status = prometheus.query(dashboard_query(next(e for e in panels if "by (status)" in e)))
        assert "200" in {s["metric"]["status"] for s in by_status}
        for rule in rules:
            assert prometheus.query(rule["seriesQuery"]), rule["seriesQuery"]
            # what the adapter hands the HPA: one value for the pod
            (sample,) = prometheus.query(adapter_query(rule["metricsQuery"]))
            assert sample["metric"] == {"pod": POD_LABELS["pod"]} and float(sample["value"][1]) >= 0, (rule, sample)


def test_the_front_stops_when_tritonserver_exits(stack):
    # last in this module: it stops the module's server, which must stop cleanly after all the
    # refused, cancelled and finished requests of the tests before
    stack.triton.process.send_signal(signal.SIGTERM)
    code = stack.triton.process.wait(timeout=STOP_TIMEOUT_S)
    assert_stopped_cleanly(code, Path(stack.triton.log_path).read_text(errors="replace"))
    assert stack.front.wait(timeout=15) == 1
    assert "tritonserver exited with status 0" in stack.failed()
