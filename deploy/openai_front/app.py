"""The FastAPI app: the OpenAI routes, API keys, the error shape and the front's metrics.

Routes: GET /v1/models, GET /v1/models/{model}, POST /v1/completions, POST /v1/chat/completions
(behind the API keys when any are configured), GET /health (200 when Triton answers and a model is
served, else 503) and GET /metrics (Prometheus text), both open. Every error, an unknown path
included, is answered in the OpenAI shape (api_errors.py).

Bodies are read and parsed here, not by FastAPI's validation, so that malformed JSON is a 400 in
the OpenAI shape (not a 422 in FastAPI's), and a body over max_body_bytes is refused before it is
read. A client that goes away while its answer is computed cancels its Triton requests: streamed
answers through EventStream, the others through until_disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import StreamingResponse

from fullchain.deploy.openai_front.api_errors import ApiError, RequestError
from fullchain.deploy.openai_front.api_keys import ApiKeys
from fullchain.deploy.openai_front.api_requests import parse_chat_request, parse_completion_request
from fullchain.deploy.openai_front.api_responses import model_card, model_list
from fullchain.deploy.openai_front.generation import (
    EventSource, RequestRecord, ServedModel, chat, complete, stream_chat, stream_completion,
)
from fullchain.deploy.openai_front.metrics import FrontMetrics

log = logging.getLogger(__name__)

# nginx's code for "the client closed the connection before the answer": counted, never sent
CLIENT_CLOSED = 499


@dataclass
class FrontState:
    """What the routes share: the served models, the keys, the metrics and the limits."""

    served: dict[str, ServedModel]
    keys: ApiKeys
    max_choices: int
    max_body_bytes: int
    triton_live: Callable[[], Awaitable[bool]]
    client: Any = None  # the tritonclient.grpc.aio client, made in the server's event loop
    metrics: FrontMetrics = field(default_factory=FrontMetrics)
    created: int = field(default_factory=lambda: int(time.time()))


class ClientGone(Exception):
    """The HTTP client disconnected before its answer was ready."""


class EventStream(StreamingResponse):
    """Server-sent events that stop, and call `on_close` (which cancels the Triton requests), as
    soon as the client disconnects, even while no event is due; Starlette's own StreamingResponse
    notices a disconnect only at its next write under ASGI 2.4."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], Awaitable[None]]):
        super().__init__(content)
        self.on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            async with anyio.create_task_group() as group:
                async def stream() -> None:
                    with contextlib.suppress(OSError):
                        await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        finally:
            await self.body_iterator.aclose()
            await self.on_close()


async def until_disconnect(request: Request, work: Awaitable[Any]) -> Any:
    """The result of `work`, or ClientGone (and `work` cancelled) when the client disconnects first."""
    task = asyncio.ensure_future(work)

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise ClientGone()
        watcher.cancel()
    return task.result()


async def read_json(request: Request, limit: int) -> Any:
    """The parsed JSON body; 413 beyond `limit` bytes, 400 when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(f"the request body has {declared} bytes; this server takes at most {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(f"the request body is over {limit} bytes, the most this server takes", 413)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise RequestError("We could not parse the JSON body of your request: it must be a JSON object "
                           "(see https://platform.openai.com/docs/api-reference)", code="invalid_json") from None


def _error_response(error: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def create_app(state: FrontState, lifespan: Any = None) -> FastAPI:
    """The app over `state` (the CLI builds the state in `lifespan`; tests may pass one built)."""
    app = FastAPI(title="fullchain OpenAI-compatible front", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.front = state

    def front() -> FrontState:
        return app.state.front

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else None
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return _error_response(ApiError(message, exc.status_code, code=code))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return _error_response(ApiError(f"internal error: {type(exc).__name__}", 500))

    def authorize(request: Request) -> None:
        if not front().keys.allows(request.headers.get("authorization")):
            raise ApiError("Incorrect or missing API key: send `Authorization: Bearer YOUR_KEY`", 401,
                           code="invalid_api_key")

    def served_model(name: str) -> ServedModel:
        served = front().served.get(name)
        if served is None:
            raise ApiError(f"The model `{name}` does not exist (served: {', '.join(sorted(front().served))})", 404,
                           param="model", code="model_not_found")
        return served

    @app.get("/health")
    async def health() -> JSONResponse:
        ok = bool(front().served) and await front().triton_live()
        return JSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(front().metrics.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        authorize(request)
        return JSONResponse(model_list(sorted(front().served), front().created))

    @app.get("/v1/models/{model}")
    async def model(model: str, request: Request) -> JSONResponse:
        authorize(request)
        return JSONResponse(model_card(served_model(model).name, front().created))

    async def answer(request: Request, endpoint: str, parse: Callable, run: Callable, stream: Callable) -> Response:
        state = front()
        record = RequestRecord()
        status = 200
        streaming = False
        model_name = ""
        state.metrics.in_flight.inc()
        try:
            authorize(request)
            parsed = parse(await read_json(request, state.max_body_bytes), state.max_choices)
            served = served_model(parsed.model)
            model_name = served.name
            if parsed.stream:
                source = await until_disconnect(request, stream(served, parsed, record))
                streaming = True
                return _event_stream(source, state, endpoint, served.name, record)
            return JSONResponse(await until_disconnect(request, run(served, parsed, record)))
        except ApiError as e:
            status = e.status
            return _error_response(e)
        except ClientGone:
            status = CLIENT_CLOSED
            return Response(status_code=CLIENT_CLOSED)
        finally:
            if not streaming:
                _observe(state, endpoint, status, model_name, record)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await answer(request, "completions", parse_completion_request, complete, stream_completion)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await answer(request, "chat/completions", parse_chat_request, chat, stream_chat)

    return app


def _observe(state: FrontState, endpoint: str, status: int, model: str, record: RequestRecord) -> None:
    metrics = state.metrics
    metrics.in_flight.dec()
    metrics.requests.labels(endpoint=endpoint, status=str(status)).inc()
    metrics.request_duration.labels(endpoint=endpoint).observe(time.perf_counter() - record.started)
    if record.first_token is not None:
        metrics.time_to_first_token.labels(model=model).observe(record.first_token - record.started)
    if record.usage is not None:
        metrics.prompt_tokens.labels(model=model).inc(record.usage["prompt_tokens"])
        metrics.completion_tokens.labels(model=model).inc(record.usage["completion_tokens"])


def _event_stream(source: EventSource, state: FrontState, endpoint: str, model: str,
                  record: RequestRecord) -> EventStream:
    """The response of a started stream, observed once when it ends (499 when the client left)."""
    outcome = {"status": CLIENT_CLOSED, "observed": False}

    async def events() -> AsyncIterator[str]:
        async for event in source.events:
            yield event
        outcome["status"] = 200

    async def close() -> None:
        await source.close()
        if not outcome["observed"]:
            outcome["observed"] = True
            _observe(state, endpoint, outcome["status"], model, record)

    return EventStream(events(), close)
