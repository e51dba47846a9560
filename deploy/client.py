"""Generation requests to a served `<name>_generate` model over Triton's HTTP or gRPC protocol, and
streams from `<name>_llm` (continuous batching) over gRPC.

The request carries the text and the sampling parameters as the generation model's inputs
(deploy.triton_config.GENERATE_INPUTS). Sampling without a seed gets a random one here: the
generation model refuses unseeded sampling while its response cache is on, because the cache
would replay one sample for every identical request.
"""

from __future__ import annotations

import queue
import random
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from fullchain.deploy.config import GRPC_PORT, HTTP_PORT, ClientConfig, SamplingConfig
from fullchain.deploy.triton_config import (
    GENERATE_OUTPUTS, LLM_OUTPUTS, generate_model_name, llm_model_name, stream_model_name)

GENERATE_SUFFIX = "_generate"
LLM_SUFFIX = "_llm"


class ClientError(RuntimeError):
    """A request that failed or timed out; the message is one line naming the model."""


@dataclass(frozen=True)
class Completion:
    """One answered request: the text, its token ids, why it ended and how long it took."""

    text: str
    token_ids: list[int]
    finish_reason: str
    latency_s: float


def server_url(cfg: ClientConfig) -> str:
    """host:port of the server, defaulting to the local server's port for the protocol."""
    if cfg.url:
        return cfg.url.removeprefix("http://").removeprefix("grpc://")
    return f"localhost:{HTTP_PORT if cfg.protocol == 'http' else GRPC_PORT}"


def request_inputs(module: Any, prompt: str, sampling: SamplingConfig, seed: int | None) -> list[Any]:
    """The generation model's input tensors, built with tritonclient.http or tritonclient.grpc."""
    def tensor(name: str, value: np.ndarray, datatype: str) -> Any:
        t = module.InferInput(name, list(value.shape), datatype)
        t.set_data_from_numpy(value)
        return t

    inputs = [tensor("text", np.array([[prompt.encode("utf-8")]], dtype=np.object_), "BYTES"),
              tensor("max_tokens", np.array([[sampling.max_tokens]], dtype=np.int64), "INT64"),
              tensor("temperature", np.array([[sampling.temperature]], dtype=np.float32), "FP32"),
              tensor("top_k", np.array([[sampling.top_k]], dtype=np.int64), "INT64"),
              tensor("top_p", np.array([[sampling.top_p]], dtype=np.float32), "FP32")]
    if seed is not None:
        inputs.append(tensor("seed", np.array([[seed]], dtype=np.int64), "INT64"))
    if sampling.stop:
        inputs.append(tensor("stop", np.array([[s.encode("utf-8") for s in sampling.stop]], dtype=np.object_),
                             "BYTES"))
    return inputs


@dataclass(frozen=True)
class StreamPiece:
    """One response of `<name>_llm`: the new text and tokens, their scores when asked for, and on the
    last one the finish reason and usage; `at_s` is when it arrived, in seconds since the request was sent."""

    text: str
    token_ids: list[int]
    token_logprobs: list[float]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    at_s: float
    prompt_token_ids: list[int]
    prompt_logprobs: list[float]
    prompt_top_token_ids: list[int]


def llm_inputs(module: Any, prompt: str | Sequence[int], sampling: SamplingConfig, seed: int | None,
               logprobs: bool = False, echo: bool = False) -> list[Any]:
    """The input tensors of `<name>_llm` (a text prompt, or token ids), built with tritonclient.grpc."""
    inputs = request_inputs(module, prompt if isinstance(prompt, str) else "", sampling, seed)
    if not isinstance(prompt, str):
        ids = module.InferInput("prompt_ids", [1, len(prompt)], "INT64")
        ids.set_data_from_numpy(np.array([list(prompt)], dtype=np.int64))
        inputs[0] = ids
    for name, value in (("logprobs", logprobs), ("echo", echo)):
        if value:
            flag = module.InferInput(name, [1, 1], "BOOL")
            flag.set_data_from_numpy(np.array([[True]]))
            inputs.append(flag)
    return inputs


def request_seed(sampling: SamplingConfig) -> int | None:
    """The seed to send: the configured one; a random one for unseeded sampling; none for greedy
    (so identical greedy requests share one response-cache entry)."""
    if sampling.seed is not None:
        return sampling.seed
    return random.randrange(2**31) if sampling.temperature > 0 else None


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


class GenerationClient:
    """A connection to one Triton server; `generate` and `stream` talk to a published model's
    generation models."""

    def __init__(self, cfg: ClientConfig):
        self.cfg = cfg
        self.url = server_url(cfg)
        if cfg.protocol == "http":
            self.module: Any = httpclient
            self.client: Any = httpclient.InferenceServerClient(
                self.url, connection_timeout=cfg.timeout_s, network_timeout=cfg.timeout_s)
        else:
            self.module = grpcclient
            self.client = grpcclient.InferenceServerClient(self.url)
        self._model = cfg.model

    def close(self) -> None:
        """Close the connection."""
        self.client.close()

    def __enter__(self) -> "GenerationClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InferenceServerException as e:
            status = f" ({e.status()})" if e.status() else ""
            raise ClientError(f"{what}{status}: {e.message()}") from None
        except (ConnectionError, OSError) as e:
            raise ClientError(f"{what}: cannot reach {self.cfg.protocol}://{self.url}: {e}") from None

    def model(self) -> str:
        """The published model name: the configured one, or the only one with a ready `<name>_generate`
        or `<name>_llm`."""
        if self._model:
            return self._model
        # the statistics list the ready models; the repository index would need the admin key
        stats = self._call(f"model statistics of {self.url}", self.client.get_inference_statistics)
        if self.cfg.protocol == "grpc":
            loaded = [m.name for m in stats.model_stats]
        else:
            loaded = [m["name"] for m in stats["model_stats"]]
        names = sorted({m[: -len(suffix)] for m in loaded for suffix in (GENERATE_SUFFIX, LLM_SUFFIX)
                        if m.endswith(suffix)})
        if len(names) != 1:
            found = ", ".join(names) or "none"
            raise ClientError(f"pass --model: {self.url} has {len(names)} ready generation models ({found})")
        self._model = names[0]
        return self._model

    def is_ready(self, model: str) -> bool:
        """True when the server has `model` loaded and ready."""
        return bool(self._call(f"readiness of {model}", self.client.is_model_ready, model))

    def parameter(self, model: str, key: str) -> str | None:
        """The value of parameter `key` in `model`'s Triton config; None when the config has none."""
        config = self._call(f"config of {model}", self.client.get_model_config, model)
        if self.cfg.protocol == "grpc":
            params = config.config.parameters
            return params[key].string_value if key in params else None
        return config.get("parameters", {}).get(key, {}).get("string_value")

    def generate(self, prompt: str, sampling: SamplingConfig) -> Completion:
        """One request to `<name>_generate`; the whole text in one response."""
        model = generate_model_name(self.model())
        inputs = request_inputs(self.module, prompt, sampling, request_seed(sampling))
        outputs = [self.module.InferRequestedOutput(name) for name in GENERATE_OUTPUTS]
        kwargs = {"client_timeout": self.cfg.timeout_s} if self.cfg.protocol == "grpc" else {}
        start = time.perf_counter()
        result = self._call(model, self.client.infer, model, inputs, outputs=outputs, **kwargs)
        latency = time.perf_counter() - start
        return Completion(text=_text(result.as_numpy("text_output").reshape(-1)[0]),
                          token_ids=[int(t) for t in result.as_numpy("token_ids").reshape(-1)],
                          finish_reason=_text(result.as_numpy("finish_reason").reshape(-1)[0]), latency_s=latency)

    def stream(self, prompt: str, sampling: SamplingConfig) -> Iterator[Completion]:
        """Pieces of text from `<name>_generate_stream` as they are generated (gRPC only); the last
        one has a finish reason. Closing the iterator early cancels the request."""
        if self.cfg.protocol != "grpc":
            raise ClientError("streaming needs --protocol grpc (Triton streams decoupled models over gRPC)")
        model = stream_model_name(self.model())
        responses: queue.Queue = queue.Queue()
        self._call(model, self.client.start_stream, callback=lambda result, error: responses.put((result, error)),
                   stream_timeout=self.cfg.timeout_s)
        finished = False
        try:
            inputs = request_inputs(self.module, prompt, sampling, request_seed(sampling))
            start = time.perf_counter()
            self._call(model, self.client.async_stream_infer, model, inputs,
                       outputs=[self.module.InferRequestedOutput(name) for name in GENERATE_OUTPUTS])
            while True:
                try:
                    result, error = responses.get(timeout=self.cfg.timeout_s)
                except queue.Empty:
                    raise ClientError(f"{model}: no response within {self.cfg.timeout_s:g} s") from None
                if error is not None:
                    finished = True
                    raise ClientError(f"{model}: {error.message()}")
                piece = Completion(text=_text(result.as_numpy("text_output").reshape(-1)[0]),
                                   token_ids=[int(t) for t in result.as_numpy("token_ids").reshape(-1)],
                                   finish_reason=_text(result.as_numpy("finish_reason").reshape(-1)[0]),
                                   latency_s=time.perf_counter() - start)
                finished = bool(piece.finish_reason)
                yield piece
                if finished:
                    return
        finally:
            # a request left unfinished (the caller stopped reading) is cancelled in the server; a
            # finished one is not (Triton 2.51 leaks a stream cancelled after its last response)
            self.client.stop_stream(cancel_requests=not finished)

    def stream_llm(self, prompt: str | Sequence[int], sampling: SamplingConfig, logprobs: bool = False,
                   echo: bool = False, outputs: Sequence[str] = tuple(LLM_OUTPUTS)) -> Iterator[StreamPiece]:
        """The responses of `<name>_llm` as they arrive (gRPC only), one per new token; the last one
        has a finish reason. Closing the iterator early cancels the request (its slot is freed).
        `outputs` names the outputs to ask for (fewer cost the server and this client less); the
        others read as empty."""
        if self.cfg.protocol != "grpc":
            raise ClientError("streaming needs --protocol grpc (Triton streams decoupled models over gRPC)")
        model = llm_model_name(self.model())
        responses: queue.Queue = queue.Queue()
        self._call(model, self.client.start_stream, callback=lambda result, error: responses.put((result, error)),
                   stream_timeout=self.cfg.timeout_s)
        finished = False
        try:
            inputs = llm_inputs(self.module, prompt, sampling, request_seed(sampling), logprobs, echo)
            start = time.perf_counter()
            self._call(model, self.client.async_stream_infer, model, inputs,
                       outputs=[self.module.InferRequestedOutput(name) for name in outputs])
            while not finished:
                try:
                    result, error = responses.get(timeout=self.cfg.timeout_s)
                except queue.Empty:
                    raise ClientError(f"{model}: no response within {self.cfg.timeout_s:g} s") from None
                if error is not None:
                    finished = True
                    status = f" ({error.status()})" if error.status() else ""
                    raise ClientError(f"{model}{status}: {error.message()}")
                piece = _stream_piece(result, time.perf_counter() - start)
                finished = bool(piece.finish_reason)
                yield piece
        finally:
            # a request left unfinished (the caller stopped reading) is cancelled in the server
            self.client.stop_stream(cancel_requests=not finished)


def _stream_piece(result: Any, at_s: float) -> StreamPiece:
    def values(name: str) -> list:
        array = result.as_numpy(name)
        return [] if array is None else array.reshape(-1).tolist()

    def first(name: str, default: Any) -> Any:
        found = values(name)
        return found[0] if found else default

    return StreamPiece(text=_text(first("text_output", b"")), token_ids=[int(t) for t in values("token_ids")],
                       token_logprobs=values("token_logprobs"), finish_reason=_text(first("finish_reason", b"")),
                       prompt_tokens=int(first("prompt_tokens", 0)),
                       completion_tokens=int(first("completion_tokens", 0)),
                       at_s=at_s, prompt_token_ids=[int(t) for t in values("prompt_token_ids")],
                       prompt_logprobs=values("prompt_logprobs"),
                       prompt_top_token_ids=[int(t) for t in values("prompt_top_token_ids")])
