"""Load test of a served generation model, reporting what genai-perf reports. Closed loop: at each
concurrency level, that many threads send requests back to back for a bounded time. Open loop
(request rates): requests arrive at a Poisson rate and are sent when they arrive, whatever is in
flight (up to max_concurrency), so the load does not ease when the server slows. Per level: time to
first token, inter-token latency and request latency (average, p50/p95/p99), output tokens/s,
requests/s and goodput (requests/s that meet every configured SLO); loadtest_report.py prints,
writes and plots them.

The drivers (loadtest_drivers.py) reach a Triton server (`<name>_llm` streamed over gRPC, so the
first token's time is real; or the generation models) or an OpenAI-compatible server. The prompts
(loadtest_prompts.py) are token windows of the val shards with a configured length distribution,
or the configured texts; a text prompt gets a unique suffix so that no response cache answers.
Inter-token latency is genai-perf's: (request latency - time to first token) / (output tokens - 1),
per request with at least two tokens.
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from fullchain.deploy.client import ClientError, GenerationClient
from fullchain.deploy.config import LoadtestConfig, SloConfig
from fullchain.deploy.loadtest_drivers import (
    OpenAIDriver, RequestTiming, TritonDriver, openai_base_url, openai_model, read_api_key, triton_endpoint)
from fullchain.deploy.loadtest_prompts import Prompt, PromptError, shard_prompts, text_prompts, token_lengths
from fullchain.deploy.triton_config import generate_model_name, llm_model_name, stream_model_name

# distinct prompts (and output lengths) drawn per run; requests take them in turn
PROMPT_POOL = 512
# the output lengths' seed is prompt_seed + this: not the prompt windows' draws (seed, seed + 1)
OUTPUT_LENGTH_SEED_OFFSET = 2
# the arrival times' seed is prompt_seed + this
ARRIVAL_SEED_OFFSET = 3
# an open-loop request sent later than this after its arrival time counts as delayed
LATE_S = 0.005
# makes text prompts unique across runs against one server (its response cache lives as long as it);
# short, so the suffix adds few tokens to a prompt
RUN_TAG = secrets.token_hex(3)
# the Triton model each endpoint sends to
SERVED_MODEL = {"llm": llm_model_name, "stream": stream_model_name, "generate": generate_model_name}


class LoadtestError(RuntimeError):
    """A load test that cannot run or report; the message is one line."""


@dataclass
class LevelResult:
    """What one level measured (times in ms; p50_ms/p95_ms/p99_ms are request latency). At a request
    rate (open loop), concurrency is the most requests that were in flight at once, and
    delayed_requests those sent late because max_concurrency were in flight."""

    concurrency: int
    requests: int
    errors: int
    duration_s: float
    requests_per_s: float
    tokens_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    first_error: str | None
    output_tokens_per_s: float = 0.0
    goodput_requests_per_s: float = 0.0
    slo_attainment: float | None = None
    latency_avg_ms: float | None = None
    ttft_avg_ms: float | None = None
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    ttft_p99_ms: float | None = None
    itl_avg_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p95_ms: float | None = None
    itl_p99_ms: float | None = None
    input_tokens_avg: float | None = None
    output_tokens_avg: float | None = None
    request_rate: float | None = None
    delayed_requests: int = 0


def _stats(values_ms: list[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"avg": None, "p50": None, "p95": None, "p99": None}
    a = np.asarray(values_ms, dtype=np.float64)
    return {"avg": round(float(a.mean()), 3), **{f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 95, 99)}}


def inter_token_ms(t: RequestTiming) -> float | None:
    """A request's mean inter-token latency (genai-perf's definition), None under two tokens."""
    if t.output_tokens < 2:
        return None
    return (t.latency_s - t.ttft_s) * 1000.0 / (t.output_tokens - 1)


def meets_slo(t: RequestTiming, slo: SloConfig) -> bool:
    """True when the request meets every objective that is set (0 = not set)."""
    itl = inter_token_ms(t)
    return ((not slo.ttft_ms or t.ttft_s * 1000.0 <= slo.ttft_ms)
            and (not slo.latency_ms or t.latency_s * 1000.0 <= slo.latency_ms)
            and (not slo.itl_ms or itl is None or itl <= slo.itl_ms))


def level_result(concurrency: int, timings: list[RequestTiming], errors: list[str], elapsed_s: float,
                 slo: SloConfig) -> LevelResult:
    """The figures of one level from its answered requests, its errors and its wall time."""
    latency = _stats([t.latency_s * 1000.0 for t in timings])
    ttft = _stats([t.ttft_s * 1000.0 for t in timings])
    itl = _stats([v for v in map(inter_token_ms, timings) if v is not None])
    tokens = sum(t.output_tokens for t in timings)
    inputs = [t.input_tokens for t in timings if t.input_tokens is not None]
    good = sum(meets_slo(t, slo) for t in timings)
    return LevelResult(
        concurrency=concurrency, requests=len(timings), errors=len(errors), duration_s=round(elapsed_s, 3),
        requests_per_s=round(len(timings) / elapsed_s, 2), tokens_per_s=round(tokens / elapsed_s, 1),
        p50_ms=latency["p50"], p95_ms=latency["p95"], p99_ms=latency["p99"],
        first_error=errors[0] if errors else None, output_tokens_per_s=round(tokens / elapsed_s, 1),
        goodput_requests_per_s=round(good / elapsed_s, 2),
        slo_attainment=round(good / len(timings), 4) if timings else None, latency_avg_ms=latency["avg"],
        ttft_avg_ms=ttft["avg"], ttft_p50_ms=ttft["p50"], ttft_p95_ms=ttft["p95"], ttft_p99_ms=ttft["p99"],
        itl_avg_ms=itl["avg"], itl_p50_ms=itl["p50"], itl_p95_ms=itl["p95"], itl_p99_ms=itl["p99"],
        input_tokens_avg=round(float(np.mean(inputs)), 1) if inputs else None,
        output_tokens_avg=round(tokens / len(timings), 1) if timings else None)


def request_prompt(prompt: Prompt, n: int, endpoint: str) -> Prompt:
    """The prompt of request `n`: token ids go as they are to <name>_llm (no cache); text gets a
    unique suffix, so that no response cache answers it."""
    if prompt.ids is not None and endpoint == "llm":
        return prompt
    return Prompt(text=f"{prompt.text} #{n}.{RUN_TAG}", ids=None)


def load_prompts(cfg: LoadtestConfig) -> tuple[list[Prompt], str]:
    """The prompt pool and a line saying where it came from."""
    if not cfg.shards:
        return text_prompts(cfg.prompts, len(cfg.prompts)), f"{len(cfg.prompts)} configured prompts"
    try:
        pool = shard_prompts(cfg.shards, PROMPT_POOL, cfg.input_tokens_mean, cfg.input_tokens_stddev, cfg.prompt_seed)
    except (PromptError, OSError) as e:
        raise LoadtestError(f"--shards {cfg.shards}: {e}") from None
    return pool, (f"val split of {cfg.shards}: {PROMPT_POOL} windows of normal({cfg.input_tokens_mean}, "
                  f"{cfg.input_tokens_stddev}) tokens")


def output_lengths(cfg: LoadtestConfig) -> list[int]:
    """The requests' max_tokens in turn: all max_tokens, or drawn around it (output_tokens_stddev)."""
    return token_lengths(PROMPT_POOL, cfg.max_tokens, cfg.output_tokens_stddev,
                         cfg.prompt_seed + OUTPUT_LENGTH_SEED_OFFSET).tolist()


@dataclass
class Target:
    """What a load test drives: the config with the model resolved, where, which endpoint, a factory
    of one driver per worker thread, the prompt pool with a line saying where it came from, and the
    requests' max_tokens in turn."""

    cfg: LoadtestConfig
    url: str
    endpoint: str
    make_driver: Callable[[], Any]
    prompts: list[Prompt]
    prompt_source: str
    max_tokens: list[int]


def resolve_target(cfg: LoadtestConfig) -> Target:
    """The target of `cfg`: asks the server for the model when none is configured; ClientError when
    it cannot be reached, LoadtestError when the prompts cannot be read."""
    prompts, source = load_prompts(cfg)
    if cfg.protocol == "openai":
        api_key = read_api_key(cfg)
        model = openai_model(cfg, api_key)
        resolved = dataclasses.replace(cfg, model=model)
        return Target(resolved, openai_base_url(cfg), "completions",
                      lambda: OpenAIDriver(resolved, model, api_key), prompts, source, output_lengths(cfg))
    lengths = output_lengths(cfg)
    with GenerationClient(cfg) as client:
        model = client.model()
        url = client.url
        endpoint = triton_endpoint(cfg, llm_ready=cfg.protocol == "grpc" and client.is_ready(llm_model_name(model)))
        served = SERVED_MODEL[endpoint](model)
        check_max_tokens(cfg, lengths, served, client.parameter(served, "max_tokens_limit"))
    resolved = dataclasses.replace(cfg, model=model, endpoint=endpoint)
    return Target(resolved, url, endpoint, lambda: TritonDriver(resolved, lengths), prompts, source, lengths)


def check_max_tokens(cfg: LoadtestConfig, lengths: list[int], served: str, limit: str | None) -> None:
    """LoadtestError when a request would ask for more tokens than `served`'s max_tokens_limit
    (a config parameter, None when it has none): every such request would fail, so refuse before
    the run rather than report them as errors."""
    if limit is not None and max(lengths) > int(limit):
        drawn = f" (normal({cfg.max_tokens}, {cfg.output_tokens_stddev}) draws up to {max(lengths)})" \
            if cfg.output_tokens_stddev else ""
        raise LoadtestError(f"--max-tokens {cfg.max_tokens}{drawn} is over {served}'s max_tokens_limit {limit}: "
                            f"ask for fewer, or publish with a larger --generate.max-tokens-limit")


@dataclass
class LevelLog:
    """The answered requests' timings and the failures of one level, filled by its threads."""

    timings: list[RequestTiming] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def send(self, driver: Any, target: Target, n: int, counted: bool = True) -> None:
        """Send the level's request `n` (the prompt and max_tokens in turn) and record its timing, or
        its error: a failed request is a figure of the level, not the end of the run. A request of
        the warm-up (not `counted`) is sent and left out."""
        try:
            timing = driver.send(request_prompt(target.prompts[n % len(target.prompts)], n, target.endpoint),
                                 target.max_tokens[n % len(target.max_tokens)])
        except ClientError as e:
            if counted:
                with self.lock:
                    self.errors.append(str(e))
            return
        if counted:
            with self.lock:
                self.timings.append(timing)


def run_level(cfg: LoadtestConfig, concurrency: int, target: Target | None = None) -> LevelResult:
    """Keep `concurrency` requests in flight for cfg.warmup_s + cfg.duration_s; the requests sent in
    the warm-up are left out, those started before the end finish."""
    target = target or resolve_target(cfg)
    log = LevelLog()
    counter = itertools.count()
    measured_from = time.monotonic() + cfg.warmup_s
    deadline = measured_from + cfg.duration_s

    def worker() -> None:
        driver = target.make_driver()
        try:
            while (now := time.monotonic()) < deadline:
                log.send(driver, target, next(counter), counted=now >= measured_from)
        finally:
            driver.close()

    threads = [threading.Thread(target=worker, name=f"loadtest-{i}") for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return level_result(concurrency, log.timings, log.errors, time.monotonic() - measured_from, cfg.slo)


def arrival_times(rate: float, duration_s: float, seed: int) -> list[float]:
    """Seconds from the level's start at which requests arrive: a Poisson process of `rate` per second
    (exponential gaps), every arrival before duration_s; the same seed draws the same times."""
    rng = np.random.default_rng(seed)
    times: list[float] = []
    t = rng.exponential(1.0 / rate)
    while t < duration_s:
        times.append(float(t))
        t += rng.exponential(1.0 / rate)
    return times


def run_rate_level(cfg: LoadtestConfig, rate: float, target: Target | None = None) -> LevelResult:
    """Open loop: requests arrive at `rate` per second (Poisson) for cfg.warmup_s + cfg.duration_s
    and are sent when they arrive by one of at most cfg.max_concurrency threads; an arrival that finds
    every thread busy is sent when one is free (delayed_requests). The warm-up's arrivals are left
    out; requests sent before the end finish."""
    target = target or resolve_target(cfg)
    arrivals: queue.Queue[tuple[int, float]] = queue.Queue()
    due = arrival_times(rate, cfg.warmup_s + cfg.duration_s, cfg.prompt_seed + ARRIVAL_SEED_OFFSET)
    for n, at in enumerate(due):
        arrivals.put((n, at))
    log = LevelLog()
    in_flight = {"now": 0, "most": 0, "delayed": 0}
    # the clients exist before the clock starts: connecting is not part of any request's time
    drivers = [target.make_driver() for _ in range(max(1, min(cfg.max_concurrency, len(due))))]
    start = time.monotonic()

    def worker(driver: Any) -> None:
        try:
            while True:
                try:
                    n, at = arrivals.get_nowait()
                except queue.Empty:
                    return
                # arrivals are taken in order, so a thread that takes one after its time (beyond a
                # thread's start-up) found every other thread busy
                wait = start + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                counted = at >= cfg.warmup_s
                with log.lock:
                    in_flight["now"] += 1
                    if counted:
                        in_flight["delayed"] += int(wait < -LATE_S)
                        in_flight["most"] = max(in_flight["most"], in_flight["now"])
                try:
                    log.send(driver, target, n, counted)
                finally:
                    with log.lock:
                        in_flight["now"] -= 1
        finally:
            driver.close()

    threads = [threading.Thread(target=worker, args=(d,), name=f"loadtest-{i}") for i, d in enumerate(drivers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(time.monotonic() - start - cfg.warmup_s, cfg.duration_s)
    return dataclasses.replace(level_result(in_flight["most"], log.timings, log.errors, elapsed, cfg.slo),
                               request_rate=rate, delayed_requests=in_flight["delayed"])


def run_loadtest(cfg: LoadtestConfig, progress: Callable[[LevelResult], None] | None = None) -> dict[str, Any]:
    """All levels in order (the request rates when any are configured, else the concurrency levels);
    the report as written to JSON. `progress` gets each level when it ends."""
    target = resolve_target(cfg)
    levels = []
    for value in cfg.request_rate or cfg.concurrency:
        levels.append(run_rate_level(target.cfg, value, target) if cfg.request_rate
                      else run_level(target.cfg, value, target))
        if progress is not None:
            progress(levels[-1])
    return {"model": target.cfg.model, "url": target.url, "protocol": cfg.protocol, "endpoint": target.endpoint,
            "mode": "request_rate" if cfg.request_rate else "concurrency",
            **({"max_concurrency": cfg.max_concurrency} if cfg.request_rate else {}),
            "max_tokens": cfg.max_tokens, "output_tokens_stddev": cfg.output_tokens_stddev,
            "temperature": cfg.temperature, "duration_s": cfg.duration_s, "warmup_s": cfg.warmup_s,
            "prompts": target.prompt_source, "slo": dataclasses.asdict(cfg.slo),
            "levels": [dataclasses.asdict(level) for level in levels]}
