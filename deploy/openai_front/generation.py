"""Checked API requests run against a served model: one backend stream per choice (n per prompt),
their pieces turned into a response body or into server-sent events.

A streamed response starts only after every choice has its first piece, so an error Triton answers
at once (a full queue, a field the model refuses) is an HTTP error status, not a 200 with an error
event. Closing a stream (the client went away) closes every choice's backend stream, which cancels
its Triton request.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable

from fullchain.deploy.openai_front.api_errors import ApiError
from fullchain.deploy.openai_front.api_requests import ChatRequest, CompletionRequest, Sampling
from fullchain.deploy.openai_front.api_responses import (
    SSE_DONE, ResponseHeader, chat_body, chat_choice, chat_delta, chat_logprobs, completion_body, completion_choice,
    legacy_logprobs, sse_event, usage,
)
from fullchain.deploy.openai_front.backends import GenerationRequest, Piece, TritonBackend
from fullchain.deploy.openai_front.chat_template import ChatTemplate, ChatTemplateError, render_chat
from fullchain.deploy.openai_front.token_scores import TokenScores, score_tokens


@dataclass
class ServedModel:
    """A published model as the front serves it: its backend, tokenizer and chat template."""

    name: str
    backend: TritonBackend
    tokenizer: Any  # tokenizers.Tokenizer
    template: ChatTemplate


@dataclass
class Delta:
    """What one choice adds with one piece: text, scored tokens (with logprobs) and, last, the finish."""

    index: int
    text: str
    scores: TokenScores | None
    finish_reason: str | None


@dataclass
class EventSource:
    """A started streamed answer: its server-sent events, and `close`, which ends its Triton requests
    whether or not the events were ever read (a client can leave before the first one is sent)."""

    events: AsyncIterator[str]
    runs: list["ChoiceRun"]

    async def close(self) -> None:
        """Close the events and every choice's backend stream (idempotent)."""
        await self.events.aclose()
        await _close_all(self.runs)


@dataclass
class RequestRecord:
    """What the front's metrics need of one request: when it started, when its first token came,
    and its usage once it has ended."""

    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None
    usage: dict[str, int] | None = None


class ChoiceRun:
    """One choice: the backend stream of one GenerationRequest and what it has produced so far."""

    def __init__(self, served: ServedModel, index: int, request: GenerationRequest, echo_text: str | None,
                 alternatives: int | None, record: RequestRecord):
        self.served = served
        self.index = index
        self.request = request
        self.echo_text = echo_text  # the prompt's text when echoed, else None
        self.alternatives = alternatives  # None: no logprobs
        self.record = record
        self.pieces = served.backend.stream(request)
        self.first: Piece | None = None
        self.prompt_ids: list[int] = []
        self.token_ids: list[int] = []
        self.text_length = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    async def start(self) -> None:
        """Wait for the first piece (ApiError when the model refuses the request)."""
        self.first = await self.pieces.__anext__()

    async def close(self) -> None:
        """Stop the backend stream (cancels the Triton request when it has not finished)."""
        await self.pieces.aclose()

    async def deltas(self) -> AsyncIterator[Delta]:
        """The choice's deltas, the echoed prompt first; sets the usage counts at the end."""
        if self.first is None:
            await self.start()
        piece = self.first
        if self.echo_text is not None:
            yield Delta(self.index, self.echo_text, self._prompt_scores(piece), None)
            self.text_length = len(self.echo_text)
        while True:
            if piece.token_ids and self.record.first_token is None:
                self.record.first_token = time.perf_counter()
            scores = self._scores(piece)
            self.token_ids += piece.token_ids
            self.text_length += len(piece.text)
            done = bool(piece.finish_reason)
            if piece.text or scores or done:
                yield Delta(self.index, piece.text, scores, piece.finish_reason if done else None)
            if done:
                self._count(piece)
                return
            piece = await self.pieces.__anext__()

    def _count(self, last: Piece) -> None:
        if last.prompt_tokens is not None:
            self.prompt_tokens = last.prompt_tokens
        elif isinstance(self.request.prompt, str):
            self.prompt_tokens = len(self.served.tokenizer.encode(self.request.prompt).ids)
        else:
            self.prompt_tokens = len(self.request.prompt)
        self.completion_tokens = last.completion_tokens if last.completion_tokens is not None else len(self.token_ids)

    def _prompt_scores(self, piece: Piece) -> TokenScores | None:
        if self.alternatives is None or piece.prompt_token_ids is None:
            return None
        self.prompt_ids = list(piece.prompt_token_ids)
        return score_tokens(self.served.tokenizer, piece.prompt_token_ids, piece.prompt_logprobs,
                            piece.prompt_top_token_ids, piece.prompt_top_logprobs, 0,
                            alternatives=self.alternatives)

    def _scores(self, piece: Piece) -> TokenScores | None:
        if self.alternatives is None or piece.token_logprobs is None or not piece.token_ids:
            return None
        return score_tokens(self.served.tokenizer, piece.token_ids, piece.token_logprobs, piece.top_token_ids,
                            piece.top_logprobs, self.text_length, context=self.prompt_ids + self.token_ids,
                            alternatives=self.alternatives)


async def _start_all(runs: list[ChoiceRun]) -> None:
    try:
        await asyncio.gather(*(run.start() for run in runs))
    except BaseException:
        await _close_all(runs)
        raise


async def _close_all(runs: list[ChoiceRun]) -> None:
    await asyncio.gather(*(run.close() for run in runs), return_exceptions=True)


async def _merged(runs: list[ChoiceRun]) -> AsyncIterator[Delta]:
    """The deltas of all runs as they come; every run's stream is closed when this ends or is closed."""
    if len(runs) == 1:  # the common case: no task and queue hop per token
        try:
            async for delta in runs[0].deltas():
                yield delta
        finally:
            await _close_all(runs)
        return
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(run: ChoiceRun) -> None:
        try:
            async for delta in run.deltas():
                await queue.put(delta)
            await queue.put(None)
        except Exception as e:  # handed to the reader, which raises it
            await queue.put(e)

    tasks = [asyncio.create_task(pump(run)) for run in runs]
    try:
        remaining = len(runs)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _close_all(runs)


def _choice_seed(sampling: Sampling, choice: int) -> Sampling:
    # n choices of one seeded request differ from each other and are each reproducible
    return sampling if sampling.seed is None or choice == 0 else replace(sampling, seed=sampling.seed + choice)


def completion_runs(served: ServedModel, request: CompletionRequest, record: RequestRecord) -> list[ChoiceRun]:
    """One run per prompt and choice, indexed prompt-major as OpenAI indexes them."""
    runs = []
    for p, prompt in enumerate(request.prompts):
        for j in range(request.n):
            sampling = _choice_seed(request.sampling, j)
            gen = GenerationRequest(prompt=prompt, sampling=sampling, logprobs=request.logprobs is not None,
                                    echo=request.echo)
            echo_text = None
            if request.echo:
                echo_text = prompt if isinstance(prompt, str) else served.tokenizer.decode(list(prompt))
            runs.append(ChoiceRun(served, p * request.n + j, gen, echo_text, request.logprobs, record))
    return runs


def chat_prompt(served: ServedModel, request: ChatRequest) -> tuple[str | tuple[int, ...], Sampling]:
    """The prompt of a conversation and the sampling with the template's stop strings.

    A model's own template writes its special tokens (`<s>`, `<|im_start|>`) as text; to the
    continuous-batching model the prompt goes as token ids encoded without adding special tokens
    again, so the beginning-of-sequence token is not doubled. The generation model takes text only
    (it adds its tokenizer's special tokens itself)."""
    try:
        text = render_chat(served.template, request.messages)
    except ChatTemplateError as e:
        raise ApiError(str(e), 400, param="messages") from None
    stops = tuple(dict.fromkeys(request.sampling.stop + served.template.extra_stop))
    sampling = replace(request.sampling, stop=stops)
    if served.backend.takes_token_ids and not served.template.plain:
        return tuple(served.tokenizer.encode(text, add_special_tokens=False).ids), sampling
    return text, sampling


def chat_runs(served: ServedModel, request: ChatRequest, record: RequestRecord) -> list[ChoiceRun]:
    """One run per choice of a chat request."""
    prompt, sampling = chat_prompt(served, request)
    return [ChoiceRun(served, j, GenerationRequest(prompt=prompt, sampling=_choice_seed(sampling, j),
                                                   logprobs=request.logprobs is not None),
                      None, request.logprobs, record) for j in range(request.n)]


def _usage_of(runs: list[ChoiceRun], prompts: int) -> dict[str, int]:
    """The usage of finished runs, also kept in their request's record."""
    # the prompt counts once per prompt, not once per choice
    per_prompt = len(runs) // prompts
    prompt_tokens = sum(run.prompt_tokens for run in runs[::per_prompt])
    runs[0].record.usage = usage(prompt_tokens, sum(run.completion_tokens for run in runs))
    return runs[0].record.usage


async def _collect(runs: list[ChoiceRun]) -> list[tuple[str, TokenScores | None, str]]:
    texts = {run.index: [] for run in runs}
    scores: dict[int, TokenScores | None] = {run.index: None for run in runs}
    finish: dict[int, str] = {}
    async for delta in _merged(runs):
        texts[delta.index].append(delta.text)
        if delta.scores is not None:
            if scores[delta.index] is None:
                scores[delta.index] = TokenScores()
            scores[delta.index].extend(delta.scores)
        if delta.finish_reason:
            finish[delta.index] = delta.finish_reason
    return [("".join(texts[i]), scores[i], finish[i]) for i in sorted(texts)]


async def complete(served: ServedModel, request: CompletionRequest, record: RequestRecord) -> dict[str, Any]:
    """The body of a non-streamed /v1/completions request."""
    runs = completion_runs(served, request, record)
    await _start_all(runs)
    results = await _collect(runs)
    choices = [completion_choice(i, text, reason, None if scores is None else legacy_logprobs(scores))
               for i, (text, scores, reason) in enumerate(results)]
    return completion_body(ResponseHeader.new("cmpl", served.name), choices, _usage_of(runs, len(request.prompts)))


async def chat(served: ServedModel, request: ChatRequest, record: RequestRecord) -> dict[str, Any]:
    """The body of a non-streamed /v1/chat/completions request."""
    runs = chat_runs(served, request, record)
    await _start_all(runs)
    results = await _collect(runs)
    choices = [chat_choice(i, text, reason,
                           None if request.logprobs is None else chat_logprobs(scores or TokenScores(),
                                                                               request.logprobs))
               for i, (text, scores, reason) in enumerate(results)]
    return chat_body(ResponseHeader.new("chatcmpl", served.name), choices, _usage_of(runs, 1))


async def _events(runs: list[ChoiceRun], prompts: int, include_usage: bool,
                  chunk: Callable[[Delta], dict[str, Any]], usage_chunk: Callable[[dict], dict[str, Any]],
                  first: Callable[[], list[dict[str, Any]]]) -> AsyncIterator[str]:
    merged = _merged(runs)
    try:
        for payload in first():
            yield sse_event(payload)
        async for delta in merged:
            yield sse_event(chunk(delta))
        counted = _usage_of(runs, prompts)
        if include_usage:
            yield sse_event(usage_chunk(counted))
    except ApiError as e:
        # the response has started (status 200): the error goes as an event, then the stream ends
        yield sse_event(e.body())
    finally:
        # closed early (the client left): an `async for` does not close the generator it reads
        await merged.aclose()
        await _close_all(runs)
    yield SSE_DONE


async def stream_completion(served: ServedModel, request: CompletionRequest,
                            record: RequestRecord) -> EventSource:
    """Start a streamed /v1/completions request (ApiError if the model refuses it at once) and
    return its server-sent events."""
    runs = completion_runs(served, request, record)
    await _start_all(runs)
    header = ResponseHeader.new("cmpl", served.name)

    def chunk(delta: Delta) -> dict[str, Any]:
        logprobs = None if delta.scores is None else legacy_logprobs(delta.scores)
        return completion_body(header, [completion_choice(delta.index, delta.text, delta.finish_reason, logprobs)],
                               None, chunk=True)

    return EventSource(_events(runs, len(request.prompts), request.include_usage, chunk,
                               lambda u: completion_body(header, [], u, chunk=True), lambda: []), runs)


async def stream_chat(served: ServedModel, request: ChatRequest, record: RequestRecord) -> EventSource:
    """Start a streamed /v1/chat/completions request and return its server-sent events: each choice
    begins with a delta holding the role, as OpenAI's do."""
    runs = chat_runs(served, request, record)
    await _start_all(runs)
    header = ResponseHeader.new("chatcmpl", served.name)

    def chunk(delta: Delta) -> dict[str, Any]:
        logprobs = None
        if request.logprobs is not None:
            logprobs = chat_logprobs(delta.scores or TokenScores(), request.logprobs)
        content = {"content": delta.text} if delta.text or not delta.finish_reason else {}
        return chat_body(header, [chat_delta(delta.index, content, delta.finish_reason, logprobs)], None, chunk=True)

    def roles() -> list[dict[str, Any]]:
        return [chat_body(header, [chat_delta(run.index, {"role": "assistant", "content": ""}, None, None)], None,
                          chunk=True) for run in runs]

    return EventSource(_events(runs, 1, request.include_usage, chunk, lambda u: chat_body(header, [], u, chunk=True),
                               roles), runs)
