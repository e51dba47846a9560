"""Ports for the servers and launches of the tests, without the race of a port found free and released.

A port found free by binding it and closing the socket can be taken by anyone before the program
binds it. So:
- where a program binds port 0 and tells its peers the number, let it: `torchrun --standalone` (its
  rendezvous store binds port 0 and the workers join the store), a world of one with MASTER_PORT=0
  (WORLD_OF_ONE), `http.server.HTTPServer(("127.0.0.1", 0), ...)`;
- where a program needs the numbers on its command line (tritonserver), `start_on_fresh_ports`
  starts it on random ports and, when the start reports that one was taken (PortTaken), starts it
  again on other ones.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")

# torch.distributed in this process, as rank 0 of a world of one: the store binds port 0
WORLD_OF_ONE = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "0", "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
# what tritonserver (HTTP, gRPC and metrics fronts) and Python's socket errors say about a taken port
ADDRESS_IN_USE_MARKERS = ("already in use", "Address already in use")
START_ATTEMPTS = 5
LOWEST_PORT = 20000


class PortTaken(RuntimeError):
    """A start failed because one of the ports it was given is in use; the message says which start."""


def says_address_in_use(text: str) -> bool:
    """Whether a program's output or error message reports a port that is already in use."""
    return any(marker in text for marker in ADDRESS_IN_USE_MARKERS)


def ephemeral_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux's default where it cannot be read)."""
    try:
        low, high = Path(path).read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def candidate_ports(n: int, rng: random.Random | None = None) -> list[int]:
    """n distinct random ports below the ephemeral range, so the kernel never hands them to an outgoing
    connection; another test may still hold one, which the start detects."""
    low = ephemeral_range()[0]
    return (rng or random.SystemRandom()).sample(range(LOWEST_PORT, low), n)


def start_on_fresh_ports(start: Callable[[list[int]], T], n: int, attempts: int = START_ATTEMPTS) -> T:
    """start(ports) with n candidate ports; again with new ones while it raises PortTaken, at most
    `attempts` times (then the last PortTaken propagates)."""
    for _ in range(attempts - 1):
        try:
            return start(candidate_ports(n))
        except PortTaken:
            continue  # another process holds one of them: new numbers, same start
    return start(candidate_ports(n))
