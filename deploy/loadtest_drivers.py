"""One load-test client per worker thread: sends a prompt, returns when the first token and the last
response arrived and how many tokens came.

- `TritonDriver`: `<name>_llm` (streamed over gRPC, prompt as token ids when it has them),
  `<name>_generate_stream` (streamed) or `<name>_generate` (one response, so the first token
  arrives with the last one).
- `OpenAIDriver`: an OpenAI-compatible server's `/v1/completions` with `stream: true` through the
  `openai` client; the token count is the usage the server reports (`stream_options.include_usage`),
  else one token per streamed chunk.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

from fullchain.deploy.client import ClientError, GenerationClient
from fullchain.deploy.config import LoadtestConfig
from fullchain.deploy.loadtest_prompts import Prompt


# what the load test reads of <name>_llm's responses: the text and scores would only cost time
LLM_TIMING_OUTPUTS = ("token_ids", "finish_reason", "prompt_tokens", "completion_tokens")


@dataclass(frozen=True)
class RequestTiming:
    """One answered request: seconds to the first token and to the last response, tokens out and in
    (None where the server does not say)."""

    ttft_s: float
    latency_s: float
    output_tokens: int
    input_tokens: int | None


def triton_endpoint(cfg: LoadtestConfig, llm_ready: bool = True) -> str:
    """The Triton model kind the load test drives, unless chosen: llm over grpc when it is ready,
    else generate."""
    if cfg.endpoint != "auto":
        return cfg.endpoint
    return "llm" if cfg.protocol == "grpc" and llm_ready else "generate"


class TritonDriver:
    """Requests to a published model on a Triton server, each asking for one of `lengths` new tokens."""

    def __init__(self, cfg: LoadtestConfig, lengths: Sequence[int]):
        # one sampling config per distinct length, checked once here rather than per request
        self.sampling = {n: dataclasses.replace(cfg, max_tokens=n) for n in set(lengths)}
        self.endpoint = triton_endpoint(cfg)
        self.client = GenerationClient(cfg)

    def close(self) -> None:
        """Close the connection."""
        self.client.close()

    def send(self, prompt: Prompt, max_tokens: int) -> RequestTiming:
        """One request of at most `max_tokens` (one of the driver's lengths) new tokens; ClientError
        when it fails."""
        sampling = self.sampling[max_tokens]
        start = time.perf_counter()
        if self.endpoint == "generate":
            done = self.client.generate(prompt.text, sampling)
            return RequestTiming(done.latency_s, done.latency_s, len(done.token_ids), None)
        if self.endpoint == "stream":
            first, count = None, 0
            for piece in self.client.stream(prompt.text, sampling):
                if piece.token_ids and first is None:
                    first = time.perf_counter() - start
                count += len(piece.token_ids)
            latency = time.perf_counter() - start
            return RequestTiming(latency if first is None else first, latency, count, None)
        first, last = None, None
        for piece in self.client.stream_llm(prompt.ids if prompt.ids is not None else prompt.text, sampling,
                                            outputs=LLM_TIMING_OUTPUTS):
            if piece.token_ids and first is None:
                first = piece.at_s
            last = piece
        latency = time.perf_counter() - start
        return RequestTiming(latency if first is None else first, latency, last.completion_tokens, last.prompt_tokens)


def read_api_key(cfg: LoadtestConfig) -> str | None:
    """The API key of an OpenAI-compatible server: --api-key-file's contents, else $OPENAI_API_KEY."""
    if cfg.api_key_file:
        try:
            with open(cfg.api_key_file, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as e:
            raise ClientError(f"cannot read the API key file {cfg.api_key_file}: {e.strerror}") from None
    return os.environ.get("OPENAI_API_KEY")


class OpenAIDriver:
    """Streamed completions from an OpenAI-compatible server (`--url http://host:port/v1`)."""

    def __init__(self, cfg: LoadtestConfig, model: str, api_key: str | None):
        from openai import OpenAI

        self.cfg = cfg
        self.model = model
        # no retries: a refused request is an error of this level, not a second request
        self.client = OpenAI(base_url=openai_base_url(cfg), api_key=api_key or "none", timeout=cfg.timeout_s,
                             max_retries=0)

    def close(self) -> None:
        """Close the connection."""
        self.client.close()

    def send(self, prompt: Prompt, max_tokens: int) -> RequestTiming:
        """One streamed completion of at most `max_tokens` tokens; ClientError when it fails."""
        import openai

        extra: dict[str, Any] = {"top_k": self.cfg.top_k} if self.cfg.top_k else {}
        optional = {k: v for k, v in (("seed", self.cfg.seed), ("stop", self.cfg.stop or None)) if v is not None}
        start = time.perf_counter()
        first, chunks, usage = None, 0, None
        try:
            stream = self.client.completions.create(
                model=self.model, prompt=prompt.text, max_tokens=max_tokens,
                temperature=self.cfg.temperature, top_p=self.cfg.top_p, stream=True,
                stream_options={"include_usage": True}, extra_body=extra or None, **optional)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].text:
                    chunks += 1
                    if first is None:
                        first = time.perf_counter() - start
                if chunk.usage is not None:
                    usage = chunk.usage
        except openai.APIError as e:
            raise ClientError(f"{openai_base_url(self.cfg)}: {type(e).__name__}: {e}") from None
        latency = time.perf_counter() - start
        tokens = usage.completion_tokens if usage is not None else chunks
        return RequestTiming(latency if first is None else first, latency, tokens,
                             usage.prompt_tokens if usage is not None else None)


def openai_base_url(cfg: LoadtestConfig) -> str:
    """The OpenAI API's base URL: --url as given (http://host:port/v1; http:// when no scheme is given)."""
    if not cfg.url:
        raise ClientError("--protocol openai needs --url http://HOST:PORT/v1 (fullchain serve --openai-port PORT)")
    return cfg.url if "://" in cfg.url else f"http://{cfg.url}"


def openai_model(cfg: LoadtestConfig, api_key: str | None) -> str:
    """The model to ask for: --model, else the server's only model (GET /v1/models)."""
    if cfg.model:
        return cfg.model
    import openai
    from openai import OpenAI

    with OpenAI(base_url=openai_base_url(cfg), api_key=api_key or "none", timeout=cfg.timeout_s,
                max_retries=0) as client:
        try:
            models = [m.id for m in client.models.list()]
        except openai.APIError as e:
            raise ClientError(f"{openai_base_url(cfg)}/models: {type(e).__name__}: {e}") from None
    if len(models) != 1:
        raise ClientError(f"pass --model: {openai_base_url(cfg)} serves {len(models)} models "
                          f"({', '.join(models) or 'none'})")
    return models[0]
