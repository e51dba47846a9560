"""Continuous (in-flight) batching over an exported decoder graph with a key/value cache, in numpy only.

Self-contained on purpose (numpy, the standard library and its sibling batch_rows.py, imported
relatively; no fullchain or Triton imports): `fullchain publish` copies both beside `<name>_llm`'s
model.py, which runs a `Scheduler` in a background thread; the tests drive the same class with
ONNX Runtime.

One running batch. Every `step()`:
1. drops waiting and running sequences whose client cancelled (finish reason "cancelled");
2. admits waiting sequences, first come first served, while the batch has a free slot, the
   key/value budget covers their reservation (prompt + max_tokens tokens) and their prompts stay
   within the step's prefill budget (at least one is admitted);
3. prefills the admitted prompts together as a batch of their own (left-padded), hands each its
   first token (and, with echo, its prompt's log-probabilities) and merges their caches into the
   running batch; sequences that arrived meanwhile are admitted and prefilled in turn while the
   step's prefill budget lasts;
4. runs one decoding step of the whole batch and hands every sequence its new token at once;
   finished sequences leave the batch.

Each sequence's key/value cache is its row of the running batch (batch_rows.RunningBatch), so
sequences of any lengths decode together through the graph of docs/CONTRACTS.md section 6 (the
contract of exporters/kv_decoding.py). Each sequence samples with its own generator (`seed`), so
its tokens do not depend on its batch mates, and with an FP32 graph a greedy sequence's tokens
equal those of generating it alone.

A sequence's `on_update(Update)` is called from the thread that runs `step()`; it returns False to
end the sequence (a stop string found in its text, a client gone): the slot is freed and no
further update follows. The update with a `finish_reason` (or an `error`) is the last one.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .batch_rows import GraphShape, RunningBatch

Run = Callable[[dict], dict]
# sample(logits [V], params, rng) -> token id: kv_decoding.next_token
Sample = Callable[[np.ndarray, Any, np.random.Generator], int]

FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_CANCELLED = "cancelled"


class AdmissionError(RuntimeError):
    """A sequence the scheduler refuses at submit time; the message is one line."""


class QueueFull(AdmissionError):
    """The waiting queue is full: refused at once rather than left to wait."""


class TooLarge(AdmissionError):
    """A sequence whose own key/value reservation exceeds the whole budget: it could never run."""


@dataclass(frozen=True)
class SchedulerLimits:
    """The running batch's size, the key/value budget in tokens, the waiting queue's bound and the
    prompt tokens prefilled per step."""

    max_batch_size: int = 8
    kv_cache_tokens: int = 8192
    max_queue_size: int = 64  # beyond the free slots
    # prompt tokens prefilled between two decoding steps (one prompt always goes): bounds the pause
    # the running sequences see when many or long prompts arrive at once
    max_prefill_tokens: int = 2048

    def __post_init__(self) -> None:
        if min(self.max_batch_size, self.kv_cache_tokens, self.max_queue_size, self.max_prefill_tokens) < 1:
            raise ValueError(f"every limit must be >= 1, got {self}")


@dataclass
class Update:
    """What one sequence got from one step: a new token (None when the step ended it without one),
    the scores asked for, and on the last update the finish reason or an error."""

    token: int | None = None
    logprob: float | None = None
    top_token: int | None = None
    top_logprob: float | None = None
    # echo: on the first update only, per prompt token (the first has none: NaN and -1)
    prompt_logprobs: np.ndarray | None = None
    prompt_top_tokens: np.ndarray | None = None
    prompt_top_logprobs: np.ndarray | None = None
    finish_reason: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(eq=False)
class SequenceRequest:
    """One sequence to generate. `params` has max_tokens, seed and stop_token_ids (kv_decoding's
    SamplingParams) and is passed on to `sample`; `is_cancelled`, when given, is asked once per step."""

    prompt: Sequence[int]
    params: Any
    on_update: Callable[[Update], bool]
    logprobs: bool = False
    echo: bool = False
    is_cancelled: Callable[[], bool] | None = None
    # set by the scheduler
    produced: int = field(default=0, init=False)
    reserved: int = field(default=0, init=False)
    rng: np.random.Generator | None = field(default=None, init=False)
    cancel_requested: bool = field(default=False, init=False)
    ended: bool = field(default=False, init=False)  # its last update is out (or its handler ended it)

    def deliver(self, update: Update) -> bool:
        """Hand an update to the handler; False when the sequence ends with it."""
        going_on = self.on_update(update) and update.finish_reason is None and update.error is None
        self.ended = not going_on
        return going_on


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log_softmax over the last axis, in float64 (log-probabilities a client sums)."""
    scores = logits.astype(np.float64)
    scores -= scores.max(axis=-1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))


class Scheduler:
    """The continuous-batching loop over `run` (the graph); `submit` and `cancel` may be called from
    any thread, `step` (or `serve_forever`) from one."""

    def __init__(self, run: Run, shape: GraphShape, sample: Sample, limits: SchedulerLimits = SchedulerLimits()):
        self.run = run
        self.shape = shape
        self.sample = sample
        self.limits = limits
        self._batch = RunningBatch(shape)
        self._waiting: deque[SequenceRequest] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._reserved = 0
        self._slots_taken = 0  # admitted and not ended: counted from admission, before the prefill joins
        self.generated_tokens = 0  # handed over since the start (the model's token counter)

    # ---- any thread

    def submit(self, seq: SequenceRequest) -> None:
        """Queue a sequence; QueueFull when the queue is full, TooLarge when it could never fit,
        ValueError for a prompt the graph cannot take."""
        if len(seq.prompt) == 0:
            raise ValueError("the prompt has no tokens")
        limit = self.shape.max_positions
        if limit is not None and len(seq.prompt) >= limit:
            raise ValueError(f"the prompt has {len(seq.prompt)} tokens; the model takes fewer than {limit}")
        seq.reserved = len(seq.prompt) + seq.params.max_tokens
        if limit is not None:
            seq.reserved = min(seq.reserved, limit)
        if seq.reserved > self.limits.kv_cache_tokens:
            raise TooLarge(f"max_tokens: prompt + max_tokens is {seq.reserved} tokens, more than the key/value "
                           f"budget of {self.limits.kv_cache_tokens}")
        seq.rng = np.random.default_rng(seq.params.seed)
        with self._lock:
            # the sequences that free slots will take at the next step do not count as queued: two
            # arriving together at an idle batch of one slot and one queue place are both taken
            free_slots = max(0, self.limits.max_batch_size - self._slots_taken)
            if len(self._waiting) >= self.limits.max_queue_size + free_slots:
                raise QueueFull(f"queue full: {len(self._waiting)} requests wait for a slot in the running "
                                f"batch of at most {self.limits.max_batch_size} sequences")
            self._waiting.append(seq)
            self._wake.notify()

    def cancel(self, seq: SequenceRequest) -> None:
        """Ask for a sequence to end at the next step (finish reason "cancelled")."""
        seq.cancel_requested = True
        with self._lock:
            self._wake.notify()

    def counts(self) -> tuple[int, int, int]:
        """(running sequences, waiting sequences, reserved key/value tokens)."""
        with self._lock:
            return len(self._batch.rows), len(self._waiting), self._reserved

    # ---- the loop's thread

    def idle(self) -> bool:
        """True when nothing runs or waits."""
        with self._lock:
            return not self._batch.rows and not self._waiting

    def serve_forever(self, stop: threading.Event, on_error: Callable[[Exception], None],
                      after_step: Callable[[], None] = lambda: None, idle_wait_s: float = 0.05) -> None:
        """Step until `stop` is set; sleeps while idle (submit and cancel wake it). A failed step has
        ended its sequences with an error update; `on_error` gets the exception (the server log) and
        the loop serves on. `after_step` is called after every step (the model's gauges)."""
        while not stop.is_set():
            with self._lock:
                if not self._batch.rows and not self._waiting:
                    self._wake.wait(idle_wait_s)
                    continue
            try:
                self.step()
            except Exception as e:  # noqa: BLE001  (each sequence got its error; on_error logs it)
                on_error(e)
            after_step()

    def step(self) -> None:
        """One scheduling iteration: cancellations, admissions and their prefill, one decoding step.
        Requests that arrive while a prefill runs are admitted and prefilled before the decoding
        step, while the step's prefill budget lasts: under load, arrivals come one by one, and each
        would otherwise wait for a decoding step of the whole batch before its first token."""
        self._drop_cancelled()
        budget = self.limits.max_prefill_tokens
        admitted = self._admit(budget, at_least_one=True)
        while admitted:
            self._guarded(admitted, lambda: self._prefill(admitted))
            budget -= sum(len(s.prompt) for s in admitted)
            admitted = self._admit(budget, at_least_one=False)
        if self._batch.rows:
            self._guarded(list(self._batch.rows), self._decode)

    def _guarded(self, seqs: list[SequenceRequest], work: Callable[[], None]) -> None:
        # a failed graph run ends the sequences it ran with an error; the scheduler serves on
        try:
            work()
        except Exception as e:  # noqa: BLE001  (reported to each sequence, then raised for the log)
            failed = set(seqs)
            for seq in seqs:
                if not seq.ended:
                    seq.deliver(Update(error=f"generation failed: {e}", prompt_tokens=len(seq.prompt),
                                       completion_tokens=seq.produced))
            self._batch.keep([i for i, s in enumerate(self._batch.rows) if s not in failed])
            self._release(seqs)
            raise

    def _cancelled(self, seq: SequenceRequest) -> bool:
        return seq.cancel_requested or (seq.is_cancelled is not None and seq.is_cancelled())

    def _drop_cancelled(self) -> None:
        with self._lock:
            gone = [s for s in self._waiting if self._cancelled(s)]
            for seq in gone:
                self._waiting.remove(seq)
        running = [s for s in self._batch.rows if self._cancelled(s)]
        if running:
            self._batch.keep([i for i, s in enumerate(self._batch.rows) if s not in set(running)])
            self._release(running)
        for seq in gone + running:
            seq.deliver(Update(finish_reason=FINISH_CANCELLED, prompt_tokens=len(seq.prompt),
                               completion_tokens=seq.produced))

    def _admit(self, budget: int, at_least_one: bool) -> list[SequenceRequest]:
        # prompts within `budget` tokens; the first of a step goes whatever its length
        admitted: list[SequenceRequest] = []
        prefill = 0
        with self._lock:
            # first come first served: a large request at the head is not overtaken (no starvation)
            while (self._waiting and len(self._batch.rows) + len(admitted) < self.limits.max_batch_size
                   and self._reserved + self._waiting[0].reserved <= self.limits.kv_cache_tokens
                   and ((at_least_one and not admitted) or prefill + len(self._waiting[0].prompt) <= budget)):
                seq = self._waiting.popleft()
                self._reserved += seq.reserved
                self._slots_taken += 1
                prefill += len(seq.prompt)
                admitted.append(seq)
        return admitted

    def _release(self, seqs: list[SequenceRequest]) -> None:
        with self._lock:
            self._reserved -= sum(s.reserved for s in seqs)
            self._slots_taken -= len(seqs)

    def _prefill(self, seqs: list[SequenceRequest]) -> None:
        width = max(len(s.prompt) for s in seqs)
        ids = np.full((len(seqs), width), self.shape.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for row, seq in enumerate(seqs):
            ids[row, width - len(seq.prompt):] = seq.prompt
            mask[row, width - len(seq.prompt):] = 1
        feeds = {"input_ids": ids, "attention_mask": mask,
                 "position_ids": np.where(mask == 1, np.cumsum(mask, axis=1) - 1, 0).astype(np.int64)}
        empty = np.zeros((len(seqs), self.shape.num_kv_heads, 0, self.shape.head_dim), dtype=np.float32)
        feeds.update({name: empty for name in self._batch.past})
        outputs = self.run(feeds)
        logits = outputs["logits"]
        joining, next_ids = [], []
        for row, seq in enumerate(seqs):
            update = Update()
            if seq.echo:
                self._score_prompt(seq, logits[row, width - len(seq.prompt):], update)
            if seq.params.max_tokens == 0:
                update.finish_reason = FINISH_LENGTH
                self._finish_update(seq, update)
                seq.deliver(update)
                continue
            token = self._next(seq, logits[row, -1], update)
            if token is not None:
                joining.append(row)
                next_ids.append(token)
        ended = [s for i, s in enumerate(seqs) if i not in set(joining)]
        self._release(ended)
        if joining:
            index = np.array(joining, dtype=np.int64)
            past = {name: outputs[name.replace("past_key_values", "present")][index] for name in self._batch.past}
            self._batch.join([seqs[i] for i in joining], next_ids, mask[index], past)

    def _decode(self) -> None:
        outputs = self.run(self._batch.feeds())
        self._batch.advance(outputs)
        logits = outputs["logits"][:, -1, :]
        keep, ended = [], []
        for row, seq in enumerate(self._batch.rows):
            token = self._next(seq, logits[row], Update())
            if token is None:
                ended.append(seq)
            else:
                keep.append(row)
                self._batch.next_ids[row] = token
        self._batch.keep(keep)
        self._release(ended)

    def _next(self, seq: SequenceRequest, logits: np.ndarray, update: Update) -> int | None:
        """Sample the sequence's next token into `update`, hand it over; the token when the sequence
        goes on (it is the next step's input), None when it ended."""
        token = self.sample(logits, seq.params, seq.rng)
        if token in seq.params.stop_token_ids:
            update.finish_reason = FINISH_STOP
        else:
            seq.produced += 1
            self.generated_tokens += 1
            update.token = token
            if seq.logprobs:
                scores = log_softmax(logits)
                top = int(np.argmax(scores))
                update.logprob, update.top_token, update.top_logprob = float(scores[token]), top, float(scores[top])
            limit = self.shape.max_positions
            if seq.produced >= seq.params.max_tokens or (limit is not None and len(seq.prompt) + seq.produced >= limit):
                update.finish_reason = FINISH_LENGTH
        if update.finish_reason is not None:
            self._finish_update(seq, update)
        return token if seq.deliver(update) else None

    @staticmethod
    def _finish_update(seq: SequenceRequest, update: Update) -> None:
        update.prompt_tokens = len(seq.prompt)
        update.completion_tokens = seq.produced

    @staticmethod
    def _score_prompt(seq: SequenceRequest, logits: np.ndarray, update: Update) -> None:
        # logits[j] predicts prompt[j + 1]; the first prompt token has no prediction
        scores = log_softmax(logits[:-1])
        prompt = np.asarray(seq.prompt, dtype=np.int64)
        update.prompt_logprobs = np.concatenate([[np.nan], scores[np.arange(len(prompt) - 1), prompt[1:]]])
        update.prompt_top_tokens = np.concatenate([[-1], scores.argmax(axis=1)]).astype(np.int64)
        update.prompt_top_logprobs = np.concatenate([[np.nan], scores.max(axis=1)])
