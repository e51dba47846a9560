"""tests/beam_metrics.py on a real DirectRunner job: a counter two steps report is summed."""

import apache_beam as beam
from apache_beam.metrics import Metrics

from tests.beam_metrics import beam_counters


class _Count(beam.DoFn):
    def __init__(self, namespace):
        self.namespace = namespace

    def process(self, element):
        Metrics.counter(self.namespace, "seen").inc()
        if element % 2:
            Metrics.counter(self.namespace, "odd").inc()
        yield element


def test_counters_of_one_namespace_summed_over_steps():
    pipeline = beam.Pipeline("DirectRunner")
    numbers = pipeline | beam.Create(range(5))
    _ = numbers | "first" >> beam.ParDo(_Count("test.a")) | "second" >> beam.ParDo(_Count("test.a"))
    _ = numbers | "other" >> beam.ParDo(_Count("test.b"))
    result = pipeline.run()
    result.wait_until_finish()
    assert beam_counters(result, "test.a") == {"seen": 10, "odd": 4}
    assert beam_counters(result, "test.b") == {"seen": 5, "odd": 2}
    assert beam_counters(result, "test.none") == {}
