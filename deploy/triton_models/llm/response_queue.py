"""The response thread of `<name>_llm` (model.py): standard library only, so that it is tested
without Triton; `fullchain publish` copies it beside model.py."""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable


class ResponseQueue:
    """Sends the streams' responses from a thread of its own.

    Each send is a round trip to the server process (one per token per sequence); sent from the
    scheduler's thread, the next decoding step waited for all of them. Measured idle on 2 cores
    (docs/BENCHMARKS.md): 715 -> 1,092 tokens/s at concurrency 8. A stream's first response goes
    before the others' later ones (a stream's own responses stay in order), because time to first
    token is what a waiting client feels; and after a step the scheduler waits while more
    responses are unsent than one step makes, so that it cannot run ahead of the sending and let
    every token's latency grow. A response that cannot be sent (the client is gone) marks its stream
    gone: its later responses are dropped and its sequence ends at its next update, which frees
    the slot."""

    def __init__(self, name: str, log_warning: Callable[[str], None]):
        self.name = name
        self.log_warning = log_warning
        self.first: collections.deque = collections.deque()
        self.later: collections.deque = collections.deque()
        self.changed = threading.Condition()
        self.closing = False
        self.sending = 0  # 1 while a response taken from the deques is being sent
        self.thread = threading.Thread(target=self._send_all, name=f"{name}-responses", daemon=True)
        self.thread.start()

    def put(self, stream: Any, response: Any, flags: int, first: bool) -> None:
        """Queue one response of `stream` (flags: TRITONSERVER_RESPONSE_COMPLETE_FINAL on its last;
        `first`: the stream's first response)."""
        with self.changed:
            (self.first if first else self.later).append((stream, response, flags))
            self.changed.notify_all()

    def wait_until_at_most(self, unsent: int, timeout_s: float = 1.0) -> None:
        """Block while more than `unsent` responses are unsent (at most `timeout_s`)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.first) + len(self.later) + self.sending <= unsent, timeout_s)

    def close(self, timeout_s: float) -> None:
        """Send what is queued, then stop the thread."""
        with self.changed:
            self.closing = True
            self.changed.notify_all()
        self.thread.join(timeout=timeout_s)

    def _next(self) -> tuple | None:
        # the previous response is out (or dropped): take the next, first responses first
        with self.changed:
            self.sending = 0
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.first or self.later or self.closing)
            if not self.first and not self.later:
                return None
            self.sending = 1
            return (self.first or self.later).popleft()

    def _send_all(self) -> None:
        while (item := self._next()) is not None:
            stream, response, flags = item
            if stream.gone:
                continue
            try:
                stream.sender.send(response, flags=flags)
            except Exception as e:  # noqa: BLE001  (the client is gone: its sequence ends, the batch goes on)
                stream.gone = True
                self.log_warning(f"{self.name}: a response could not be sent, ending its sequence: {e}")
