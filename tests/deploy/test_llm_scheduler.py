"""The continuous-batching core (deploy/continuous_batching.py) on the tiny model's FP32 export in
ONNX Runtime: every request's tokens equal generating it alone (kv_decoding), whatever joins or
leaves the batch around it; limits, cancellation, echo/logprobs and a failing graph."""

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from fullchain.deploy.continuous_batching import (
    GraphShape, QueueFull, Scheduler, SchedulerLimits, SequenceRequest, TooLarge, Update, log_softmax)
from fullchain.exporters import kv_decoding


@pytest.fixture(scope="module")
def graph(export_dir):
    meta = json.loads((Path(export_dir) / "export.json").read_text())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(Path(export_dir) / meta["model_file"]), options,
                                           providers=["CPUExecutionProvider"])
    spec = kv_decoding.DecoderSpec.from_export(meta)
    shape = GraphShape(num_layers=spec.num_layers, num_kv_heads=spec.num_kv_heads, head_dim=spec.head_dim,
                       pad_token_id=spec.pad_token_id, max_positions=spec.max_positions)
    return kv_decoding.session_runner(session), spec, shape, meta


class Recorder:
    """A sequence's updates, as the scheduler handed them over."""

    def __init__(self, keep_going=lambda update: True):
        self.updates: list[Update] = []
        self.keep_going = keep_going

    def __call__(self, update: Update) -> bool:
        assert not self.finished, "an update after the last one"
        self.updates.append(update)
        return self.keep_going(update)

    @property
    def tokens(self) -> list[int]:
        return [u.token for u in self.updates if u.token is not None]

    @property
    def finished(self) -> bool:
        return bool(self.updates) and (self.updates[-1].finish_reason is not None or self.updates[-1].error is not None)


def prompts_of(meta, lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(3, meta["vocab_size"], size=n).tolist() for n in lengths]


def alone(graph, prompt, params):
    run, spec, _, _ = graph
    return kv_decoding.generate(run, spec, [prompt], params)[0]


def forward_logprobs(graph, prompt, tokens):
    """Log-probability of each of `tokens` after `prompt`, from one forward pass of prompt + tokens alone."""
    run, spec, _, _ = graph
    scores = log_softmax(run(kv_decoding.prefill_feeds(spec, [list(prompt) + list(tokens)]))["logits"][0])
    return scores[len(prompt) - 1 + np.arange(len(tokens)), tokens]


def submit(scheduler, prompt, params, **kwargs):
    recorder = Recorder()
    seq = SequenceRequest(prompt=prompt, params=params, on_update=recorder, **kwargs)
    scheduler.submit(seq)
    return seq, recorder


def drain(scheduler, limit=500):
    for _ in range(limit):
        if scheduler.idle():
            return
        scheduler.step()
    raise AssertionError("the scheduler did not finish")


def test_greedy_tokens_equal_alone_while_requests_join_and_leave(graph):
    run, spec, shape, meta = graph
    stops = tuple(meta["stop_token_ids"])
    scheduler = Scheduler(run, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=3))
    prompts = prompts_of(meta, [1, 5, 11, 3, 8, 2])
    max_tokens = [9, 3, 6, 12, 1, 5]
    params = [kv_decoding.SamplingParams(max_tokens=m, stop_token_ids=stops) for m in max_tokens]
    # logprobs too: a wrong position or mask barely moves a random model's argmax, but moves its scores
    first = [submit(scheduler, p, q, logprobs=True) for p, q in zip(prompts[:2], params[:2])]
    scheduler.step()
    scheduler.step()
    # joins mid-batch (a batch of two, one of which leaves after its third token) and two wait for a slot
    later = [submit(scheduler, p, q, logprobs=True) for p, q in zip(prompts[2:], params[2:])]
    running, waiting, _ = scheduler.counts()
    assert (running, waiting) == (1, 4)  # the second has its 3 tokens: prefill gives one, each step one
    widths = []
    while not scheduler.idle():
        scheduler.step()
        widths.append(scheduler.counts()[0])
    assert max(widths) == 3
    for (seq, recorder), prompt, p in zip(first + later, prompts, params):
        expected = alone(graph, prompt, p)
        assert recorder.tokens == expected.tokens
        assert recorder.updates[-1].finish_reason == expected.finish_reason
        np.testing.assert_allclose([u.logprob for u in recorder.updates if u.token is not None],
                                   forward_logprobs(graph, prompt, expected.tokens), atol=1e-4)
        assert recorder.updates[-1].completion_tokens == len(expected.tokens)
        assert recorder.updates[-1].prompt_tokens == len(prompt)
    assert scheduler.counts() == (0, 0, 0)


def test_seeded_sampling_is_the_requests_own(graph):
    run, spec, shape, meta = graph
    scheduler = Scheduler(run, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=4))
    prompts = prompts_of(meta, [4, 9, 2], seed=1)
    params = [kv_decoding.SamplingParams(max_tokens=10, temperature=0.9, top_p=0.9, seed=s) for s in (5, 6, 5)]
    recorders = [submit(scheduler, p, q)[1] for p, q in zip(prompts, params)]
    drain(scheduler)
    for recorder, prompt, p in zip(recorders, prompts, params):
        assert recorder.tokens == alone(graph, prompt, p).tokens


def test_arrivals_at_free_slots_are_not_counted_as_queued(graph):
    run, spec, shape, meta = graph
    scheduler = Scheduler(run, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=2, max_queue_size=1))
    prompts = prompts_of(meta, [3, 4, 5, 6], seed=4)
    params = kv_decoding.SamplingParams(max_tokens=4)
    # before any step: two take the free slots, one the queue place, the fourth is refused
    recorders = [submit(scheduler, p, params)[1] for p in prompts[:3]]
    with pytest.raises(QueueFull, match="^queue full: 3 requests wait"):
        submit(scheduler, prompts[3], params)
    scheduler.step()
    assert scheduler.counts()[:2] == (2, 1)
    with pytest.raises(QueueFull, match="^queue full: 1 requests wait"):
        submit(scheduler, prompts[3], params)
    drain(scheduler)
    assert all(r.finished for r in recorders)


def test_cancellation_frees_the_slot_for_the_waiting_request(graph):
    run, spec, shape, meta = graph
    scheduler = Scheduler(run, shape, kv_decoding.next_token,
                          SchedulerLimits(max_batch_size=1, kv_cache_tokens=64, max_queue_size=2))
    long_prompt, short_prompt, third = prompts_of(meta, [6, 3, 2], seed=2)
    params = kv_decoding.SamplingParams(max_tokens=40)
    cancelled_by_client = []
    seq, first = submit(scheduler, long_prompt, params, is_cancelled=lambda: bool(cancelled_by_client))
    scheduler.step()
    _, second = submit(scheduler, short_prompt, kv_decoding.SamplingParams(max_tokens=4))
    _, third_rec = submit(scheduler, third, kv_decoding.SamplingParams(max_tokens=4))
    # the queue holds two: a fourth is refused at once, naming the reason
    with pytest.raises(QueueFull, match="queue full"):
        submit(scheduler, third, params)
    scheduler.step()
    assert scheduler.counts() == (1, 2, 46)
    cancelled_by_client.append(True)
    scheduler.step()  # the cancelled sequence leaves; the next one is admitted in the same step
    assert first.updates[-1].finish_reason == "cancelled"
    assert first.updates[-1].completion_tokens == len(first.tokens) == 3  # prefill + 2 steps
    assert scheduler.counts() == (1, 1, 7)
    drain(scheduler)
    assert second.tokens == alone(graph, short_prompt, kv_decoding.SamplingParams(max_tokens=4)).tokens
    assert len(third_rec.tokens) == 4
    # a request that can never fit the key/value budget is refused at once
    with pytest.raises(TooLarge, match=r"^max_tokens: prompt \+ max_tokens is 66 tokens, more than the key/value "
                                       r"budget of 64$"):
        submit(scheduler, long_prompt, kv_decoding.SamplingParams(max_tokens=60))
    assert scheduler.counts() == (0, 0, 0)


def test_the_prefill_budget_spreads_arrivals_over_steps(graph):
    run, spec, shape, meta = graph
    scheduler = Scheduler(run, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=8, max_prefill_tokens=10))
    prompts = prompts_of(meta, [6, 3, 6, 20], seed=6)
    params = kv_decoding.SamplingParams(max_tokens=12)
    recorders = [submit(scheduler, p, params)[1] for p in prompts]
    running = []
    for _ in range(4):
        scheduler.step()
        running.append(scheduler.counts()[0])
    # 6 + 3 fit in 10 tokens, the next 6 waits a step; the 20-token prompt goes alone (one always goes)
    assert running == [2, 3, 4, 4]
    drain(scheduler)
    for recorder, prompt in zip(recorders, prompts):
        assert recorder.tokens == alone(graph, prompt, params).tokens


def test_an_arrival_during_a_prefill_is_prefilled_before_the_decoding_step(graph):
    run, spec, shape, meta = graph
    first, late = prompts_of(meta, [5, 4], seed=9)
    params = kv_decoding.SamplingParams(max_tokens=6)
    arrivals = []

    def run_and_arrive(feeds):
        if not arrivals:  # the first graph run is the first prompt's prefill: the late one arrives now
            arrivals.append(submit(scheduler, late, params)[1])
        return run(feeds)

    scheduler = Scheduler(run_and_arrive, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=4))
    _, early = submit(scheduler, first, params)
    scheduler.step()
    # both got their prefill's token and one decoding step's, in one step: the late one did not wait
    # for a decoding step of the batch before its first token
    assert (len(early.tokens), len(arrivals[0].tokens)) == (2, 2)
    drain(scheduler)
    assert early.tokens == alone(graph, first, params).tokens and arrivals[0].tokens == alone(graph, late, params).tokens


def test_a_handler_that_ends_its_sequence_frees_the_slot(graph):
    run, spec, shape, meta = graph
    scheduler = Scheduler(run, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=2))
    prompts = prompts_of(meta, [3, 7], seed=3)
    stopper = Recorder(keep_going=lambda update: len(stopper.updates) < 3)  # a stop string after 3 tokens
    scheduler.submit(SequenceRequest(prompt=prompts[0], params=kv_decoding.SamplingParams(max_tokens=20),
                                     on_update=stopper))
    _, other = submit(scheduler, prompts[1], kv_decoding.SamplingParams(max_tokens=8))
    drain(scheduler)
    assert len(stopper.updates) == 3 and stopper.updates[-1].finish_reason is None
    assert other.tokens == alone(graph, prompts[1], kv_decoding.SamplingParams(max_tokens=8)).tokens
    assert scheduler.counts() == (0, 0, 0)


def test_echo_and_logprobs_equal_one_forward_pass(graph):
    run, spec, shape, meta = graph
    scheduler = Scheduler(run, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=4))
    prompts = prompts_of(meta, [6, 2], seed=4)
    _, scored = submit(scheduler, prompts[0], kv_decoding.SamplingParams(max_tokens=0), echo=True)
    _, generated = submit(scheduler, prompts[1], kv_decoding.SamplingParams(max_tokens=5), echo=True, logprobs=True)
    drain(scheduler)
    # echo with max_tokens 0: one update, the prompt's scores only
    assert len(scored.updates) == 1 and scored.updates[0].finish_reason == "length" and not scored.tokens
    for recorder, prompt in ((scored, prompts[0]), (generated, prompts[1] + generated.tokens)):
        feeds = kv_decoding.prefill_feeds(spec, [prompt])
        scores = log_softmax(run(feeds)["logits"][0])
        first = recorder.updates[0]
        n = len(recorder.updates[0].prompt_logprobs)
        assert np.isnan(first.prompt_logprobs[0]) and first.prompt_top_tokens[0] == -1
        np.testing.assert_allclose(first.prompt_logprobs[1:], scores[np.arange(n - 1), prompt[1:n]], atol=1e-4)
        np.testing.assert_array_equal(first.prompt_top_tokens[1:], scores[: n - 1].argmax(axis=1))
        np.testing.assert_allclose(first.prompt_top_logprobs[1:], scores[: n - 1].max(axis=1), atol=1e-4)
    np.testing.assert_allclose([u.logprob for u in generated.updates],
                               forward_logprobs(graph, prompts[1], generated.tokens), atol=1e-4)
    # greedy: the chosen token is the most likely one
    assert [u.top_token for u in generated.updates] == generated.tokens


def test_a_failing_graph_ends_its_sequences_with_an_error_and_the_scheduler_serves_on(graph):
    run, spec, shape, meta = graph
    broken = {"on": True}

    def flaky(feeds):
        if broken["on"]:
            raise RuntimeError("device lost")
        return run(feeds)

    scheduler = Scheduler(flaky, shape, kv_decoding.next_token, SchedulerLimits(max_batch_size=2))
    prompt = prompts_of(meta, [4], seed=5)[0]
    _, failed = submit(scheduler, prompt, kv_decoding.SamplingParams(max_tokens=3))
    with pytest.raises(RuntimeError, match="device lost"):
        scheduler.step()
    assert failed.updates[-1].error == "generation failed: device lost"
    assert scheduler.counts() == (0, 0, 0)
    broken["on"] = False
    _, fine = submit(scheduler, prompt, kv_decoding.SamplingParams(max_tokens=3))
    drain(scheduler)
    assert fine.tokens == alone(graph, prompt, kv_decoding.SamplingParams(max_tokens=3)).tokens
