"""Tokens with their text, offsets and log-probabilities, as the OpenAI API reports them.

A token's text is what it adds to the decoded text (decoded in a short window of the tokens before
it, so that byte-level and SentencePiece tokens come out as the text they add, and the texts join
to the decoded whole); a special token (`<s>`) adds nothing to the text, so its text is its name
and its offset is that of the next character. Offsets count characters of the response's `text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

# tokens of context decoded before each token: enough for a multi-byte character split over tokens
_WINDOW = 6


class Detokenizer(Protocol):
    """What this module needs of a `tokenizers.Tokenizer`."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str: ...

    def id_to_token(self, id: int) -> str | None: ...


@dataclass
class TokenScores:
    """Per token: its text, its offset in the response text, its log-probability (None for the
    prompt's first token) and the alternatives (token text -> log-probability; None where none)."""

    tokens: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    logprobs: list[float | None] = field(default_factory=list)
    top: list[dict[str, float] | None] = field(default_factory=list)

    def extend(self, other: "TokenScores") -> None:
        """Append another run of tokens (its offsets already count from the same text start)."""
        self.tokens += other.tokens
        self.offsets += other.offsets
        self.logprobs += other.logprobs
        self.top += other.top


def token_texts(tokenizer: Detokenizer, ids: Sequence[int], context: Sequence[int] = ()) -> list[str]:
    """The text each of `ids` adds after `context` (the tokens before them). A character split over
    several byte-level tokens belongs to the token that completes it; the ones before add ""."""
    seq = list(context) + list(ids)
    prefix, read = max(0, len(context) - _WINDOW), len(context)
    texts = []
    for i in range(len(context), len(seq)):
        before = tokenizer.decode(seq[prefix:read])
        with_token = tokenizer.decode(seq[prefix:i + 1])
        if with_token.endswith("\ufffd"):
            texts.append("")  # an incomplete character: wait for the token that completes it
            continue
        texts.append(with_token[len(before):] if with_token.startswith(before) else with_token)
        prefix, read = max(read, i + 1 - _WINDOW), i + 1
    if texts and read < len(seq):  # the sequence ends inside a character: the last token has the rest
        texts[-1] += tokenizer.decode(seq[prefix:])[len(tokenizer.decode(seq[prefix:read])):]
    return texts


def score_tokens(tokenizer: Detokenizer, ids: Sequence[int], logprobs: Sequence[float | None],
                 top_ids: Sequence[int | None], top_logprobs: Sequence[float | None], start_offset: int,
                 context: Sequence[int] = (), alternatives: int = 1) -> TokenScores:
    """TokenScores of `ids` (after `context`), their text starting at `start_offset` of the response
    text. `alternatives` caps each position's dict: the most likely token (the model reports one) and
    the chosen token, at least the chosen one."""
    scores = TokenScores()
    offset = start_offset
    for token, text, logprob, best, best_logprob in zip(ids, token_texts(tokenizer, ids, context), logprobs,
                                                          top_ids, top_logprobs):
        scores.tokens.append(text or tokenizer.id_to_token(token) or "")
        scores.offsets.append(offset)
        scores.logprobs.append(logprob)
        offset += len(text)
        if logprob is None:
            scores.top.append(None)
            continue
        entries: dict[str, float] = {}
        chosen = scores.tokens[-1]
        if best is not None and best_logprob is not None and alternatives >= 1:
            entries[chosen if best == token else _alone(tokenizer, best)] = best_logprob
        # two ids can share one text: keep the larger log-probability under it
        entries[chosen] = max(logprob, entries.get(chosen, logprob))
        scores.top.append(entries)
    return scores


def _alone(tokenizer: Detokenizer, token: int) -> str:
    return tokenizer.decode([token]) or tokenizer.id_to_token(token) or ""
