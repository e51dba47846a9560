"""A finished Beam job's counters, read one way by every stage test."""

from __future__ import annotations

from typing import Any

from apache_beam.metrics.metric import MetricsFilter


def beam_counters(result: Any, namespace: str) -> dict[str, int]:
    """Counter name -> value of one metrics namespace of a finished pipeline: the committed value
    where the runner has one, else the attempted one, summed over the steps that report the same
    name (RunInference reports its counters per step). A counter never incremented is absent."""
    counters: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]:
        value = c.committed if c.committed is not None else c.attempted
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + (value or 0)
    return counters
