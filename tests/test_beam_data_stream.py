"""pipelines/beam_data_stream.py: Beam's time-flushed data stream (the local runner's channel to its
SDK workers) delivers every byte written while its flush thread runs, once the fix is installed.
Without it, chunks written between the flush's get() and _clear() vanish (docs/BEAM_DATA_LOSS_REPRO.md)."""

import time

from apache_beam.runners.worker.data_plane import ClosableOutputStream

from fullchain.pipelines import beam_data_stream


def test_writes_racing_the_periodic_flush_are_all_delivered():
    beam_data_stream.install()
    beam_data_stream.install()  # idempotent
    assert beam_data_stream.installed()
    delivered = []

    def deliver(data):
        delivered.append(data)
        time.sleep(0.0005)  # as a gRPC queue put does, let the writing thread run mid-flush

    out = ClosableOutputStream.create(deliver, deliver, data_buffer_time_limit_ms=2)
    chunks = [i.to_bytes(4, "big") * 256 for i in range(1500)]
    for chunk in chunks:
        out.write(chunk)
        time.sleep(0.00005)
    out.close()
    assert len(delivered) > 10  # the flush thread ran many times while the chunks were written
    assert b"".join(delivered) == b"".join(chunks)
