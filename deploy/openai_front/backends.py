"""The Triton models the front forwards to, behind one small interface: a GenerationRequest in, the
model's responses out as Pieces, over one gRPC bidirectional stream per request
(tritonclient.grpc.aio). Closing the iterator early (the HTTP client went away) cancels the gRPC
call, which Triton passes to the model as a cancelled request; a stream whose last response has
arrived is read to its end instead (see `_read_to_the_end`).

- LlmBackend: `<name>_llm`, the continuous-batching model: text or token-id prompts, per-token
  log-probabilities, echo of the prompt with its log-probabilities, usage counts.
- GenerateStreamBackend: `<name>_generate_stream`, the decoupled generation model: text prompts,
  text and token ids, no log-probabilities. Used when a repository has no `<name>_llm`.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, AsyncIterator

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcaio

from fullchain.deploy.openai_front.api_errors import ApiError, triton_error
from fullchain.deploy.openai_front.api_requests import Sampling
from fullchain.deploy.triton_config import (
    GENERATE_INPUTS, GENERATE_OUTPUTS, LLM_INPUTS, LLM_OUTPUTS, llm_model_name, stream_model_name,
)

# how long a stream whose last response has arrived may take to end before it is cancelled
STREAM_END_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt to continue once (an OpenAI choice)."""

    prompt: str | tuple[int, ...]
    sampling: Sampling
    logprobs: bool = False
    echo: bool = False


@dataclass
class Piece:
    """One response of the model: the new text and tokens; the last one has a finish reason.

    Log-probabilities are those of the model (log-softmax before sampling); `top_*` hold the most
    likely token at each position. The prompt_* fields are set on the first piece of an echo request
    (the prompt's first token has no log-probability: None). The usage counts are set on the last
    piece by backends whose model reports them."""

    text: str
    token_ids: list[int]
    finish_reason: str = ""
    token_logprobs: list[float] | None = None
    top_token_ids: list[int] | None = None
    top_logprobs: list[float] | None = None
    prompt_token_ids: list[int] | None = None
    prompt_logprobs: list[float | None] | None = None
    prompt_top_token_ids: list[int | None] | None = None
    prompt_top_logprobs: list[float | None] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def _tensor(name: str, value: np.ndarray, datatype: str) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(value.shape), datatype)
    tensor.set_data_from_numpy(value)
    return tensor


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _sampling_inputs(sampling: Sampling, max_tokens: int | None) -> list[grpcclient.InferInput]:
    inputs = [_tensor("temperature", np.array([[sampling.temperature]], dtype=np.float32), "FP32"),
              _tensor("top_k", np.array([[sampling.top_k]], dtype=np.int64), "INT64"),
              _tensor("top_p", np.array([[sampling.top_p]], dtype=np.float32), "FP32")]
    if max_tokens is not None:
        inputs.append(_tensor("max_tokens", np.array([[max_tokens]], dtype=np.int64), "INT64"))
    if sampling.seed is not None:
        inputs.append(_tensor("seed", np.array([[sampling.seed]], dtype=np.int64), "INT64"))
    if sampling.stop:
        inputs.append(_tensor("stop", np.array([[s.encode("utf-8") for s in sampling.stop]], dtype=np.object_),
                              "BYTES"))
    return inputs


class TritonBackend:
    """A decoupled generation model of one Triton server; subclasses say how a request becomes its
    inputs and a response a Piece."""

    scores_tokens = False  # gives log-probabilities and echoes prompts
    takes_token_ids = False  # accepts prompts as token ids
    fields: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def __init__(self, client: grpcaio.InferenceServerClient, model: str, timeout_s: float):
        self.client = client
        self.model = model
        self.timeout_s = timeout_s

    def inputs(self, request: GenerationRequest) -> list[grpcclient.InferInput]:
        raise NotImplementedError

    def piece(self, result: Any) -> Piece:
        raise NotImplementedError

    def requested_outputs(self, request: GenerationRequest) -> tuple[str, ...]:
        """The outputs to ask Triton for (fewer tensors per token to send and parse)."""
        return self.outputs

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Piece]:
        """The model's responses to `request`, ending with the one that has a finish reason; ApiError
        for an error response, a full queue, a timeout or an unreachable server."""
        inputs = self.inputs(request)
        outputs = [grpcclient.InferRequestedOutput(name) for name in self.requested_outputs(request)]

        async def one_request():
            yield {"model_name": self.model, "inputs": inputs, "outputs": outputs}

        responses = self.client.stream_infer(one_request(), stream_timeout=self.timeout_s)
        finished = False  # the model's last response (an error or a finish reason) has arrived
        try:
            async for result, error in responses:
                if error is not None:
                    finished = True
                    raise triton_error(error.message(), self.fields)
                piece = self.piece(result)
                finished = bool(piece.finish_reason)
                yield piece
                if finished:
                    return
            raise ApiError(f"{self.model} ended the stream without a final response", 500)
        except grpc.aio.AioRpcError as e:
            raise _rpc_error(e, self.model, self.timeout_s) from None
        finally:
            if finished:
                await _read_to_the_end(responses)
            else:
                # a client that left or an exception here: free the request's slot in Triton
                responses.cancel()


async def _read_to_the_end(responses: Any) -> None:
    """Wait for the server to end a stream whose last response has arrived, instead of cancelling it:
    Triton 2.51's gRPC frontend leaks a stream cancelled between its last response and its end (the
    state waits for a response callback that already ran, and holds the model, so tritonserver's stop
    runs into its exit timeout; fixed upstream by triton-inference-server/server#8078)."""
    try:
        async with asyncio.timeout(STREAM_END_TIMEOUT_S):
            async for _ in responses:
                pass
    except (TimeoutError, grpc.aio.AioRpcError):
        responses.cancel()


def _rpc_error(error: grpc.aio.AioRpcError, model: str, timeout_s: float) -> ApiError:
    if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ApiError(f"{model} did not finish within {timeout_s:g} s", 504, code="timeout")
    if error.code() == grpc.StatusCode.UNAVAILABLE:
        return ApiError(f"Triton is not reachable ({error.details()})", 503, code="backend_unavailable")
    return ApiError(f"{model}: {error.code().name}: {error.details()}", 500)


class GenerateStreamBackend(TritonBackend):
    """`<name>_generate_stream`: text prompts, text and token ids out."""

    fields = tuple(GENERATE_INPUTS)
    outputs = tuple(GENERATE_OUTPUTS)

    def __init__(self, client: grpcaio.InferenceServerClient, name: str, timeout_s: float):
        super().__init__(client, stream_model_name(name), timeout_s)

    def inputs(self, request: GenerationRequest) -> list[grpcclient.InferInput]:
        if not isinstance(request.prompt, str):
            raise ApiError("prompts as token ids need the continuous-batching model <name>_llm, which this "
                           "repository does not serve", 400, param="prompt", code="unsupported_parameter")
        if request.logprobs or request.echo:
            raise ApiError(f"logprobs and echo need the continuous-batching model <name>_llm; {self.model} "
                           "gives no log-probabilities", 400, param="logprobs" if request.logprobs else "echo",
                           code="unsupported_parameter")
        text = _tensor("text", np.array([[request.prompt.encode("utf-8")]], dtype=np.object_), "BYTES")
        return [text, *_sampling_inputs(request.sampling, request.sampling.max_tokens)]

    def piece(self, result: Any) -> Piece:
        return Piece(text=_text(result.as_numpy("text_output").reshape(-1)[0]),
                     token_ids=[int(t) for t in result.as_numpy("token_ids").reshape(-1)],
                     finish_reason=_text(result.as_numpy("finish_reason").reshape(-1)[0]))


def _floats(values: np.ndarray) -> list[float | None]:
    # the model marks "no value" (the prompt's first token) with NaN
    return [None if math.isnan(v) else float(v) for v in values.reshape(-1).tolist()]


class LlmBackend(TritonBackend):
    """`<name>_llm`: text or token-id prompts, log-probabilities, echo and usage counts."""

    scores_tokens = True
    takes_token_ids = True
    fields = tuple(LLM_INPUTS)
    outputs = tuple(LLM_OUTPUTS)

    def __init__(self, client: grpcaio.InferenceServerClient, name: str, timeout_s: float):
        super().__init__(client, llm_model_name(name), timeout_s)

    def inputs(self, request: GenerationRequest) -> list[grpcclient.InferInput]:
        if isinstance(request.prompt, str):
            prompt = _tensor("text", np.array([[request.prompt.encode("utf-8")]], dtype=np.object_), "BYTES")
        else:
            prompt = _tensor("prompt_ids", np.array([request.prompt], dtype=np.int64), "INT64")
        flags = [_tensor(name, np.array([[value]], dtype=np.bool_), "BOOL")
                 for name, value in (("logprobs", request.logprobs), ("echo", request.echo)) if value]
        return [prompt, *_sampling_inputs(request.sampling, request.sampling.max_tokens), *flags]

    def requested_outputs(self, request: GenerationRequest) -> tuple[str, ...]:
        names = ["text_output", "token_ids", "finish_reason", "prompt_tokens", "completion_tokens"]
        if request.logprobs:
            names += ["token_logprobs", "top_token_ids", "top_logprobs"]
        if request.echo:
            names += ["prompt_token_ids", "prompt_logprobs", "prompt_top_token_ids", "prompt_top_logprobs"]
        return tuple(names)

    def piece(self, result: Any) -> Piece:
        def ints(name: str) -> list[int]:
            return [int(t) for t in result.as_numpy(name).reshape(-1)]

        def present(name: str) -> bool:
            values = result.as_numpy(name)  # None when the output was not requested
            return values is not None and values.size > 0

        piece = Piece(text=_text(result.as_numpy("text_output").reshape(-1)[0]), token_ids=ints("token_ids"),
                      finish_reason=_text(result.as_numpy("finish_reason").reshape(-1)[0]))
        if present("token_logprobs"):
            piece.token_logprobs = _floats(result.as_numpy("token_logprobs"))
            piece.top_token_ids = ints("top_token_ids")
            piece.top_logprobs = _floats(result.as_numpy("top_logprobs"))
        if present("prompt_token_ids"):
            piece.prompt_token_ids = ints("prompt_token_ids")
            piece.prompt_logprobs = _floats(result.as_numpy("prompt_logprobs"))
            piece.prompt_top_token_ids = [None if t < 0 else t for t in ints("prompt_top_token_ids")]
            piece.prompt_top_logprobs = _floats(result.as_numpy("prompt_top_logprobs"))
        if piece.finish_reason:
            piece.prompt_tokens = int(result.as_numpy("prompt_tokens").reshape(-1)[0])
            piece.completion_tokens = int(result.as_numpy("completion_tokens").reshape(-1)[0])
        return piece
