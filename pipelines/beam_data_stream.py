"""A fix, installed before every fullchain job runs, for a data-loss race in Apache Beam's Python
runner (up to at least 2.77; reproduction in docs/BEAM_DATA_LOSS_REPRO.md).

The local runner (FnApiRunner, behind the DirectRunner's multi-process mode and the portable
runner's embedded job service) sends each bundle's input to its SDK workers through a
`TimeBasedBufferingClosableOutputStream`, which a background thread flushes every second
(`flush`: deliver `get()`, then `_clear()`), while the runner's thread keeps writing the input's
encoded chunks with an unlocked `write`. A chunk written between `get()` and `_clear()` is dropped:
thousands of records vanish from a stage input that takes over a second to send, at random, and
a job's counts stop adding up (`LedgerImbalance: dedup: input 178052 != kept 181384 + rejected
18616` on one of two identical 200,000-document runs).

`install()` makes `write` take the same lock as `flush`, so a flush delivers everything written
before it and nothing is cleared unsent. The runner writes whole chunks of many records, so one
lock per chunk costs nothing measurable.
"""

from __future__ import annotations

from apache_beam.runners.worker import data_plane

_STREAM = data_plane.TimeBasedBufferingClosableOutputStream
_UNLOCKED_WRITE = data_plane.SizeBasedBufferingClosableOutputStream.write


def _locked_write(self, b, nested=False):
    with self._flush_lock:
        _UNLOCKED_WRITE(self, b, nested)


def install() -> None:
    """Make Beam's time-flushed data stream lose no writes (idempotent; this process only: the SDK
    workers write through size-flushed streams, which have no flush thread)."""
    _STREAM.write = _locked_write


def installed() -> bool:
    """Whether `install` has patched this process's Beam."""
    return _STREAM.write is _locked_write
