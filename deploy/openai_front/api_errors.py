"""The OpenAI error shape, `{"error": {"message", "type", "param", "code"}}`, with its HTTP status,
and how an error of Triton's becomes one.

| status | type | when |
|---|---|---|
| 400 | invalid_request_error | a bad field, malformed JSON, a prompt the model refuses |
| 401 | invalid_request_error (code invalid_api_key) | no or a wrong `Authorization: Bearer` key |
| 404 | invalid_request_error (code model_not_found) | a model this front does not serve; an unknown path |
| 413 | invalid_request_error | a body over the front's max_body_bytes |
| 503 | server_error (code queue_full) | Triton's or the model's queue is full, or a request waited past its queue timeout |
| 503 | server_error (code backend_unavailable) | Triton cannot be reached |
| 504 | server_error (code timeout) | Triton did not finish within the front's request timeout |
| 500 | server_error | anything else (a failed decoding step) |
"""

from __future__ import annotations

from typing import Any, Iterable


class ApiError(Exception):
    """An error answered in the OpenAI shape: message, HTTP status, offending field, code, type."""

    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None,
                 error_type: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code
        self.error_type = error_type or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}


class RequestError(ApiError):
    """A request the API refuses (400 unless said otherwise), naming the field in `param`."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400):
        super().__init__(message, status, param, code)


# Triton's own messages for a request its queue policy refused (a full queue, a queue timeout) and the
# continuous-batching model's (docs/SERVING.md)
_OVERLOAD_MARKERS = ("exceeds maximum queue size", "queue full", "request timeout expired")


def triton_error(message: str, fields: Iterable[str]) -> ApiError:
    """The API error for an error response of a generation model. Decoupled responses carry a message
    but no status code, so the message says which it is: the models start a bad field's message with
    the field name (`max_tokens: must be within ...`), Triton's queue policy says 'Exceeds maximum
    queue size' or 'Request timeout expired', the continuous-batching model 'queue full: ...'."""
    lowered = message.lower()
    if any(marker in lowered for marker in _OVERLOAD_MARKERS):
        return ApiError(f"the server is at capacity, retry later ({message})", 503, code="queue_full")
    field = message.split(":", 1)[0].strip()
    if ":" in message and field in set(fields):
        return RequestError(message, param=_api_field(field))
    return ApiError(f"generation failed: {message}", 500)


def _api_field(triton_field: str) -> str:
    # the models name their inputs; tell the client the request field it sent
    return {"text": "prompt", "prompt_ids": "prompt"}.get(triton_field, triton_field)
