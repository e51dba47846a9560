"""`<name>_llm`'s response thread (deploy/triton_models/llm/response_queue.py) without Triton: a
stream's first response goes before other streams' later ones, each stream's responses stay in
order, a failed send drops that stream's later responses, and the scheduler's wait returns once
the backlog is sent."""

import threading
import time

from fullchain.deploy.triton_models.llm.response_queue import ResponseQueue


class Sender:
    def __init__(self, log, name, gate=None, fail=False):
        self.log, self.name, self.gate, self.fail = log, name, gate, fail

    def send(self, response, flags=0):
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise RuntimeError("client gone")
        self.log.append((self.name, response, flags))


class Stream:
    def __init__(self, sender):
        self.sender, self.gone = sender, False


def test_first_responses_go_first_and_each_stream_keeps_its_order():
    log, warnings, gate = [], [], threading.Event()
    queue = ResponseQueue("m", warnings.append)
    blocker = Stream(Sender(log, "blocker", gate=gate))
    a, b = Stream(Sender(log, "a")), Stream(Sender(log, "b"))
    queue.put(blocker, 0, 0, first=True)  # holds the thread while the others queue up
    time.sleep(0.05)
    queue.put(a, 1, 0, first=True)
    queue.put(a, 2, 0, first=False)
    queue.put(a, 3, 1, first=False)
    queue.put(b, 1, 0, first=True)  # arrives after a's later ones, sent before them
    queue.put(b, 2, 1, first=False)
    gate.set()
    queue.close(timeout_s=5)
    assert [(name, r) for name, r, _ in log] == [("blocker", 0), ("a", 1), ("b", 1), ("a", 2), ("a", 3), ("b", 2)]
    assert not queue.thread.is_alive() and warnings == []


def test_a_failed_send_marks_the_stream_gone_and_drops_its_later_responses():
    log, warnings = [], []
    queue = ResponseQueue("m", warnings.append)
    gone = Stream(Sender(log, "gone", fail=True))
    other = Stream(Sender(log, "other"))
    queue.put(gone, 1, 0, first=True)
    queue.put(gone, 2, 0, first=False)
    queue.put(other, 1, 1, first=True)
    queue.close(timeout_s=5)
    assert gone.gone and not other.gone
    assert log == [("other", 1, 1)]
    assert len(warnings) == 1 and warnings[0].startswith("m: a response could not be sent") and "client gone" in warnings[0]


def test_the_scheduler_waits_until_the_backlog_is_sent():
    log, gate = [], threading.Event()
    queue = ResponseQueue("m", lambda _: None)
    stream = Stream(Sender(log, "s", gate=gate))
    for i in range(4):
        queue.put(stream, i, 0, first=i == 0)
    start = time.monotonic()
    queue.wait_until_at_most(1, timeout_s=0.2)  # nothing can be sent yet: it gives up at the timeout
    assert time.monotonic() - start >= 0.19 and log == []
    threading.Timer(0.1, gate.set).start()
    queue.wait_until_at_most(0, timeout_s=5)
    assert [r for _, r, _ in log] == [0, 1, 2, 3]
    queue.close(timeout_s=5)
