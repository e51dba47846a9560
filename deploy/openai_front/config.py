"""The front's one typed config: `python -m fullchain.deploy.openai_front` takes every field as a flag
(`fullchain serve --openai-port` fills it from its own config)."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.deploy.config import GRPC_PORT, OPENAI_PORT, PUBLISHED_NAME_MAX, check_model_name
from fullchain.pipelines.config import option

# the most choices one request may ask for (n, or prompts x n): each is a request in Triton
MAX_CHOICES_LIMIT = 128


@dataclass
class OpenAIFrontConfig:
    """The OpenAI-compatible HTTP front of a Triton server."""

    triton_url: str = option(f"127.0.0.1:{GRPC_PORT}", "Triton's gRPC endpoint host:port.")
    repository: str = option("", "The model repository Triton serves (local folder or fsspec URL): the "
                                 "tokenizer and chat template are read from it.")
    model: str = option("", "Published name to serve; default: every one with <name>_llm or "
                            "<name>_generate_stream ready in Triton.")
    address: str = option("127.0.0.1", "Address to bind (0.0.0.0: all interfaces).")
    port: int = option(OPENAI_PORT, "HTTP port.")
    api_key_file: str = option("", "File of accepted API keys, one per line (mode 0600); "
                                   "$FULLCHAIN_OPENAI_API_KEYS adds more. No keys: every request is let in.")
    request_timeout_s: float = option(600.0, "A request Triton has not finished after this long is cancelled "
                                             "and answered 504.")
    max_choices: int = option(16, "Most choices per request (prompts x n); each is one Triton request.")
    max_body_bytes: int = option(8 * 1024 * 1024, "Longest request body; longer ones get 413 before they are read.")
    ready_timeout_s: float = option(60.0, "How long to wait at start for Triton and a served model.")
    triton_pid: int = option(0, "Exit when the process with this id (the tritonserver `fullchain serve` "
                                "started) is gone (0: do not watch).")
    access_log: bool = option(True, "Log one line per request (method, path, status; never headers).")

    def __post_init__(self) -> None:
        if self.model:
            check_model_name(self.model, PUBLISHED_NAME_MAX)
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be within 1..65535, got {self.port}")
        if not 1 <= self.max_choices <= MAX_CHOICES_LIMIT:
            raise ValueError(f"max_choices must be within 1..{MAX_CHOICES_LIMIT}, got {self.max_choices}")
        for name in ("request_timeout_s", "ready_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        if self.triton_pid < 0:
            raise ValueError(f"triton_pid must be >= 0, got {self.triton_pid}")
