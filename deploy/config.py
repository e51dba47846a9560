"""Typed configs of the serving commands: one dataclass tree per command (publish, serve, generate,
loadtest), loaded with `pipelines.config.load_config`; every field is also a CLI flag.

The server ports are defined here once; the server, the client, the Kubernetes manifests' test
and the docs take them from these defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from fullchain.pipelines.config import option

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002
# the OpenAI-compatible front (deploy/openai_front), when `fullchain serve --openai-port` starts it
OPENAI_PORT = 9000

INSTANCE_KINDS = ("cpu", "gpu")
ONNX_RUNNERS = ("auto", "bls", "onnxruntime")
PROTOCOLS = ("http", "grpc")
# the load test also drives an OpenAI-compatible endpoint (fullchain serve --openai-port, vLLM, ...)
LOADTEST_PROTOCOLS = (*PROTOCOLS, "openai")
# what the load test drives on a Triton server: <name>_llm (streamed), <name>_generate, <name>_generate_stream
LOADTEST_ENDPOINTS = ("auto", "llm", "generate", "stream")
_VERSION_POLICY = re.compile(r"all|latest:[1-9][0-9]*|specific:[1-9][0-9]*(,[1-9][0-9]*)*")

# Model names become folder names, URL path segments and tritonserver arguments: one plain segment.
# A published name leaves room for the longest suffix publish adds (`_generate_cached`).
PUBLISHED_NAME_MAX = 64
MODEL_NAME_MAX = PUBLISHED_NAME_MAX + len("_generate_cached")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# Request values travel as INT64 tensors, and Triton reads version folders with std::stoll (a
# version beyond int64 aborts the whole server)
INT64_MAX = 2**63 - 1
_VERSION_FOLDER = re.compile(r"[1-9][0-9]*")

# The admin key guards every Triton API that changes server state (fullchain serve and deploy/k8s)
ADMIN_HEADER = "fullchain-admin-key"
# Triton expects a restricted gRPC protocol's header with this prefix (the HTTP header has none)
GRPC_ADMIN_HEADER = f"triton-grpc-protocol-{ADMIN_HEADER}"
RESTRICTED_APIS = ("model-repository", "shared-memory", "logging", "trace")
ADMIN_KEY_ENV = "FULLCHAIN_ADMIN_KEY"
_ADMIN_KEY = re.compile(r"[A-Za-z0-9._~-]{16,256}")


def check_model_name(name: object, max_len: int = MODEL_NAME_MAX) -> str:
    """`name` when it is one plain model name (letters, digits, '_', '-'; the whole string); else
    ValueError in one line."""
    if not isinstance(name, str) or len(name) > max_len or not _MODEL_NAME.fullmatch(name):
        raise ValueError(f"invalid model name {name!r}: use 1-{max_len} letters, digits, '_' or '-', starting with "
                         "a letter or digit (no '/', '..', spaces or control characters)")
    return name


def check_version(version: object) -> int:
    """`version` when it is a version Triton accepts (1..2^63-1); else ValueError in one line."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= INT64_MAX:
        raise ValueError(f"invalid version {version!r}: versions are integers within 1..{INT64_MAX}")
    return version


def version_of_folder(folder: str) -> int:
    """The version a model's sub-folder holds: its name must be exactly a version (no sign, no leading
    zeros, nothing after the digits); else ValueError in one line."""
    if not _VERSION_FOLDER.fullmatch(folder) or int(folder) > INT64_MAX:
        raise ValueError(f"invalid version folder {folder!r}: versions are integers within 1..{INT64_MAX} "
                         "without leading zeros")
    return int(folder)


def check_admin_key(key: str, where: str) -> str:
    """The admin key when it is 16-256 characters of [A-Za-z0-9._~-] (a header value that Triton's
    `<apis>:<header>=<key>` flag parses back unchanged); else ValueError naming where it came from."""
    if not _ADMIN_KEY.fullmatch(key):
        raise ValueError(f"the admin key in {where} must be 16-256 characters of letters, digits and '._~-'")
    return key


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer within {low}..{high}, got {value!r}")


@dataclass
class BatchingConfig:
    """How Triton queues and batches requests of one model (its `dynamic_batching` block)."""

    enabled: bool = option(True, "Use Triton's dynamic batcher; off: each request runs alone.")
    max_batch_size: int = option(8, "Largest batch a model instance runs (Triton's max_batch_size).")
    preferred_batch_sizes: list[int] = option([4, 8], "Batch sizes the batcher waits to form.")
    max_queue_delay_us: int = option(2000, "Longest a request waits in the queue for a batch to fill (microseconds).")
    max_queue_size: int = option(64, "Requests queued beyond this are rejected at once with an error (0: unbounded).")
    queue_timeout_us: int = option(0, "A request still queued after this long is rejected (0: no timeout); "
                                      "a request may ask for a shorter one.")

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        bad = [s for s in self.preferred_batch_sizes if not 1 <= s <= self.max_batch_size]
        if bad:
            raise ValueError(f"preferred_batch_sizes {bad} are not within 1..max_batch_size ({self.max_batch_size})")
        for name in ("max_queue_delay_us", "max_queue_size", "queue_timeout_us"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class GenerationModelConfig:
    """The Python-backend generation models written beside the ONNX model."""

    onnx_runner: str = option("auto", "How the generation model runs the ONNX graph: 'bls' (calls the ONNX model "
                                      "through Triton, needs the onnxruntime backend), 'onnxruntime' (in its own "
                                      "process), 'auto' (bls when that model is ready, else onnxruntime).")
    response_cache: bool = option(True, "Answer repeated deterministic requests from Triton's response cache "
                                        "(the server needs --cache-config; `fullchain serve` sets it).")
    stream_model: bool = option(True, "Also write <name>_generate_stream, a decoupled model that streams tokens.")
    default_max_tokens: int = option(64, "max_tokens when a request leaves it out.")
    max_tokens_limit: int = option(1024, "Largest max_tokens a request may ask for.")
    max_prompt_bytes: int = option(0, "Longest prompt in UTF-8 bytes, refused before it is tokenized "
                                      "(0: 32 bytes per position of the model, or 1 MiB when it has no limit).")
    instance_count: int = option(1, "Python-backend instances (processes) per generation model.")
    ort_threads: int = option(1, "ONNX Runtime intra-op threads per instance in the onnxruntime runner (0: all cores).")

    def __post_init__(self) -> None:
        if self.onnx_runner not in ONNX_RUNNERS:
            raise ValueError(f"onnx_runner must be one of {', '.join(ONNX_RUNNERS)}, got {self.onnx_runner!r}")
        _check_int("max_tokens_limit", self.max_tokens_limit, 1, INT64_MAX)
        _check_int("max_prompt_bytes", self.max_prompt_bytes, 0, INT64_MAX)
        if not 1 <= self.default_max_tokens <= self.max_tokens_limit:
            raise ValueError(f"default_max_tokens must be within 1..max_tokens_limit ({self.max_tokens_limit}), "
                             f"got {self.default_max_tokens}")
        if self.instance_count < 1 or self.ort_threads < 0:
            raise ValueError("instance_count must be >= 1 and ort_threads >= 0")


@dataclass
class LlmModelConfig:
    """`<name>_llm`, the decoupled continuous-batching model: one running batch per instance that
    requests join and leave between decoding steps."""

    enabled: bool = option(True, "Also write <name>_llm, the continuous-batching streaming model.")
    max_batch_size: int = option(8, "Most sequences decoding together in the running batch.")
    kv_cache_tokens: int = option(8192, "Key/value cache budget in tokens: the running sequences' prompt + "
                                        "max_tokens together stay within it (a request waits until it fits).")
    max_queue_size: int = option(64, "Requests waiting to join the batch beyond this (and beyond the free "
                                     "slots) are refused at once (UNAVAILABLE), never left to wait.")
    max_prefill_tokens: int = option(2048, "Most prompt tokens prefilled between two decoding steps (one prompt "
                                           "always goes): bounds the pause of running sequences when many or long "
                                           "prompts arrive at once (vLLM's max_num_batched_tokens).")

    def __post_init__(self) -> None:
        _check_int("max_batch_size", self.max_batch_size, 1, 1024)
        _check_int("kv_cache_tokens", self.kv_cache_tokens, 1, INT64_MAX)
        _check_int("max_queue_size", self.max_queue_size, 1, INT64_MAX)
        _check_int("max_prefill_tokens", self.max_prefill_tokens, 1, INT64_MAX)


@dataclass
class ReleaseGateConfig:
    """The release gate: a quantized export's evaluation against FP32 (deploy/release_gate.py)."""

    evaluation: str = option("", "comparison.json of `fullchain eval EXPORT#fp32 EXPORT` (or its folder); default: "
                                 "EXPORT/eval/ or an eval/ folder beside EXPORT.")
    max_perplexity_increase_pct: float = option(2.0, "Refuse when a task's perplexity (or bits per byte) rises more "
                                                     "than this many percent over FP32.")
    max_accuracy_drop_points: float = option(1.0, "Refuse when a task's accuracy (acc, acc_norm, exact_match) falls "
                                                  "more than this many points (of 100) below FP32.")
    require_evaluation: bool = option(False, "Refuse a quantized export that has no evaluation at all.")

    def __post_init__(self) -> None:
        if self.max_perplexity_increase_pct < 0 or self.max_accuracy_drop_points < 0:
            raise ValueError("max_perplexity_increase_pct and max_accuracy_drop_points must be >= 0")


@dataclass
class PublishConfig:
    """`fullchain publish EXPORT_DIR`: add an export as a new version of a Triton model repository."""

    repository: str = option("", "Model repository: a local folder or an fsspec URL (s3://, gs://, file://, memory://).")
    name: str = option("", "Model name; the generation models are <name>_generate and <name>_generate_stream.")
    version: int | None = option(None, "Version to write (a positive integer); default: one above the highest.")
    version_policy: str = option("latest:1", "Which versions Triton serves: 'latest:N', 'all' or 'specific:1,2'.")
    instance_kind: str = option("cpu", "Where the ONNX model's instances run: 'cpu' or 'gpu' (KIND_CPU/KIND_GPU).")
    instance_count: int = option(1, "Instances of the ONNX model.")
    batching: BatchingConfig = option(BatchingConfig(), "Dynamic batching of the ONNX and generation models.")
    generate: GenerationModelConfig = option(GenerationModelConfig(), "The generation models.")
    llm: LlmModelConfig = option(LlmModelConfig(), "The continuous-batching model <name>_llm (it shares "
                                                   "generate's onnx_runner, ort_threads and token limits).")
    gate: ReleaseGateConfig = option(ReleaseGateConfig(), "The release gate of a quantized export.")
    force: bool = option(False, "Publish even when the release gate refuses; the version's release.json records it.")

    def __post_init__(self) -> None:
        if self.instance_kind not in INSTANCE_KINDS:
            raise ValueError(f"instance_kind must be 'cpu' or 'gpu', got {self.instance_kind!r}")
        if self.name:
            check_model_name(self.name, PUBLISHED_NAME_MAX)
        if self.version is not None:
            check_version(self.version)
        if not _VERSION_POLICY.fullmatch(self.version_policy):
            raise ValueError(f"version_policy must be 'latest:N', 'all' or 'specific:N,M', got {self.version_policy!r}")
        if self.instance_count < 1:
            raise ValueError(f"instance_count must be >= 1, got {self.instance_count}")


@dataclass
class ServeConfig:
    """`fullchain serve`: run the tritonserver of the nvidia-pytriton wheel on a model repository."""

    repository: str = option("", "Model repository to serve (a local folder, or s3:// / gs:// as Triton reads them).")
    address: str = option("127.0.0.1", "Address the HTTP and gRPC endpoints bind to (0.0.0.0: all interfaces).")
    http_port: int = option(HTTP_PORT, "HTTP/REST port (KServe v2 protocol).")
    grpc_port: int = option(GRPC_PORT, "gRPC port.")
    metrics_port: int = option(METRICS_PORT, "Prometheus metrics port (/metrics).")
    cache_size_bytes: int = option(256 * 1024 * 1024, "Size of Triton's local response cache (0: no cache).")
    models: list[str] = option([], "Models to load; default: every model this server has a backend for.")
    ready_timeout_s: float = option(120.0, "How long to wait for /v2/health/ready before giving up.")
    stop_timeout_s: float = option(30.0, "How long to wait after SIGTERM before killing the server.")
    cache_dir: str = option("", "Where the prepared backend folder is kept; default: ~/.cache/fullchain/triton.")
    log_verbose: int = option(0, "Triton's --log-verbose level.")
    log_file: str = option("", "Append the server's log to this file instead of printing it.")
    admin_key_file: str = option("", f"File with the key that the repository, shared-memory, logging and trace "
                                     f"APIs require (header {ADMIN_HEADER}); read when it exists, else a new "
                                     f"random key is written there (mode 0600). Default: <cache-dir>/admin-key, "
                                     f"new at every start. ${ADMIN_KEY_ENV}, when set, is the key instead.")
    openai_port: int = option(0, f"Also start the OpenAI-compatible HTTP front (/v1/completions, "
                                 f"/v1/chat/completions, /v1/models) on this port, e.g. {OPENAI_PORT} (0: none).")
    openai_model: str = option("", "Published name the front serves; default: every one with <name>_llm or "
                                   "<name>_generate_stream loaded.")
    api_key_file: str = option("", "File of API keys the front accepts as `Authorization: Bearer KEY`, one per "
                                   "line (mode 0600); $FULLCHAIN_OPENAI_API_KEYS adds more. No keys: open.")

    def __post_init__(self) -> None:
        if any(ord(c) < 32 or ord(c) == 127 for c in self.repository):
            raise ValueError(f"repository must not contain control characters, got {self.repository!r}")
        for model in self.models:
            check_model_name(model)
        if self.openai_model:
            check_model_name(self.openai_model, PUBLISHED_NAME_MAX)
        for name in ("http_port", "grpc_port", "metrics_port"):
            if not 0 < getattr(self, name) < 65536:
                raise ValueError(f"{name} must be within 1..65535, got {getattr(self, name)}")
        if len({self.http_port, self.grpc_port, self.metrics_port}) != 3:
            raise ValueError("http_port, grpc_port and metrics_port must differ")
        if not 0 <= self.openai_port < 65536:
            raise ValueError(f"openai_port must be within 0..65535 (0: no front), got {self.openai_port}")
        if self.openai_port in (self.http_port, self.grpc_port, self.metrics_port):
            raise ValueError("openai_port must differ from http_port, grpc_port and metrics_port")
        if self.cache_size_bytes < 0:
            raise ValueError(f"cache_size_bytes must be >= 0, got {self.cache_size_bytes}")


@dataclass
class SamplingConfig:
    """Sampling parameters of a generation request; the generation model checks them again."""

    max_tokens: int = option(64, "Most new tokens to generate.")
    temperature: float = option(0.0, "0: greedy (deterministic, cacheable); > 0: sampling.")
    top_k: int = option(0, "Sample among the k most likely tokens (0: all).")
    top_p: float = option(1.0, "Sample within the smallest set of tokens whose probability reaches p.")
    seed: int | None = option(None, "Seed of the sampler; default: a random one (printed with --verbose).")
    stop: list[str] = option([], "Strings that end the generation (not included in the text).")

    def __post_init__(self) -> None:
        # sent as INT64 tensors: a value beyond int64 could not be sent as given
        _check_int("max_tokens", self.max_tokens, 1, INT64_MAX)
        _check_int("top_k", self.top_k, 0, INT64_MAX)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, INT64_MAX)
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be within (0, 1], got {self.top_p}")


@dataclass
class ClientConfig:
    """Where a served generation model is and how to reach it."""

    url: str = option("", f"Server address host:port; default: localhost:{HTTP_PORT} (http) or "
                          f"localhost:{GRPC_PORT} (grpc).")
    protocol: str = option("http", "'http' or 'grpc' (streaming needs grpc).")
    model: str = option("", "Published model name; default: the only <name>_generate model the server has ready.")
    timeout_s: float = option(60.0, "Client-side timeout of one request (seconds).")
    protocols: ClassVar[tuple[str, ...]] = PROTOCOLS

    def __post_init__(self) -> None:
        if self.protocol not in self.protocols:
            names = [repr(p) for p in self.protocols]
            raise ValueError(f"protocol must be {', '.join(names[:-1])} or {names[-1]}, got {self.protocol!r}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.model:
            check_model_name(self.model, PUBLISHED_NAME_MAX)


@dataclass
class GenerateConfig(SamplingConfig, ClientConfig):
    """`fullchain generate "prompt"`: one generation request through Triton (flat, so the flags are
    --url, --max-tokens, ...)."""

    stream: bool = option(False, "Print text as it is generated (the decoupled <name>_generate_stream model; "
                                 "needs --protocol grpc).")

    def __post_init__(self) -> None:
        ClientConfig.__post_init__(self)
        SamplingConfig.__post_init__(self)


@dataclass
class SloConfig:
    """Service-level objectives of the load test's goodput: a request counts when it meets every one set."""

    ttft_ms: float = option(0.0, "Most time to first token (ms; 0: no objective).")
    itl_ms: float = option(0.0, "Most mean inter-token latency of a request (ms; 0: no objective).")
    latency_ms: float = option(0.0, "Most request latency (ms; 0: no objective).")

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "itl_ms", "latency_ms"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"slo.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class LoadtestConfig(SamplingConfig, ClientConfig):
    """`fullchain loadtest`: drive a generation model at rising concurrency (or request rate)."""

    protocols: ClassVar[tuple[str, ...]] = LOADTEST_PROTOCOLS
    protocol: str = option("http", "'grpc' or 'http' (a Triton server), or 'openai' (an OpenAI-compatible "
                                   "server: --url http://host:port/v1, streamed completions).")
    endpoint: str = option("auto", "What to drive on a Triton server: 'llm' (<name>_llm, continuous batching, "
                                   "streamed over gRPC: real time to first token), 'generate' (<name>_generate, "
                                   "one response: time to first token = latency), 'stream' (<name>_generate_stream "
                                   "over gRPC); 'auto': llm over grpc when <name>_llm is ready, else generate.")
    max_tokens: int = option(32, "Most new tokens per request.")
    concurrency: list[int] = option([1, 2, 4, 8, 16], "Concurrency levels, each run for duration_s (a closed "
                                                      "loop: each client sends its next request when one ends).")
    request_rate: list[float] = option([], "Open loop instead of the concurrency levels: request rates "
                                           "(requests/s), each run for duration_s with Poisson arrivals "
                                           "(genai-perf's and vLLM's --request-rate).")
    max_concurrency: int = option(64, "With --request-rate: most requests in flight; an arrival that finds them "
                                      "all busy is sent when one ends (counted in delayed_requests).")
    duration_s: float = option(10.0, "How long each concurrency level runs (seconds); requests in flight "
                                     "then finish or time out.")
    warmup_s: float = option(0.0, "Seconds at the start of each level whose requests are sent but left out of "
                                  "its figures (aiperf's --warmup-duration, with no pause before the measured "
                                  "part): the clients of a closed loop start together, and that first burst of "
                                  "prompts is not the steady state. 0: every request counts.")
    prompts: list[str] = option(["The river that runs through the old market town",
                                 "Local historians have gathered letters"],
                                "Prompts, used in turn when no --shards are given; each request gets a unique "
                                "suffix so that none is answered from the response cache.")
    shards: str = option("", "Shard output folder (or its manifest.json): prompts are cut from its val split "
                             "(token windows; decoded with the shards' tokenizer for text endpoints).")
    input_tokens_mean: int = option(128, "With --shards: mean prompt length in tokens.")
    input_tokens_stddev: int = option(0, "With --shards: standard deviation of the prompt length (normal, "
                                         "clipped to 1..4 x mean).")
    output_tokens_stddev: int = option(0, "Standard deviation of each request's max_tokens around --max-tokens "
                                          "(normal, clipped to 1..4 x max_tokens; genai-perf's "
                                          "--output-tokens-stddev): requests of unequal lengths end at different "
                                          "steps instead of in lockstep. 0: every request asks for max_tokens.")
    prompt_seed: int = option(0, "Seed of the prompt lengths and windows and of the output lengths (the same run "
                                 "draws the same requests).")
    api_key_file: str = option("", "With --protocol openai: a file holding the API key (default: "
                                    "$OPENAI_API_KEY, else none). Never given on the command line.")
    slo: SloConfig = option(SloConfig(), "Objectives of the goodput (requests/s that meet all of them).")
    output: str = option("loadtest", "Output path prefix: writes <output>.json and <output>.png.")

    def __post_init__(self) -> None:
        ClientConfig.__post_init__(self)
        SamplingConfig.__post_init__(self)
        if self.endpoint not in LOADTEST_ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(LOADTEST_ENDPOINTS)}, got {self.endpoint!r}")
        if self.endpoint in ("llm", "stream") and self.protocol == "http":
            raise ValueError(f"endpoint {self.endpoint!r} streams: it needs --protocol grpc")
        _check_int("input_tokens_mean", self.input_tokens_mean, 1, 1 << 20)
        _check_int("input_tokens_stddev", self.input_tokens_stddev, 0, 1 << 20)
        _check_int("output_tokens_stddev", self.output_tokens_stddev, 0, 1 << 20)
        if not self.concurrency or min(self.concurrency) < 1:
            raise ValueError(f"concurrency must be a list of positive integers, got {self.concurrency}")
        if self.request_rate and not min(self.request_rate) > 0:
            raise ValueError(f"request_rate must be a list of rates > 0 (requests/s), got {self.request_rate}")
        _check_int("max_concurrency", self.max_concurrency, 1, 4096)
        if self.duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {self.duration_s}")
        if not self.warmup_s >= 0:
            raise ValueError(f"warmup_s must be >= 0, got {self.warmup_s}")
        if not self.prompts:
            raise ValueError("prompts must not be empty")
