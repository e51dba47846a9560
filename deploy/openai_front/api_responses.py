"""Response bodies in the OpenAI shapes: completions (with legacy logprobs), chat completions (with
chat logprobs), their streamed chunks, usage, and server-sent events (`data: {...}` events ending
with `data: [DONE]`)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fullchain.deploy.openai_front.token_scores import TokenScores

SSE_DONE = "data: [DONE]\n\n"


def sse_event(payload: dict[str, Any]) -> str:
    """One server-sent event carrying `payload` as JSON."""
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


@dataclass(frozen=True)
class ResponseHeader:
    """What every body and chunk of one response repeats: id, object kind's prefix, time and model."""

    id: str
    created: int
    model: str

    @classmethod
    def new(cls, prefix: str, model: str) -> "ResponseHeader":
        """A fresh id (`cmpl-...` or `chatcmpl-...`) stamped now."""
        return cls(f"{prefix}-{secrets.token_hex(12)}", int(time.time()), model)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """The usage object."""
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def legacy_logprobs(scores: TokenScores) -> dict[str, Any]:
    """A completion choice's `logprobs`: tokens, token_logprobs, top_logprobs, text_offset."""
    return {"tokens": list(scores.tokens), "token_logprobs": list(scores.logprobs),
            "top_logprobs": list(scores.top), "text_offset": list(scores.offsets)}


def _bytes(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def chat_logprobs(scores: TokenScores, top_logprobs: int) -> dict[str, Any]:
    """A chat choice's `logprobs`: one entry per generated token with its `top_logprobs` list."""
    content = []
    for token, logprob, top in zip(scores.tokens, scores.logprobs, scores.top):
        alternatives = sorted((top or {}).items(), key=lambda kv: -kv[1])[:top_logprobs]
        content.append({"token": token, "logprob": logprob, "bytes": _bytes(token),
                        "top_logprobs": [{"token": t, "logprob": lp, "bytes": _bytes(t)} for t, lp in alternatives]})
    return {"content": content}


def completion_choice(index: int, text: str, finish_reason: str | None,
                      logprobs: dict[str, Any] | None) -> dict[str, Any]:
    """One choice of a completion body or chunk."""
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}


def completion_body(header: ResponseHeader, choices: list[dict[str, Any]], usage_: dict[str, int] | None,
                    chunk: bool = False) -> dict[str, Any]:
    """A /v1/completions body, or one of its streamed chunks."""
    body = {"id": header.id, "object": "text_completion", "created": header.created, "model": header.model,
            "choices": choices}
    if usage_ is not None or not chunk:
        body["usage"] = usage_
    return body


def chat_choice(index: int, text: str, finish_reason: str | None, logprobs: dict[str, Any] | None) -> dict[str, Any]:
    """One choice of a chat completion body."""
    return {"index": index, "message": {"role": "assistant", "content": text}, "logprobs": logprobs,
            "finish_reason": finish_reason}


def chat_delta(index: int, delta: dict[str, Any], finish_reason: str | None,
               logprobs: dict[str, Any] | None) -> dict[str, Any]:
    """One choice of a streamed chat chunk (`delta` holds the role on the first, then content)."""
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def chat_body(header: ResponseHeader, choices: list[dict[str, Any]], usage_: dict[str, int] | None,
              chunk: bool = False) -> dict[str, Any]:
    """A /v1/chat/completions body, or one of its streamed chunks."""
    body = {"id": header.id, "object": "chat.completion.chunk" if chunk else "chat.completion",
            "created": header.created, "model": header.model, "choices": choices}
    if usage_ is not None or not chunk:
        body["usage"] = usage_
    return body


def model_list(names: list[str], created: int) -> dict[str, Any]:
    """GET /v1/models."""
    return {"object": "list", "data": [model_card(name, created) for name in names]}


def model_card(name: str, created: int) -> dict[str, Any]:
    """One model of GET /v1/models."""
    return {"id": name, "object": "model", "created": created, "owned_by": "fullchain"}
