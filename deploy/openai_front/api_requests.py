"""OpenAI request bodies (parsed JSON) checked into typed requests, before any work starts.

Every check names the field (`param`) as the OpenAI API does, and a field this front does not know
or cannot honour is refused (400) rather than silently ignored: a client asking for
`presence_penalty: 1` or `tools` would otherwise get an answer it did not ask for. Defaults are the
OpenAI API's (temperature 1, max_tokens 16 on completions); `temperature: 0` is greedy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fullchain.deploy.openai_front.api_errors import RequestError

# the API's own limits (OpenAI documents 4 stop strings and 0..5 legacy logprobs, 0..20 top_logprobs)
MAX_STOP_STRINGS = 4
MAX_LEGACY_LOGPROBS = 5
MAX_TOP_LOGPROBS = 20
MAX_TEMPERATURE = 2.0
INT64_MAX = 2**63 - 1
COMPLETION_DEFAULT_MAX_TOKENS = 16
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")

_COMMON_FIELDS = {"model", "max_tokens", "temperature", "top_p", "top_k", "n", "stream", "stream_options", "stop",
                  "seed", "presence_penalty", "frequency_penalty", "logit_bias", "user"}
COMPLETION_FIELDS = _COMMON_FIELDS | {"prompt", "logprobs", "echo", "best_of", "suffix"}
CHAT_FIELDS = _COMMON_FIELDS | {"messages", "max_completion_tokens", "logprobs", "top_logprobs",
                                "response_format", "tools", "tool_choice", "parallel_tool_calls"}


@dataclass(frozen=True)
class Sampling:
    """The generation parameters shared by both endpoints."""

    max_tokens: int | None  # None: the served model's default
    temperature: float
    top_p: float
    top_k: int
    seed: int | None
    stop: tuple[str, ...]


@dataclass(frozen=True)
class CompletionRequest:
    """POST /v1/completions, checked. `prompts` holds one entry per prompt: text or token ids."""

    model: str
    prompts: tuple[str | tuple[int, ...], ...]
    sampling: Sampling
    n: int
    stream: bool
    include_usage: bool
    logprobs: int | None  # None: no logprobs; k: the chosen token's and the k most likely
    echo: bool


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation; content is plain text (text parts are joined)."""

    role: str
    content: str
    name: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """POST /v1/chat/completions, checked."""

    model: str
    messages: tuple[ChatMessage, ...]
    sampling: Sampling
    n: int
    stream: bool
    include_usage: bool
    logprobs: int | None  # None: no logprobs; k: top_logprobs


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(body: dict, name: str, default: int | None, low: int, high: int = INT64_MAX) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{name} must be an integer, got {_shown(value)}", name)
    if not low <= value <= high:
        raise RequestError(f"{name} must be within {low}..{high}, got {_shown(value)}", name)
    return value


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError(f"{name} must be a finite number, got {_shown(value)}", name)
    if not low <= value <= high:
        raise RequestError(f"{name} must be within {low:g}..{high:g}, got {_shown(value)}", name)
    return float(value)


def _boolean(body: dict, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"{name} must be true or false, got {_shown(value)}", name)
    return value


def _check_fields(body: Any, known: set[str]) -> dict:
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - known)
    if unknown:
        raise RequestError(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0],
                           code="unknown_parameter")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("model is required: the name of a served model (GET /v1/models lists them)", "model")
    return body


def _stop(body: dict) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise RequestError("stop must be a non-empty string or a list of non-empty strings", "stop")
    if len(stops) > MAX_STOP_STRINGS:
        raise RequestError(f"stop takes at most {MAX_STOP_STRINGS} strings, got {len(stops)}", "stop")
    return tuple(stops)


def _sampling(body: dict, default_max_tokens: int | None, max_tokens_field: str = "max_tokens") -> Sampling:
    for name in ("presence_penalty", "frequency_penalty"):
        if _number(body, name, 0.0, -2.0, 2.0) != 0:
            raise RequestError(f"{name} is not supported by this server (only 0)", name, code="unsupported_parameter")
    if body.get("logit_bias"):
        raise RequestError("logit_bias is not supported by this server", "logit_bias", code="unsupported_parameter")
    max_tokens = _integer(body, max_tokens_field, default_max_tokens, 0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0:
        raise RequestError("top_p must be within (0, 1], got 0", "top_p")
    # vLLM's extension: -1 and 0 both mean off
    top_k = _integer(body, "top_k", 0, -1)
    return Sampling(max_tokens=max_tokens, temperature=_number(body, "temperature", 1.0, 0.0, MAX_TEMPERATURE),
                    top_p=top_p, top_k=max(top_k, 0), seed=_integer(body, "seed", None, 0), stop=_stop(body))


def _stream(body: dict) -> tuple[bool, bool]:
    stream = _boolean(body, "stream", False)
    options = body.get("stream_options")
    if options is None:
        return stream, False
    if not stream:
        raise RequestError("stream_options is only allowed when stream is true", "stream_options")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise RequestError("stream_options must be {\"include_usage\": true|false}", "stream_options")
    return stream, _boolean(options, "include_usage", False)


def _prompts(value: Any) -> tuple[str | tuple[int, ...], ...]:
    """OpenAI's four prompt forms: a string, a list of strings, a list of token ids, a list of lists."""
    def token_ids(ids: list) -> tuple[int, ...]:
        if not ids or not all(type(t) is int and 0 <= t <= INT64_MAX for t in ids):
            raise RequestError("prompt: token id lists must be non-empty lists of non-negative integers", "prompt")
        return tuple(ids)

    if isinstance(value, str):
        prompts: list = [value]
    elif isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        prompts = list(value)
    elif isinstance(value, list) and value and all(type(t) is int for t in value):
        prompts = [token_ids(value)]
    elif isinstance(value, list) and value and all(isinstance(p, list) for p in value):
        prompts = [token_ids(p) for p in value]
    else:
        raise RequestError("prompt must be a string, a list of strings, a list of token ids or a list of token "
                           "id lists (non-empty)", "prompt")
    if any(isinstance(p, str) and not p for p in prompts):
        raise RequestError("prompt must not be empty", "prompt")
    return tuple(prompts)


def parse_completion_request(body: Any, max_choices: int) -> CompletionRequest:
    """The checked request of a parsed /v1/completions body (at most `max_choices` prompts x n);
    RequestError naming the field otherwise."""
    body = _check_fields(body, COMPLETION_FIELDS)
    if body.get("suffix"):
        raise RequestError("suffix is not supported by this server", "suffix", code="unsupported_parameter")
    sampling = _sampling(body, COMPLETION_DEFAULT_MAX_TOKENS)
    prompts = _prompts(body.get("prompt"))
    n = _integer(body, "n", 1, 1, max_choices)
    if n * len(prompts) > max_choices:
        raise RequestError(f"{len(prompts)} prompts x n={n} choices is more than this server's {max_choices} "
                           "per request", "n")
    best_of = _integer(body, "best_of", n, 1, max_choices)
    if best_of != n:
        raise RequestError("best_of other than n is not supported by this server", "best_of",
                           code="unsupported_parameter")
    echo = _boolean(body, "echo", False)
    if sampling.max_tokens == 0 and not echo:
        raise RequestError("max_tokens must be >= 1 (0 only with echo: score the prompt, generate nothing)",
                           "max_tokens")
    stream, include_usage = _stream(body)
    return CompletionRequest(model=body["model"], prompts=prompts, sampling=sampling, n=n,
                             stream=stream, include_usage=include_usage,
                             logprobs=_integer(body, "logprobs", None, 0, MAX_LEGACY_LOGPROBS), echo=echo)


def _content(message: dict, index: int) -> str:
    content = message.get("content")
    where = f"messages[{index}].content"
    if content is None:
        if message.get("role") == "assistant":
            return ""
        raise RequestError(f"{where} is required", where)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RequestError(f"{where}: only text parts ({{\"type\": \"text\", \"text\": ...}}) are supported",
                                   where, code="unsupported_content")
            parts.append(part["text"])
        return "".join(parts)
    raise RequestError(f"{where} must be a string or a list of text parts", where)


def _messages(value: Any) -> tuple[ChatMessage, ...]:
    if not isinstance(value, list) or not value:
        raise RequestError("messages must be a non-empty list of {\"role\", \"content\"} objects", "messages")
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RequestError(f"messages[{i}] must be an object with role and content", f"messages[{i}]")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise RequestError(f"messages[{i}].role must be one of {', '.join(CHAT_ROLES)}, got {_shown(role)}",
                               f"messages[{i}].role")
        name = message.get("name")
        if name is not None and not isinstance(name, str):
            raise RequestError(f"messages[{i}].name must be a string", f"messages[{i}].name")
        messages.append(ChatMessage(role=role, content=_content(message, i), name=name))
    return tuple(messages)


def parse_chat_request(body: Any, max_choices: int) -> ChatRequest:
    """The checked request of a parsed /v1/chat/completions body; RequestError naming the field otherwise."""
    body = _check_fields(body, CHAT_FIELDS)
    for name in ("tools", "tool_choice", "parallel_tool_calls"):
        if body.get(name) not in (None, [], "none"):
            raise RequestError(f"{name} is not supported by this server", name, code="unsupported_parameter")
    response_format = body.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise RequestError("response_format: only {\"type\": \"text\"} is supported", "response_format",
                           code="unsupported_parameter")
    field = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    sampling = _sampling(body, None, field)
    if sampling.max_tokens == 0:
        raise RequestError(f"{field} must be >= 1", field)
    logprobs = _boolean(body, "logprobs", False)
    top = _integer(body, "top_logprobs", None, 0, MAX_TOP_LOGPROBS)
    if top is not None and not logprobs:
        raise RequestError("top_logprobs needs logprobs: true", "top_logprobs")
    stream, include_usage = _stream(body)
    return ChatRequest(model=body["model"], messages=_messages(body.get("messages")), sampling=sampling,
                       n=_integer(body, "n", 1, 1, max_choices), stream=stream, include_usage=include_usage,
                       logprobs=(top or 0) if logprobs else None)
