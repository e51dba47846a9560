"""The request checks of the generation model: a request's input values in, its checked values out.

`fullchain publish` copies this file beside model.py into every generation model's version folder;
model.py loads it from there. It needs numpy only (no Triton), so tests load it directly.

Every integer is range-checked as the Python int it is, so a value is reported as sent, and the
prompt's byte length is checked before the prompt is decoded or tokenized, so an oversized prompt
costs no tokenizer time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

REQUEST_FIELDS = ("text", "max_tokens", "temperature", "top_k", "top_p", "seed", "stop")
INT64_MAX = 2**63 - 1
# the prompt byte limit when the config sets none: no token of a real vocabulary is 32 bytes long
PROMPT_BYTES_PER_POSITION = 32
MAX_PROMPT_BYTES_UNBOUNDED = 1 << 20
# every stop string is searched for after every token: bound their number and size
MAX_STOP_STRINGS = 16
MAX_STOP_BYTES = 256
_FLATTEN_LIMIT = 4096
# logits divided by a smaller temperature overflow float64 and turn the sampler's probabilities into
# NaN, which fails the whole batch the request is in
MIN_TEMPERATURE = 1e-3


class RequestError(ValueError):
    """A request field with a bad value; the message starts with the field name."""


@dataclass(frozen=True)
class RequestLimits:
    """What a request may ask for, from the model's config parameters and export."""

    default_max_tokens: int
    max_tokens_limit: int
    max_prompt_bytes: int
    seed_required: bool  # sampling needs a seed (the response cache would replay one unseeded sample)


@dataclass(frozen=True)
class Request:
    """A request's checked values; the prompt is not tokenized yet."""

    text: str
    max_tokens: int
    temperature: float
    top_k: int
    top_p: float
    seed: int | None
    stop: tuple[str, ...]


def prompt_byte_limit(configured: int, max_positions: int | None) -> int:
    """The longest prompt in UTF-8 bytes: the configured one, else derived from the model's positions."""
    if configured > 0:
        return configured
    return MAX_PROMPT_BYTES_UNBOUNDED if max_positions is None else PROMPT_BYTES_PER_POSITION * max_positions


def check_prompt_tokens(prompt: list[int], max_positions: int | None) -> None:
    """RequestError when a tokenized prompt is empty or leaves the model no position to generate at."""
    if not prompt:
        raise RequestError("text: encodes to no tokens")
    if max_positions is not None and len(prompt) >= max_positions:
        raise RequestError(f"text: the prompt has {len(prompt)} tokens; the model takes fewer than {max_positions}")


def flat_values(name: str, value: Any) -> list[Any]:
    """The values of one input, whatever its shape (numpy array, nested lists or one scalar)."""
    if isinstance(value, np.ndarray):
        if value.size > _FLATTEN_LIMIT:
            raise RequestError(f"{name}: expected at most {_FLATTEN_LIMIT} values, got {value.size}")
        return value.reshape(-1).tolist()
    out, pending = [], [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple, np.ndarray)):
            pending.extend(reversed(list(item.reshape(-1)) if isinstance(item, np.ndarray) else item))
        else:
            out.append(item)
        if len(out) + len(pending) > _FLATTEN_LIMIT:
            raise RequestError(f"{name}: expected at most {_FLATTEN_LIMIT} values")
    return out


def shown(value: Any) -> str:
    """The value as sent, for an error message: one line of bounded length even for a 10**400 or a
    megabyte of text."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_value(name: str, fields: Mapping[str, Any]) -> Any:
    """The single value of field `name`; RequestError when it has none or several."""
    values = flat_values(name, fields[name])
    if len(values) != 1:
        raise RequestError(f"{name}: expected one value per request, got {len(values)}")
    return values[0]


def integer_field(name: str, fields: Mapping[str, Any], default: int | None, low: int, high: int) -> int | None:
    """Field `name` as an int within low..high (`default` when absent); RequestError otherwise."""
    if fields.get(name) is None:
        return default
    value = one_value(name, fields)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{name}: must be an integer, got {shown(value)}")
    if not low <= value <= high:
        raise RequestError(f"{name}: must be within {low}..{high}, got {shown(value)}")
    return value


def _number(name: str, fields: Mapping[str, Any], default: float) -> float:
    if fields.get(name) is None:
        return default
    value = one_value(name, fields)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{name}: must be a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise RequestError(f"{name}: must be a finite number, got {shown(value)}") from None
    if not math.isfinite(number):
        raise RequestError(f"{name}: must be a finite number, got {shown(value)}")
    return number


def _text(name: str, value: Any, max_bytes: int) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        try:
            value = value.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(f"{name}: must be UTF-8 text") from None
    if not isinstance(value, bytes):
        raise RequestError(f"{name}: must be text, got {type(value).__name__}")
    # before decoding: the cost of an oversized value stays at this comparison
    if len(value) > max_bytes:
        raise RequestError(f"{name}: {len(value)} bytes; at most {max_bytes} are accepted")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(f"{name}: must be UTF-8 text") from None


def decode_request(fields: Mapping[str, Any], limits: RequestLimits) -> Request:
    """The checked values of one request from its input values (REQUEST_FIELDS name -> numpy array,
    or any value; a missing or None field takes its default); RequestError naming the field otherwise."""
    if fields.get("text") is None:
        raise RequestError("text: required")
    text = _text("text", one_value("text", fields), limits.max_prompt_bytes)
    if not text.strip():
        raise RequestError("text: must not be empty")
    max_tokens = integer_field("max_tokens", fields, limits.default_max_tokens, 1, limits.max_tokens_limit)
    temperature = _number("temperature", fields, 0.0)
    if temperature != 0 and not temperature >= MIN_TEMPERATURE:
        raise RequestError(f"temperature: must be 0 (greedy) or a finite number >= {MIN_TEMPERATURE}, "
                           f"got {temperature}")
    top_k = integer_field("top_k", fields, 0, 0, INT64_MAX)
    top_p = _number("top_p", fields, 1.0)
    if not 0 < top_p <= 1:
        raise RequestError(f"top_p: must be within (0, 1], got {top_p}")
    seed = integer_field("seed", fields, None, 0, INT64_MAX)
    if temperature > 0 and seed is None and limits.seed_required:
        raise RequestError("seed: required when temperature > 0, because this model's response cache is on "
                           "and would replay one unseeded sample for every identical request")
    stop = [] if fields.get("stop") is None else flat_values("stop", fields["stop"])
    if len(stop) > MAX_STOP_STRINGS:
        raise RequestError(f"stop: at most {MAX_STOP_STRINGS} stop strings, got {len(stop)}")
    stop = [_text("stop", s, MAX_STOP_BYTES) for s in stop]
    if any(not s for s in stop):
        raise RequestError("stop: stop strings must not be empty")
    return Request(text=text, max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                   seed=seed, stop=tuple(stop))
