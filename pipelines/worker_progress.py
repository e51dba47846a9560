"""Progress lines from Beam workers, shown plainly on the driver's stderr.

Workers log through `fullchain.progress` (pipelines.beam_io.LogProgress). In-process workers
log directly; worker processes send their logs to the local job service, which logs each one
as a protobuf dump on its own logger: the filter here prints just the message.
"""

from __future__ import annotations

import logging
import re
import sys

from fullchain.pipelines.beam_io import PROGRESS_LOG


class _WorkerLogFilter(logging.Filter):
    """On the local job service's logger: print workers' progress lines plainly, pass on their
    errors, and drop the rest (every worker's start-up warnings, which say nothing about the job)."""

    _MESSAGE = re.compile(r'message: "([^"]*)"')

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        text = record.getMessage()
        if "documents on this worker" in text:
            found = self._MESSAGE.search(text)
            if found:
                print(found.group(1), file=sys.stderr, flush=True)
        return False


def show_worker_progress() -> None:
    """Route progress lines to stderr, from in-process workers and from worker processes alike."""
    if not PROGRESS_LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        PROGRESS_LOG.addHandler(handler)
        PROGRESS_LOG.setLevel(logging.INFO)
        PROGRESS_LOG.propagate = False
    job_service = logging.getLogger("apache_beam.runners.portability.local_job_service")
    if not any(isinstance(f, _WorkerLogFilter) for f in job_service.filters):
        job_service.addFilter(_WorkerLogFilter())
        # workers' INFO records must reach the filter; it lets only errors through
        job_service.setLevel(logging.INFO)
