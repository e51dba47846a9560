"""Token generation over an exported decoder graph with a key/value cache, in numpy only.

This file is self-contained on purpose (numpy and the standard library, no fullchain imports):
`fullchain publish` copies it into the Triton model repository, where the Python backend
imports it beside `model.py`; the export's validation report and the tests use the same file.

The graph contract (docs/CONTRACTS.md section 6). Inputs: `input_ids` int64 [batch, seq],
`attention_mask` int64 [batch, past + seq] (1 = token, 0 = left padding), `position_ids`
int64 [batch, seq] (cumsum(mask) - 1, padding 0), `past_key_values.{i}.key` / `.value`
float32 [batch, H, past, D] for every layer i (past may be 0). Outputs: `logits` float32
[batch, seq, V] and `present.{i}.key` / `.value` float32 [batch, H, past + seq, D].

API
---
`run` is any callable `run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]` that evaluates
the graph: `session_runner(onnxruntime.InferenceSession(...))`, or a Triton BLS call. It must
return at least `logits` and every `present.*` output.

    spec = DecoderSpec.from_export(json.load(open("export.json")))
    params = SamplingParams(max_tokens=32, temperature=0.8, top_p=0.95, seed=1, stop_token_ids=(2,))
    results = generate(run, spec, [[1, 5, 9], [1, 7]], params)        # list[Generation]
    for step in stream(run, spec, [[1, 5, 9], [1, 7]], params):      # one list per step:
        ...                                                            # new token per row, None if done

- Prompts are lists of token ids (each non-empty); they are left-padded into one batch and the
  prompt is computed in one call (prefill), then one token per row per call.
- `params` is one `SamplingParams` for the whole batch or a list with one per prompt.
- Greedy when `temperature == 0` (the default); otherwise logits / temperature, then top-k
  (`top_k > 0`), then top-p (nucleus, `top_p < 1`) filtering, then a draw from the softmax.
- `seed` makes sampling reproducible: each row has its own generator seeded with its `seed`, so a
  row's tokens do not depend on the other rows of the batch. `seed=None` draws fresh entropy.
- A row stops after `max_tokens` new tokens (finish reason "length"), when it draws one of
  `stop_token_ids` (finish reason "stop"; the stop token is not returned), or when the sequence
  reaches `spec.max_positions` ("length"). Finished rows are dropped from the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

Run = Callable[[dict], dict]


@dataclass(frozen=True)
class DecoderSpec:
    """The shape facts of an exported decoder that the loop needs (all in export.json)."""

    num_layers: int
    num_kv_heads: int
    head_dim: int
    pad_token_id: int = 0
    max_positions: int | None = None

    @classmethod
    def from_export(cls, meta: dict[str, Any]) -> "DecoderSpec":
        """The spec from a parsed export.json."""
        pad = meta.get("pad_token_id")
        return cls(num_layers=int(meta["num_layers"]), num_kv_heads=int(meta["num_kv_heads"]),
                   head_dim=int(meta["head_dim"]), pad_token_id=0 if pad is None else int(pad),
                   max_positions=meta.get("max_positions"))


@dataclass(frozen=True)
class SamplingParams:
    """How to pick the next token of one row; see the module docstring."""

    max_tokens: int = 32
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    stop_token_ids: Sequence[int] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.max_tokens < 0:
            raise ValueError(f"max_tokens {self.max_tokens} must be >= 0")
        if self.temperature < 0:
            raise ValueError(f"temperature {self.temperature} must be >= 0")
        if self.top_k < 0:
            raise ValueError(f"top_k {self.top_k} must be >= 0 (0 = off)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p {self.top_p} must be in (0, 1]")


@dataclass
class Generation:
    """What one prompt produced: the new token ids and why it ended ("stop" or "length")."""

    tokens: list[int]
    finish_reason: str


def session_runner(session: Any) -> Run:
    """A `run` callable over an onnxruntime.InferenceSession (all outputs, by name)."""
    names = [o.name for o in session.get_outputs()]

    def run(feeds: dict) -> dict:
        return dict(zip(names, session.run(names, feeds)))

    return run


def prefill_feeds(spec: DecoderSpec, prompts: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """The graph feeds for a batch of prompts, left-padded, with an empty cache."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if spec.max_positions is not None and max(len(p) for p in prompts) > spec.max_positions:
        raise ValueError(f"a prompt is longer than the model's {spec.max_positions} positions")
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), spec.pad_token_id, dtype=np.int64)
    mask = np.zeros((len(prompts), width), dtype=np.int64)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = prompt
        mask[row, width - len(prompt):] = 1
    empty = np.zeros((len(prompts), spec.num_kv_heads, 0, spec.head_dim), dtype=np.float32)
    feeds = {"input_ids": ids, "attention_mask": mask, "position_ids": positions(mask)}
    for i in range(spec.num_layers):
        feeds[f"past_key_values.{i}.key"] = empty
        feeds[f"past_key_values.{i}.value"] = empty
    return feeds


def positions(mask: np.ndarray) -> np.ndarray:
    """Position ids of a left-padded mask: cumsum(mask) - 1, 0 on padding."""
    return np.where(mask == 1, np.cumsum(mask, axis=1) - 1, 0).astype(np.int64)


def next_token(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """Pick the next token from one row of last-position logits [V]."""
    if params.temperature == 0 or params.top_k == 1:
        return int(np.argmax(logits))
    scores = logits.astype(np.float64) / params.temperature
    if 0 < params.top_k < scores.size:
        kth = np.partition(scores, -params.top_k)[-params.top_k]
        scores = np.where(scores >= kth, scores, -np.inf)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    if params.top_p < 1:
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        # keep the smallest head of the ranking whose mass reaches top_p (always at least one token)
        keep = order[: int(np.searchsorted(cumulative, params.top_p)) + 1]
        kept = np.zeros_like(probs)
        kept[keep] = probs[keep]
        probs = kept / kept.sum()
    return int(rng.choice(probs.size, p=probs))


def stream(run: Run, spec: DecoderSpec, prompts: Sequence[Sequence[int]],
           params: SamplingParams | Sequence[SamplingParams] = SamplingParams()) -> Iterator[list[int | None]]:
    """Yield, after every step, one entry per prompt: its new token, or None when it has finished
    (before this step or by drawing a stop token now). Ends when every row has finished."""
    yield from (step for step, _ in _steps(run, spec, prompts, params))


def generate(run: Run, spec: DecoderSpec, prompts: Sequence[Sequence[int]],
             params: SamplingParams | Sequence[SamplingParams] = SamplingParams()) -> list[Generation]:
    """Generate for a batch of prompts; one Generation per prompt, in order."""
    results = [Generation([], "length") for _ in prompts]
    for step, reasons in _steps(run, spec, prompts, params):
        for row, token in enumerate(step):
            if token is not None:
                results[row].tokens.append(token)
            if reasons[row] is not None:
                results[row].finish_reason = reasons[row]
    return results


def _steps(run: Run, spec: DecoderSpec, prompts: Sequence[Sequence[int]],
           params: SamplingParams | Sequence[SamplingParams]) -> Iterator[tuple[list[int | None], list[str | None]]]:
    """The decoding loop: per step, (token or None per prompt, finish reason or None per prompt)."""
    per_row = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
    if len(per_row) != len(prompts):
        raise ValueError(f"{len(per_row)} sampling params for {len(prompts)} prompts")
    rngs = [np.random.default_rng(p.seed) for p in per_row]
    produced = [0] * len(prompts)
    feeds = prefill_feeds(spec, prompts)
    active = [row for row in range(len(prompts)) if per_row[row].max_tokens > 0]
    keep = np.array(active, dtype=np.int64)
    feeds = {name: value[keep] for name, value in feeds.items()}
    while active:
        outputs = run(feeds)
        logits = outputs["logits"][:, -1, :]
        step: list[int | None] = [None] * len(prompts)
        reasons: list[str | None] = [None] * len(prompts)
        still = []
        for slot, row in enumerate(active):
            p = per_row[row]
            token = next_token(logits[slot], p, rngs[row])
            total = int(feeds["attention_mask"][slot].sum()) + 1
            if token in p.stop_token_ids:
                reasons[row] = "stop"
                continue
            step[row] = token
            produced[row] += 1
            if produced[row] >= p.max_tokens or (spec.max_positions is not None and total >= spec.max_positions):
                reasons[row] = "length"
            else:
                still.append(slot)
        yield step, reasons
        if not still:
            return
        # rows leave the batch only when one finished: otherwise the cache goes back without a copy
        rows = slice(None) if len(still) == len(active) else np.array(still, dtype=np.int64)
        mask = feeds["attention_mask"][rows]
        new_ids = np.array([[step[active[s]]] for s in still], dtype=np.int64)
        feeds = {"input_ids": new_ids,
                 "attention_mask": np.concatenate([mask, np.ones((len(still), 1), dtype=np.int64)], axis=1),
                 "position_ids": mask.sum(axis=1, keepdims=True).astype(np.int64)}
        for i in range(spec.num_layers):
            for kind in ("key", "value"):
                feeds[f"past_key_values.{i}.{kind}"] = outputs[f"present.{i}.{kind}"][rows]
        active = [active[s] for s in still]
