"""What the three fullchain backends of lm-evaluation-harness share: tokenization, batching and the
harness's three request types on top of two model calls each backend provides.

- `batch_logits(rows)`: the logits [B, W, V] of a left-padded batch of token rows, in one forward
  pass (PyTorch, an ONNX Runtime session, or Triton's ONNX model);
- `generate_tokens(prompts, texts, max_tokens, until)`: greedy continuations, token ids per prompt.

loglikelihood: each (context, continuation) pair is one row whose continuation is scored from the
same pass (never one call per token); rows are batched longest first. loglikelihood_rolling: the
harness's own rolling windows (`lm_eval.utils.get_rolling_token_windows`), scored as such rows.
generate_until: greedy, cut at the first stop string; requests that share their generation
arguments are batched.

`full_rows`: each row is fed whole, its continuation's last token included (one more position, its
prediction unused), and rows are cut to max_length - FULL_ROW_ROOM tokens: what a server scoring a
prompt by echo (`<name>_llm`) runs, so an in-process dynamic INT8 graph, whose activation scale
depends on every token fed, scores exactly what the server scores.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np
from lm_eval.api.model import TemplateLM
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tokenizers import Tokenizer
from tqdm import tqdm

from fullchain.evaluation.scoring import continuation_scores, cut_at_stop, length_batches, scoring_row
from fullchain.exporters import kv_decoding

DEFAULT_MAX_GEN_TOKS = 256
# a whole row (one token more) plus the one token the echo request generates fit the positions
FULL_ROW_ROOM = 2


class BackendError(ValueError):
    """A model the backend cannot evaluate (wrong folder, unreachable server); one line."""


def flag(value: bool | str) -> bool:
    """A boolean model argument: the harness passes model_args as strings ("true", "false")."""
    if isinstance(value, bool):
        return value
    if str(value).lower() not in ("true", "false", "1", "0"):
        raise BackendError(f"expected true or false, got {value!r}")
    return str(value).lower() in ("true", "1")


def batch_count(value: int | str | None, default: int) -> int:
    """A batch size from model_args or the harness's --batch_size (a string there); "auto" is refused."""
    if value is None:
        return default
    if isinstance(value, str) and not value.isdigit():
        raise BackendError(f"batch_size must be a positive integer, got {value!r} (no 'auto' in the fullchain backends)")
    return int(value)


class FullchainLM(TemplateLM):
    """Base of the fullchain-hf, fullchain-onnx and fullchain-served backends (see the module docstring)."""

    backend = "causal"

    def __init__(self, tokenizer_dir: str, max_length: int, bos_token_id: int | None, eos_token_ids: Sequence[int],
                 batch_size: int, generation_batch_size: int, label: str,
                 full_rows: bool = False):
        super().__init__()
        path = os.path.join(tokenizer_dir, "tokenizer.json")
        if not os.path.isfile(path):
            raise BackendError(f"{tokenizer_dir}: no tokenizer.json")
        self.tokenizer = Tokenizer.from_file(path)
        self.max_length = int(max_length)
        self.bos_token_id = bos_token_id
        self.eos_token_ids = tuple(int(t) for t in eos_token_ids)
        if int(batch_size) < 1 or int(generation_batch_size) < 1:
            raise BackendError(f"batch sizes must be >= 1, got {batch_size} and {generation_batch_size}")
        self.batch_size = int(batch_size)
        self.generation_batch_size = int(generation_batch_size)
        self.label = label
        self.full_rows = bool(full_rows)
        self.scoring_length = self.max_length - FULL_ROW_ROOM if self.full_rows else self.max_length

    # ---- what each backend provides

    def batch_logits(self, rows: list[list[int]]) -> np.ndarray:
        """Logits [len(rows), longest row, V] of the rows left-padded into one batch."""
        raise NotImplementedError

    def generate_tokens(self, prompts: list[list[int]], texts: list[str], max_tokens: int,
                        until: list[str]) -> list[list[int]]:
        """Greedy continuations (new token ids) of the prompts (their ids, and the texts they encode);
        may stop early at a stop string."""
        raise NotImplementedError

    # ---- tokenization (the harness's TemplateLM contract)

    @property
    def eot_token_id(self) -> int:
        return self.eos_token_ids[0] if self.eos_token_ids else 0

    @property
    def prefix_token_id(self) -> int:
        # an empty context is scored after BOS, the token every training document starts after
        return self.bos_token_id if self.bos_token_id is not None else self.eot_token_id

    @property
    def tokenizer_name(self) -> str:
        return self.label

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs: Any) -> list[int]:
        return self.tokenizer.encode(string, add_special_tokens=bool(add_special_tokens)).ids

    def tok_decode(self, tokens: Sequence[int]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True)

    # ---- the harness's request types

    def _loglikelihood_tokens(self, requests: list[tuple[tuple[str, str], list[int], list[int]]],
                              disable_tqdm: bool = False, **kwargs: Any) -> list[tuple[float, bool]]:
        rows = [scoring_row(context, continuation, self.scoring_length) for _, context, continuation in requests]
        answers = self.score_rows(rows, f"{self.label}: log-likelihoods", disable_tqdm)
        for (pair, _, _), answer in zip(requests, answers):
            self.cache_hook.add_partial("loglikelihood", pair, answer)
        return answers

    def score_rows(self, rows: list, desc: str, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(log-likelihood, greedy) of each ScoringRow, in batches of `batch_size`, in the rows' order."""
        answers: list[tuple[float, bool] | None] = [None] * len(rows)
        batches = length_batches([len(r.tokens) for r in rows], self.batch_size)
        # a whole row ends with the continuation's last token, whose own prediction is not scored
        extra = 1 if self.full_rows else 0
        for batch in tqdm(batches, desc=desc, unit="batch", disable=disable_tqdm):
            logits = self.batch_logits([rows[i].tokens + rows[i].continuation[-1:] * extra for i in batch])
            for slot, i in enumerate(batch):
                n = len(rows[i].continuation)
                answers[i] = continuation_scores(logits[slot, -n - extra:logits.shape[1] - extra], rows[i].continuation)
        return answers  # type: ignore[return-value]

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        rows, owner = [], []
        for index, request in enumerate(requests):
            (text,) = request.args
            windows = get_rolling_token_windows(token_list=self.tok_encode(text), prefix_token=self.prefix_token_id,
                                                max_seq_len=self.scoring_length, context_len=1)
            for context, continuation in map(make_disjoint_window, windows):
                rows.append(scoring_row(context, continuation, self.scoring_length))
                owner.append(index)
        totals = [0.0] * len(requests)
        for index, (log_likelihood, _) in zip(owner, self.score_rows(rows, f"{self.label}: rolling windows",
                                                                   disable_tqdm)):
            totals[index] += log_likelihood
        for request, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(json.dumps(request.args[1], sort_keys=True, default=str), []).append(index)
        answers: list[str | None] = [None] * len(requests)
        progress = tqdm(total=len(requests), desc=f"{self.label}: generation", unit="request", disable=disable_tqdm)
        for key, members in groups.items():
            until, max_tokens = self._generation_args(json.loads(key))
            prompts = {i: self._prompt(requests[i].args[0], max_tokens) for i in members}
            batches = length_batches([len(prompts[i]) for i in members], self.generation_batch_size)
            for batch in batches:
                indices = [members[j] for j in batch]
                outputs = self.generate_tokens([prompts[i] for i in indices], [requests[i].args[0] for i in indices],
                                               max_tokens, until)
                for i, tokens in zip(indices, outputs):
                    text, _ = cut_at_stop(self.tok_decode(tokens), until)
                    answers[i] = text
                    self.cache_hook.add_partial("generate_until", requests[i].args, text)
                progress.update(len(indices))
        progress.close()
        return answers  # type: ignore[return-value]

    def _generation_args(self, gen_kwargs: dict[str, Any]) -> tuple[list[str], int]:
        if gen_kwargs.get("do_sample") or float(gen_kwargs.get("temperature") or 0) > 0:
            raise BackendError(f"{self.label}: the fullchain backends generate greedily; the task asks for "
                               f"sampling ({gen_kwargs})")
        until = gen_kwargs.get("until") or [self.tok_decode([self.eot_token_id])]
        until = [until] if isinstance(until, str) else list(until)
        return until, int(gen_kwargs.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS)

    def _prompt(self, context: str, max_tokens: int) -> list[int]:
        # the server's generation model encodes its text with the tokenizer's own special tokens (BOS)
        ids = self.tokenizer.encode(context, add_special_tokens=True).ids or [self.prefix_token_id]
        room = max(1, self.max_length - max_tokens)
        return ids[-room:]


def loop_generation(run: kv_decoding.Run, spec: kv_decoding.DecoderSpec, prompts: list[list[int]], max_tokens: int,
                    stop_ids: tuple[int, ...], until: list[str], decode: Any) -> list[list[int]]:
    """Greedy tokens of kv_decoding's loop over `run`, ended early once every row has produced a
    stop string (the harness cuts the text there anyway)."""
    params = kv_decoding.SamplingParams(max_tokens=max_tokens, stop_token_ids=stop_ids)
    tokens: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    for step in kv_decoding.stream(run, spec, prompts, params):
        for row, token in enumerate(step):
            if token is None:
                done[row] = True
            elif not done[row]:
                tokens[row].append(token)
                done[row] = cut_at_stop(decode(tokens[row]), until)[1]
        if all(done):
            break
    return tokens
