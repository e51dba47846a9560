"""The served model is what was evaluated: fullchain-served against a real tritonserver scores the
same log-likelihoods (to 1e-4) and generates the same tokens as fullchain-onnx in process on the
same INT8 export. The wheel's server has no onnxruntime backend, so `<name>` is the Python stand-in
of tests/deploy (the published config's exact tensors, ONNX Runtime on the published model.onnx)."""

import re
import shutil

import pytest
from lm_eval.api.instance import Instance

from fullchain.deploy.config import GenerationModelConfig, PublishConfig
from fullchain.deploy.repository import publish
from fullchain.evaluation.harness_lm import BackendError
from fullchain.evaluation.model_spec import model_spec
from fullchain.evaluation.onnx_backend import OnnxLM
from fullchain.evaluation.served_backend import ServedLM
from tests.deploy.conftest import running_triton
from tests.deploy.test_bls import STANDIN

PAIRS = [("The river that runs through", " the old market town"), ("Local historians have", " gathered letters"),
         ("Today the river is quieter,", " but it still plays"), ("现在的河流", "安静了许多"),
         ("The", " river"), ("Letters, parish records and", " diaries about the flood.")]
GENERATE = [("The river that runs through", {"until": ["\n"], "max_gen_toks": 8}),
            ("Local historians", {"until": ["."], "max_gen_toks": 6})]


@pytest.fixture(scope="module")
def server(eval_export, tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    publish(eval_export, PublishConfig(repository=str(repo), name="tiny", generate=GenerationModelConfig(
        onnx_runner="auto", response_cache=False, stream_model=False)))
    config = repo / "tiny" / "config.pbtxt"
    text = config.read_text().replace('platform: "onnxruntime_onnx"', 'backend: "python"')
    config.write_text(re.sub(r"dynamic_batching \{.*?\n\}\n", "", text, flags=re.S))
    shutil.copy(STANDIN, repo / "tiny" / "1" / "model.py")
    with running_triton(repo, ["tiny", "tiny_generate", "tiny_llm"], tmp_path_factory.mktemp("triton")) as running:
        yield running


def _requests(kind, args):
    return [Instance(request_type=kind, doc={}, arguments=a, idx=0) for a in args]


def assert_same_loglikelihoods(served, local):
    """The same greedy flags and log-likelihoods to 1e-4, of continuations and of a rolling text."""
    served_ll = served.loglikelihood(_requests("loglikelihood", PAIRS), disable_tqdm=True)
    local_ll = local.loglikelihood(_requests("loglikelihood", PAIRS), disable_tqdm=True)
    assert [g for _, g in served_ll] == [g for _, g in local_ll]
    assert max(abs(a - b) for (a, _), (b, _) in zip(served_ll, local_ll)) < 1e-4
    text = [("The river that runs through the old market town has shaped the lives of the people. " * 3,)]
    assert served.loglikelihood_rolling(_requests("loglikelihood_rolling", text), disable_tqdm=True) == \
        pytest.approx(local.loglikelihood_rolling(_requests("loglikelihood_rolling", text), disable_tqdm=True),
                      abs=1e-4)


def test_served_scores_and_tokens_equal_in_process_int8(server, eval_export):
    served = ServedLM(url=f"127.0.0.1:{server.cfg.http_port}", model="tiny", export=str(eval_export), batch_size=4)
    local = OnnxLM(path=str(eval_export), batch_size=4)
    assert local.precision == "int8-dynamic"
    assert_same_loglikelihoods(served, local)
    prompts = [local._prompt(c, k["max_gen_toks"]) for c, k in GENERATE]
    served_tokens = [served.generate_tokens([p], [c], k["max_gen_toks"], k["until"])[0]
                     for p, (c, k) in zip(prompts, GENERATE)]
    local_tokens = [local.generate_tokens([p], [c], k["max_gen_toks"], []) [0] for p, (c, k) in zip(prompts, GENERATE)]
    assert all(local_tokens)
    # the server stops at a stop string; in process the loop ran to max_gen_toks: the served tokens lead
    assert all(lt[:len(st)] == st and st for st, lt in zip(served_tokens, local_tokens))
    assert served.generate_until(_requests("generate_until", GENERATE), disable_tqdm=True) == \
        local.generate_until(_requests("generate_until", GENERATE), disable_tqdm=True)


def test_scoring_through_the_llm_model_equals_in_process_int8_on_whole_rows(server, eval_export):
    # <name>_llm runs on the wheel's own server: each row whole, one echo request at a time
    spec = model_spec(f"grpc://127.0.0.1:{server.cfg.grpc_port}/tiny", str(eval_export))
    assert (spec.label, spec.args["scoring"]) == ("served-tiny-llm", "llm")
    served = ServedLM(**spec.args)
    local = OnnxLM(path=str(eval_export), batch_size=1, full_rows="true")
    assert_same_loglikelihoods(served, local)


def test_an_unreachable_server_or_model_is_one_line(server, eval_export):
    with pytest.raises(BackendError, match="cannot reach Triton at 127.0.0.1:9"):
        ServedLM(url="127.0.0.1:9", model="tiny", export=str(eval_export), timeout_s=2)
    with pytest.raises(BackendError, match="no ready model 'nope'"):
        ServedLM(url=f"127.0.0.1:{server.cfg.http_port}", model="nope", export=str(eval_export))
    with pytest.raises(BackendError, match="no ready model 'nope_llm'"):
        ServedLM(url=f"127.0.0.1:{server.cfg.grpc_port}", model="nope", export=str(eval_export), scoring="llm")
