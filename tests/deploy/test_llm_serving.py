"""`<name>_llm` (continuous batching) served by the real tritonserver of the nvidia-pytriton wheel,
driven with the streaming gRPC client: concurrent mixed requests equal generating each alone in
process (FP32 export), a late short request finishes before an earlier long one (it joined the
running batch), cancellation frees the slot, a full queue refuses at once, echo/logprobs."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from tokenizers import Tokenizer

from fullchain.deploy.client import ClientError, GenerationClient
from fullchain.deploy.config import ClientConfig, GenerationModelConfig, LlmModelConfig, PublishConfig, SamplingConfig
from fullchain.deploy.continuous_batching import log_softmax
from fullchain.deploy.repository import publish
from fullchain.exporters import kv_decoding
from tests.deploy.conftest import running_triton
from tests.deploy.served_metrics import llm_metric, wait_for

PROMPTS = ["The river that runs through", "Local historians have gathered letters, parish records",
           "现在的河流安静了许多", "Today", "A", "In the spring of that year the mill"]
ONLY_LLM = GenerationModelConfig(response_cache=False, stream_model=False)


@pytest.fixture(scope="module")
def server(export_dir, tmp_path_factory):
    repo = tmp_path_factory.mktemp("llm-repo")
    publish(export_dir, PublishConfig(repository=str(repo), name="tiny", generate=ONLY_LLM,
                                      llm=LlmModelConfig(max_batch_size=4, max_queue_size=8)))
    # one sequence at a time and one waiting: for the queue and cancellation tests
    publish(export_dir, PublishConfig(repository=str(repo), name="one", generate=ONLY_LLM,
                                      llm=LlmModelConfig(max_batch_size=1, max_queue_size=1)))
    with running_triton(repo, ["tiny_llm", "one_llm"], tmp_path_factory.mktemp("triton-llm")) as running:
        yield running


@pytest.fixture(scope="module")
def local(export_dir):
    meta = json.loads((Path(export_dir) / "export.json").read_text())
    session = onnxruntime.InferenceSession(str(Path(export_dir) / meta["model_file"]),
                                           providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(Path(export_dir) / "tokenizer.json"))
    return kv_decoding.session_runner(session), kv_decoding.DecoderSpec.from_export(meta), tokenizer, meta


def client(server, model):
    return GenerationClient(ClientConfig(url=f"127.0.0.1:{server.cfg.grpc_port}", protocol="grpc", timeout_s=30,
                                         model=model))


def collect(server, model, prompt, sampling, **kwargs):
    with client(server, model) as c:
        return list(c.stream_llm(prompt, sampling, **kwargs))


def test_concurrent_mixed_requests_equal_generating_each_alone(server, local):
    run, spec, tokenizer, meta = local
    max_tokens = [24, 3, 9, 40, 1, 15]
    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        streams = list(pool.map(lambda a: collect(server, "tiny", a[0], SamplingConfig(max_tokens=a[1])),
                                zip(PROMPTS, max_tokens)))
    for prompt, m, pieces in zip(PROMPTS, max_tokens, streams):
        expected = kv_decoding.generate(run, spec, [tokenizer.encode(prompt).ids], kv_decoding.SamplingParams(
            max_tokens=m, stop_token_ids=tuple(meta["stop_token_ids"])))[0]
        tokens = [t for p in pieces for t in p.token_ids]
        assert tokens == expected.tokens
        # one response per token, streamed: the text of the pieces is the whole decoded text
        assert all(len(p.token_ids) <= 1 for p in pieces)
        assert "".join(p.text for p in pieces) == tokenizer.decode(expected.tokens, skip_special_tokens=True)
        last = pieces[-1]
        assert (last.finish_reason, last.completion_tokens) == (expected.finish_reason, len(expected.tokens))
        assert last.prompt_tokens == len(tokenizer.encode(prompt).ids)
        assert all(not p.finish_reason for p in pieces[:-1])


def test_seeded_sampling_and_stop_strings(server, local):
    run, spec, tokenizer, meta = local
    seeded = SamplingConfig(max_tokens=20, temperature=0.9, top_p=0.95, seed=7)
    alone = [t for p in collect(server, "tiny", PROMPTS[2], seeded) for t in p.token_ids]
    with ThreadPoolExecutor(4) as pool:
        mates = [pool.submit(collect, server, "tiny", p, SamplingConfig(max_tokens=30)) for p in PROMPTS[3:]]
        together = [t for p in collect(server, "tiny", PROMPTS[2], seeded) for t in p.token_ids]
        [m.result() for m in mates]
    # the request's own generator: the same tokens with and without batch mates, and as in process
    params = kv_decoding.SamplingParams(max_tokens=20, temperature=0.9, top_p=0.95, seed=7,
                                        stop_token_ids=tuple(meta["stop_token_ids"]))
    assert together == alone == kv_decoding.generate(run, spec, [tokenizer.encode(PROMPTS[2]).ids], params)[0].tokens
    full = "".join(p.text for p in collect(server, "tiny", PROMPTS[0], SamplingConfig(max_tokens=30)))
    stop = full[len(full) // 2: len(full) // 2 + 3]
    pieces = collect(server, "tiny", PROMPTS[0], SamplingConfig(max_tokens=30, stop=[stop]))
    assert "".join(p.text for p in pieces) == full[: full.index(stop)]
    assert pieces[-1].finish_reason == "stop" and pieces[-1].completion_tokens < 30


def test_a_later_short_request_joins_the_running_batch(server):
    with client(server, "tiny") as c:
        long_stream = c.stream_llm(PROMPTS[0], SamplingConfig(max_tokens=900))
        assert next(long_stream).token_ids  # the long request runs
        short = collect(server, "tiny", PROMPTS[1], SamplingConfig(max_tokens=4))
        # with one batch running to its longest request, the short one would have waited for 900 tokens
        rest = list(long_stream)
    assert sum(len(p.token_ids) for p in short) == 4
    assert sum(len(p.token_ids) for p in rest) >= 800, "the long request ended before the short one"


def timed_collect(server, model, prompt, m):
    """("ok", pieces) or ("refused", the error), with the seconds the request took."""
    start = time.monotonic()
    try:
        outcome = ("ok", collect(server, model, prompt, SamplingConfig(max_tokens=m)))
    except ClientError as e:
        outcome = ("refused", str(e))
    return outcome, time.monotonic() - start


def test_a_full_queue_refuses_at_once(server):
    # one sequence runs, one waits: of six arriving together, the others are refused without waiting
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda p: timed_collect(server, "one", p, 900), PROMPTS))
    done = [s for (kind, _), s in results if kind == "ok"]
    refused = [(what, s) for (kind, what), s in results if kind == "refused"]
    assert len(done) >= 2 and refused
    for what, seconds in refused:
        # a streamed error carries its message only (Triton's stream responses have no status code)
        assert what.startswith("one_llm: queue full: 1 requests wait")
        assert seconds < min(done)


def test_cancellation_frees_the_slot(server):
    (_, pieces), alone_s = timed_collect(server, "one", PROMPTS[0], 900)
    assert sum(len(p.token_ids) for p in pieces) == 900
    with client(server, "one") as holder:
        stream = holder.stream_llm(PROMPTS[0], SamplingConfig(max_tokens=900))
        assert next(stream).token_ids  # the only slot is taken
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(timed_collect, server, "one", PROMPTS[3], 3)
            time.sleep(0.05)
            cancelled_at = time.monotonic()
            stream.close()  # cancels the running request: the waiting one gets the slot
            (kind, pieces), _ = waiting.result(timeout=30)
            freed_after_s = time.monotonic() - cancelled_at
    assert kind == "ok" and sum(len(p.token_ids) for p in pieces) == pieces[-1].completion_tokens == 3
    # without the cancellation it would have waited for the rest of the 900 tokens
    assert freed_after_s < alone_s / 3


def test_prompt_ids_echo_and_logprobs_equal_in_process_scores(server, local):
    run, spec, tokenizer, meta = local
    prompt = tokenizer.encode(PROMPTS[5]).ids
    # echo with max_tokens 0: one response, the prompt's log-probabilities only (lm-evaluation-harness)
    scored = collect(server, "tiny", prompt, _Raw(max_tokens=0), echo=True)
    assert len(scored) == 1 and scored[0].finish_reason == "length" and not scored[0].token_ids
    pieces = collect(server, "tiny", prompt, SamplingConfig(max_tokens=1), echo=True, logprobs=True)
    scores = log_softmax(run(kv_decoding.prefill_feeds(spec, [prompt + pieces[0].token_ids]))["logits"][0])
    for first in (scored[0], pieces[0]):
        assert first.prompt_token_ids == prompt and np.isnan(first.prompt_logprobs[0])
        np.testing.assert_allclose(first.prompt_logprobs[1:], scores[np.arange(len(prompt) - 1), prompt[1:]],
                                   atol=1e-4)
    np.testing.assert_allclose(pieces[0].token_logprobs, [scores[len(prompt) - 1, pieces[0].token_ids[0]]], atol=1e-4)
    with client(server, "tiny") as c:
        with pytest.raises(ClientError, match="max_tokens: must be within 0..1024, got -1"):
            list(c.stream_llm(prompt, _Raw(max_tokens=-1)))
        with pytest.raises(ClientError, match=f"prompt_ids: every id must be within 0..{meta['vocab_size'] - 1}"):
            list(c.stream_llm([1, meta["vocab_size"]], SamplingConfig(max_tokens=1)))


class _Raw(SamplingConfig):
    """Sampling values sent as given, unchecked (to reach the server's checks)."""

    def __post_init__(self) -> None:
        pass


def test_loadtest_of_the_llm_model_with_shard_prompts(server, export_dir, tmp_path):
    from fullchain.deploy.config import LoadtestConfig
    from fullchain.deploy.loadtest import run_loadtest
    from tests.deploy.test_loadtest_figures import write_val_shards

    tokenizer = Tokenizer.from_file(str(Path(export_dir) / "tokenizer.json"))
    ids = tokenizer.encode("The river runs through the old market town, past the mill. " * 12).ids
    shards = write_val_shards(tmp_path / "shards", [ids])
    cfg = LoadtestConfig(url=f"127.0.0.1:{server.cfg.grpc_port}", protocol="grpc", model="tiny", concurrency=[1, 4],
                         duration_s=0.5, max_tokens=6, shards=str(shards), input_tokens_mean=12)
    report = run_loadtest(cfg)
    assert report["endpoint"] == "llm" and report["prompts"].startswith("val split of")
    for level in report["levels"]:
        assert level["requests"] > 0 and level["errors"] == 0, level["first_error"]
        # token ids go as they are: every prompt has the drawn length
        assert level["input_tokens_avg"] == 12 and level["output_tokens_avg"] <= 6
        assert 0 < level["ttft_p50_ms"] <= level["p50_ms"]


def test_open_loop_loadtest_sends_every_arrival_to_the_llm_model(server):
    from fullchain.deploy.config import LoadtestConfig
    from fullchain.deploy.loadtest import ARRIVAL_SEED_OFFSET, arrival_times, run_loadtest

    cfg = LoadtestConfig(url=f"127.0.0.1:{server.cfg.grpc_port}", protocol="grpc", model="tiny", request_rate=[20.0],
                         max_concurrency=4, duration_s=0.5, max_tokens=5, prompts=["The river"])
    wait_for(lambda: llm_metric(server, "running_sequences", "tiny_llm") == 0)
    tokens_before = llm_metric(server, "generated_tokens", "tiny_llm")
    report = run_loadtest(cfg)
    (level,) = report["levels"]
    assert (report["mode"], level["request_rate"]) == ("request_rate", 20.0)
    assert level["requests"] == len(arrival_times(20.0, 0.5, ARRIVAL_SEED_OFFSET)) and level["errors"] == 0, level
    assert 1 <= level["concurrency"] <= 4
    # the server generated what the clients counted (the average is rounded to 0.1 token)
    total = level["output_tokens_avg"] * level["requests"]
    wait_for(lambda: abs(llm_metric(server, "generated_tokens", "tiny_llm") - tokens_before - total)
             <= 0.05 * level["requests"])


def test_loadtest_with_drawn_output_lengths_against_the_llm_model(server):
    from fullchain.deploy.config import LoadtestConfig
    from fullchain.deploy.loadtest import LoadtestError, output_lengths, run_loadtest

    cfg = LoadtestConfig(url=f"127.0.0.1:{server.cfg.grpc_port}", protocol="grpc", model="tiny", concurrency=[3],
                         duration_s=0.5, max_tokens=6, output_tokens_stddev=3, prompts=["The river"])
    lengths = output_lengths(cfg)
    (level,) = run_loadtest(cfg)["levels"]
    assert level["requests"] > 0 and level["errors"] == 0, level["first_error"]
    assert 0 < level["output_tokens_avg"] <= max(lengths)
    # the gauges follow the last step of the run above (running first, then the token count)
    wait_for(lambda: llm_metric(server, "running_sequences", "tiny_llm") == 0)
    tokens_before = llm_metric(server, "generated_tokens", "tiny_llm")
    # normal(300, 400) clipped to 1..1200 draws past the model's max_tokens_limit (1024): every such
    # request would fail, so the run is refused before it sends one
    with pytest.raises(LoadtestError, match=r"normal\(300, 400\) draws up to 1200\) is over tiny_llm's "
                                            r"max_tokens_limit 1024"):
        run_loadtest(LoadtestConfig(url=cfg.url, protocol="grpc", model="tiny", concurrency=[1], duration_s=0.5,
                                    max_tokens=300, output_tokens_stddev=400, prompts=["The river"]))
    assert llm_metric(server, "generated_tokens", "tiny_llm") == tokens_before
