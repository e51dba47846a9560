"""The front's Prometheus metrics, on its own GET /metrics (Triton's are on Triton's metrics port).

| metric | kind | labels |
|---|---|---|
| fullchain_openai_requests_total | counter | endpoint, status (HTTP status of the answer) |
| fullchain_openai_requests_in_flight | gauge | |
| fullchain_openai_time_to_first_token_seconds | histogram | model |
| fullchain_openai_request_duration_seconds | histogram | endpoint |
| fullchain_openai_prompt_tokens_total | counter | model |
| fullchain_openai_completion_tokens_total | counter | model (rate() of it is tokens/s) |
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# time to first token and request time of a CPU or GPU server: milliseconds to minutes
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
PREFIX = "fullchain_openai"


class FrontMetrics:
    """The metrics of one front, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(f"{PREFIX}_requests", "Requests answered, by endpoint and HTTP status.",
                                ["endpoint", "status"], registry=self.registry)
        self.in_flight = Gauge(f"{PREFIX}_requests_in_flight", "Generation requests being answered.",
                               registry=self.registry)
        self.time_to_first_token = Histogram(f"{PREFIX}_time_to_first_token_seconds",
                                             "From a request's arrival to its first generated token.", ["model"],
                                             buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.request_duration = Histogram(f"{PREFIX}_request_duration_seconds",
                                          "From a request's arrival to the end of its answer.", ["endpoint"],
                                          buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.prompt_tokens = Counter(f"{PREFIX}_prompt_tokens", "Prompt tokens of answered requests.", ["model"],
                                     registry=self.registry)
        self.completion_tokens = Counter(f"{PREFIX}_completion_tokens", "Tokens generated.", ["model"],
                                         registry=self.registry)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
