"""`fullchain loadtest`'s figures without Triton: the per-level statistics (time to first token,
inter-token latency, goodput under SLOs) from known timings; prompts cut from val shards with the
configured lengths; Poisson arrival times; the OpenAI protocol, closed and open loop, against a fake
OpenAI-compatible ASGI app (FastAPI + uvicorn) whose delays are known, through the command as users
run it; a warm-up left out of the figures."""

import json
import os
import socket
import threading
import time

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from fullchain.deploy.cli import main
from fullchain.deploy.config import LoadtestConfig, SloConfig
from fullchain.deploy.loadtest import ARRIVAL_SEED_OFFSET, arrival_times, inter_token_ms, level_result, output_lengths
from fullchain.deploy.loadtest_drivers import RequestTiming
from fullchain.deploy.loadtest_prompts import shard_prompts
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_models import tiny_tokenizer
from fullchain.pipelines.shard.manifest import build_manifest, manifest_bytes, shard_entry
from fullchain.pipelines.shard.samples import encode_sample
from fullchain.pipelines.shard.tar_writing import shard_bytes

FIRST_TOKEN_S = 0.08
TOKEN_GAP_S = 0.02
# the max_tokens of every request the fake OpenAI server got
SEEN_MAX_TOKENS: list[int] = []


def test_level_figures_follow_genai_perf_definitions():
    timings = [RequestTiming(ttft_s=0.1, latency_s=0.5, output_tokens=5, input_tokens=10),   # itl 100 ms
               RequestTiming(ttft_s=0.3, latency_s=0.4, output_tokens=3, input_tokens=20),   # itl 50 ms
               RequestTiming(ttft_s=0.2, latency_s=0.2, output_tokens=1, input_tokens=30)]   # no itl
    assert inter_token_ms(timings[0]) == pytest.approx(100.0)
    assert inter_token_ms(timings[2]) is None
    level = level_result(4, timings, ["boom"], 2.0, SloConfig(ttft_ms=250, itl_ms=80))
    assert (level.requests, level.errors, level.first_error) == (3, 1, "boom")
    assert level.ttft_p50_ms == pytest.approx(200.0) and level.ttft_avg_ms == pytest.approx(200.0)
    assert level.itl_avg_ms == pytest.approx(75.0) and level.itl_p50_ms == pytest.approx(75.0)
    assert level.p50_ms == pytest.approx(400.0) and level.latency_avg_ms == pytest.approx(1100 / 3, abs=1e-3)
    assert level.output_tokens_per_s == level.tokens_per_s == pytest.approx(4.5)
    assert level.requests_per_s == pytest.approx(1.5)
    # the first misses the ITL objective, the second the TTFT one: one good request in 2 s
    assert level.goodput_requests_per_s == pytest.approx(0.5) and level.slo_attainment == pytest.approx(1 / 3, abs=1e-4)
    assert level.input_tokens_avg == 20.0 and level.output_tokens_avg == 3.0
    assert level_result(1, timings, [], 2.0, SloConfig()).goodput_requests_per_s == level.requests_per_s


def write_val_shards(root, token_lists):
    os.makedirs(root / "val")
    samples = [encode_sample(Document(id=f"d{i}", text="t"), ids, "uint16") for i, ids in enumerate(token_lists)]
    data = shard_bytes(samples)
    (root / "val" / "shard-000000.tar").write_bytes(data)
    tokenizer = tiny_tokenizer()
    tokenizer.save_pretrained(str(root / "tokenizer"))
    entry = shard_entry("val", "val/shard-000000.tar", len(samples), sum(s.tokens for s in samples), data)
    manifest = build_manifest([entry], len(samples), {}, {"source": "given", "path": "tokenizer", "eos_id": 2,
                                                          "vocab_size": len(tokenizer)}, "uint16", {}, [])
    (root / "manifest.json").write_bytes(manifest_bytes(manifest))
    return root


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    tokenizer = tiny_tokenizer()
    text = "The river runs through the old market town, past the mill and the church. " * 20
    ids = tokenizer(text)["input_ids"]
    return write_val_shards(tmp_path_factory.mktemp("shards"), [ids, ids[::-1]]), ids + ids[::-1]


def test_prompts_are_windows_of_the_val_split_with_the_drawn_lengths(shards):
    root, stream = shards
    prompts = shard_prompts(str(root), 200, 24, 6, seed=3)
    lengths = np.array([len(p.ids) for p in prompts])
    assert 18 < lengths.mean() < 30 and 3 < lengths.std() < 9 and lengths.min() >= 1
    joined = " ".join(map(str, stream))
    assert all(" ".join(map(str, p.ids)) in joined for p in prompts[:20])
    assert all(p.text.strip() for p in prompts)
    # the same seed draws the same prompts
    assert [p.ids for p in shard_prompts(str(root), 20, 24, 6, seed=3)] == [p.ids for p in prompts[:20]]
    fixed = shard_prompts(str(root), 50, 16, 0, seed=1)
    assert {len(p.ids) for p in fixed} == {16}


def test_output_lengths_are_max_tokens_or_drawn_around_it():
    assert output_lengths(LoadtestConfig(max_tokens=32)) == [32] * 512
    drawn = np.array(output_lengths(LoadtestConfig(max_tokens=32, output_tokens_stddev=8, prompt_seed=5)))
    assert 30 < drawn.mean() < 34 and 6 < drawn.std() < 10 and drawn.min() >= 1 and drawn.max() <= 128
    assert drawn.tolist() == output_lengths(LoadtestConfig(max_tokens=32, output_tokens_stddev=8, prompt_seed=5))
    assert drawn.tolist() != output_lengths(LoadtestConfig(max_tokens=32, output_tokens_stddev=8, prompt_seed=6))
    with pytest.raises(ValueError, match="output_tokens_stddev"):
        LoadtestConfig(output_tokens_stddev=-1)


def fake_openai_app() -> FastAPI:
    """Streams max_tokens one-word chunks: the first after FIRST_TOKEN_S, then one every TOKEN_GAP_S."""
    import asyncio

    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "test"}]}

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        n = body["max_tokens"]
        SEEN_MAX_TOKENS.append(n)

        async def events():
            await asyncio.sleep(FIRST_TOKEN_S)
            for i in range(n):
                if i:
                    await asyncio.sleep(TOKEN_GAP_S)
                chunk = {"id": "c", "object": "text_completion", "created": 0, "model": "fake",
                         "choices": [{"index": 0, "text": f" w{i}", "finish_reason": None, "logprobs": None}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            usage = {"prompt_tokens": len(body["prompt"].split()), "completion_tokens": n, "total_tokens": n}
            last = {"id": "c", "object": "text_completion", "created": 0, "model": "fake", "choices": [], "usage": usage}
            yield f"data: {json.dumps(last)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def fake_openai():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake_openai_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the fake OpenAI server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


def test_openai_protocol_reports_ttft_itl_and_goodput(fake_openai, tmp_path, capsys):
    out = tmp_path / "lt"
    assert main("loadtest", ["--protocol", "openai", "--url", fake_openai, "--concurrency", "[1, 3]",
                             "--duration-s", "0.6", "--max-tokens", "5", "--slo.ttft-ms", "50",
                             "--slo.itl-ms", "1000", "--output", str(out)]) == 0
    report = json.loads((tmp_path / "lt.json").read_text())
    assert (report["model"], report["protocol"], report["endpoint"]) == ("fake", "openai", "completions")
    assert report["slo"] == {"ttft_ms": 50.0, "itl_ms": 1000.0, "latency_ms": 0.0}
    for level in report["levels"]:
        assert level["requests"] > 0 and level["errors"] == 0
        assert level["output_tokens_avg"] == 5 and level["output_tokens_per_s"] == level["tokens_per_s"]
        # Only causal bounds: the client stamps a request before sending it, so no token can reach it
        # before the server sent it. The inter-token latency has no such floor: a client stalled at its
        # first token (a loaded machine) reads the buffered rest at once.
        assert FIRST_TOKEN_S * 1000 <= level["ttft_p50_ms"] < FIRST_TOKEN_S * 1000 + 1500, level
        assert 0 < level["itl_p50_ms"] < TOKEN_GAP_S * 1000 + 500, level
        assert level["p50_ms"] >= (FIRST_TOKEN_S + 4 * TOKEN_GAP_S) * 1000
        # every request misses the 50 ms time-to-first-token objective (the server waits 80 ms)
        assert level["goodput_requests_per_s"] == 0 and level["slo_attainment"] == 0
    assert report["levels"][1]["requests_per_s"] > report["levels"][0]["requests_per_s"]
    assert (tmp_path / "lt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ttft p50" in capsys.readouterr().out


def test_requests_ask_for_the_drawn_output_lengths(fake_openai, tmp_path):
    SEEN_MAX_TOKENS.clear()
    assert main("loadtest", ["--protocol", "openai", "--url", fake_openai, "--concurrency", "[2]",
                             "--duration-s", "0.5", "--max-tokens", "4", "--output-tokens-stddev", "2",
                             "--output", str(tmp_path / "lt")]) == 0
    report = json.loads((tmp_path / "lt.json").read_text())
    assert report["output_tokens_stddev"] == 2
    expected = output_lengths(LoadtestConfig(max_tokens=4, output_tokens_stddev=2))
    # requests take the drawn lengths in turn; two workers may send neighbours out of order
    assert sorted(SEEN_MAX_TOKENS) == sorted(expected[:len(SEEN_MAX_TOKENS)]) and len(set(SEEN_MAX_TOKENS)) > 1
    level = report["levels"][0]
    assert level["output_tokens_avg"] == pytest.approx(np.mean(SEEN_MAX_TOKENS), abs=0.05)


def test_arrival_times_are_a_seeded_poisson_process():
    times = np.array(arrival_times(100.0, 50.0, seed=4))
    gaps = np.diff(np.concatenate([[0.0], times]))
    # exponential gaps: mean and standard deviation both 1 / rate
    assert 4700 < len(times) < 5300 and 0.0095 < gaps.mean() < 0.0105 and 0.009 < gaps.std() < 0.011
    assert (gaps > 0).all() and times[-1] < 50.0
    assert arrival_times(100.0, 50.0, seed=4) == times.tolist() != arrival_times(100.0, 50.0, seed=5)
    with pytest.raises(ValueError, match="request_rate"):
        LoadtestConfig(request_rate=[4.0, 0.0])
    for threads in (0, 4097):
        with pytest.raises(ValueError, match="max_concurrency"):
            LoadtestConfig(request_rate=[4.0], max_concurrency=threads)


def test_open_loop_sends_every_arrival_and_counts_those_no_thread_was_free_for(fake_openai, tmp_path, capsys):
    assert main("loadtest", ["--protocol", "openai", "--url", fake_openai, "--request-rate", "4,25",
                             "--max-concurrency", "2", "--duration-s", "1", "--max-tokens", "5",
                             "--output", str(tmp_path / "lt")]) == 0
    report = json.loads((tmp_path / "lt.json").read_text())
    assert (report["mode"], report["max_concurrency"]) == ("request_rate", 2)
    busy_s = FIRST_TOKEN_S + 4 * TOKEN_GAP_S  # the least time a request holds its thread
    for level, rate in zip(report["levels"], (4.0, 25.0)):
        due = arrival_times(rate, 1.0, ARRIVAL_SEED_OFFSET)
        assert level["request_rate"] == rate and level["requests"] == len(due) and level["errors"] == 0
        assert 1 <= level["concurrency"] <= 2 and level["duration_s"] >= 1.0
        # two threads can send on time at most two arrivals of any window shorter than a request
        if any(due[i + 2] - due[i] < busy_s for i in range(len(due) - 2)):
            assert level["delayed_requests"] > 0, (due, level)
    assert report["levels"][1]["delayed_requests"] > 0 and report["levels"][1]["concurrency"] == 2
    out = capsys.readouterr().out
    assert "req rate" in out and "delayed" in out
    assert (tmp_path / "lt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_warm_up_is_sent_and_left_out_of_the_figures(fake_openai, tmp_path):
    """--warmup-s: the requests sent in a level's first seconds reach the server and are not counted,
    and the level's time runs from the end of the warm-up (closed and open loop)."""
    SEEN_MAX_TOKENS.clear()
    assert main("loadtest", ["--protocol", "openai", "--url", fake_openai, "--concurrency", "[2]",
                             "--warmup-s", "1", "--duration-s", "0.5", "--max-tokens", "4",
                             "--output", str(tmp_path / "closed")]) == 0
    report = json.loads((tmp_path / "closed.json").read_text())
    (level,) = report["levels"]
    assert report["warmup_s"] == 1.0 and level["requests"] > 0
    # each of the two clients sent at least its first request in the warm-up, uncounted
    assert len(SEEN_MAX_TOKENS) >= level["requests"] + 2
    assert 0.5 <= level["duration_s"] < 1.5

    SEEN_MAX_TOKENS.clear()
    assert main("loadtest", ["--protocol", "openai", "--url", fake_openai, "--request-rate", "[20]",
                             "--warmup-s", "0.5", "--duration-s", "1", "--max-tokens", "2",
                             "--output", str(tmp_path / "open")]) == 0
    (level,) = json.loads((tmp_path / "open.json").read_text())["levels"]
    due = arrival_times(20.0, 1.5, ARRIVAL_SEED_OFFSET)
    assert len(SEEN_MAX_TOKENS) == len(due)
    assert level["requests"] == sum(at >= 0.5 for at in due) < len(due)
    assert 1.0 <= level["duration_s"] < 1.5
    with pytest.raises(ValueError, match="warmup_s"):
        LoadtestConfig(warmup_s=-1)
