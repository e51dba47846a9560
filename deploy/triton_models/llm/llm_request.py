"""The request checks of `<name>_llm`: a request's input values in, its checked values out.

`fullchain publish` copies this file beside model.py with the generation model's request_checks.py,
whose field checks it reuses (the sampling fields mean the same in both models); numpy only, so
tests load it without a Triton stub. What differs here: the prompt may be token ids instead of
text, `max_tokens` may be 0 (score the prompt only, with echo), and `logprobs` and `echo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Mapping

import numpy as np

LLM_REQUEST_FIELDS = ("text", "prompt_ids", "max_tokens", "temperature", "top_k", "top_p", "seed", "stop",
                      "logprobs", "echo")


@dataclass(frozen=True)
class LlmRequest:
    """A request's checked values: `prompt_ids` when it sent tokens, else `text` (not tokenized yet)."""

    text: str | None
    prompt_ids: tuple[int, ...] | None
    max_tokens: int
    temperature: float
    top_k: int
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    logprobs: bool
    echo: bool


def _flag(checks: ModuleType, name: str, fields: Mapping[str, Any]) -> bool:
    if fields.get(name) is None:
        return False
    value = checks.one_value(name, fields)
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, bool):
        raise checks.RequestError(f"{name}: must be true or false, got {checks.shown(value)}")
    return value


def _prompt_ids(checks: ModuleType, fields: Mapping[str, Any], vocab_size: int) -> tuple[int, ...]:
    values = checks.flat_values("prompt_ids", fields["prompt_ids"])
    if not values:
        raise checks.RequestError("prompt_ids: must not be empty")
    for value in values:
        token = value.item() if isinstance(value, np.generic) else value
        if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < vocab_size:
            raise checks.RequestError(f"prompt_ids: every id must be within 0..{vocab_size - 1}, "
                                      f"got {checks.shown(token)}")
    return tuple(int(v) for v in values)


def decode_llm_request(fields: Mapping[str, Any], limits: Any, vocab_size: int, checks: ModuleType) -> LlmRequest:
    """The checked values of one request (LLM_REQUEST_FIELDS name -> numpy array or any value; a
    missing or None field takes its default); `checks` is request_checks.py, `limits` its
    RequestLimits. RequestError naming the field otherwise."""
    prompt_ids = None
    if fields.get("prompt_ids") is not None:
        prompt_ids = _prompt_ids(checks, fields, vocab_size)
    elif fields.get("text") is None:
        raise checks.RequestError("text: required (or prompt_ids)")
    # the sampling fields are checked by the generation model's rules; the prompt and max_tokens here
    sampling = dict(fields, text=b"-" if prompt_ids is not None else fields["text"], max_tokens=None)
    checked = checks.decode_request(sampling, limits)
    max_tokens = checks.integer_field("max_tokens", fields, limits.default_max_tokens, 0, limits.max_tokens_limit)
    return LlmRequest(text=None if prompt_ids is not None else checked.text, prompt_ids=prompt_ids,
                      max_tokens=max_tokens, temperature=checked.temperature, top_k=checked.top_k,
                      top_p=checked.top_p, seed=checked.seed, stop=checked.stop,
                      logprobs=_flag(checks, "logprobs", fields), echo=_flag(checks, "echo", fields))
