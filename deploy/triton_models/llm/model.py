"""Triton Python-backend model `<name>_llm`: continuous batching, decoupled (streaming).

`fullchain publish` copies this file, llm_request.py, response_queue.py, the generation model's request_checks.py,
model_plumbing.py and deploy/continuous_batching.py (with its batch_rows.py) into
`<name>_llm/<version>/`, beside the export's kv_decoding.py, tokenizer files and export.json; they
import each other relatively (see model_plumbing.py).

`execute` only checks and enqueues: each request becomes a sequence of the scheduler
(continuous_batching.Scheduler), which a background thread runs. Between two decoding steps the
scheduler admits waiting sequences, drops finished and cancelled ones, and hands every new token
to its sequence at once; this file turns each token into a response (text piece, token ids,
log-probabilities) sent through the request's response sender. A request the queue cannot take is
refused at once (UNAVAILABLE). A client that cancels is noticed through the request's
`is_cancelled()` at the next step, and its slot is freed.

The ONNX graph runs as model_plumbing.py chooses (config parameter `onnx_runner`: `bls`,
`onnxruntime` or `auto`), called from the scheduler thread. docs/SERVING.md lists the tensors.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable

from . import model_plumbing

model_plumbing.use_server_site_packages()

import numpy as np  # noqa: E402  (after the sys.path set-up above)
import triton_python_backend_utils as pb_utils  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from . import continuous_batching, kv_decoding, llm_request, request_checks  # noqa: E402
from .response_queue import ResponseQueue  # noqa: E402

EMPTY_IDS = np.zeros((1, 0), dtype=np.int64)
EMPTY_SCORES = np.zeros((1, 0), dtype=np.float32)
# the gauges are brought up to date at most this often while the scheduler is busy: each change is
# a message to the server process, and /metrics is scraped every few seconds
GAUGE_INTERVAL_S = 0.05


def _row(values: list | np.ndarray, dtype: Any) -> np.ndarray:
    return np.asarray(values, dtype=dtype).reshape(1, -1)


def _text(value: str) -> np.ndarray:
    return np.array([[value.encode("utf-8")]], dtype=np.object_)


class Stream:
    """One request's side of the scheduler: turns its updates into responses. Its text is decoded
    from all its tokens at each step and sent in pieces that are neither a partial UTF-8 character
    nor the possible start of a stop string."""

    def __init__(self, model: "TritonPythonModel", sender: Any, prompt: list[int], checked: Any,
                 wanted: set[str]):
        self.model = model
        self.sender = sender
        self.wanted = wanted
        self.prompt = prompt
        self.stop = list(checked.stop)
        self.logprobs = checked.logprobs
        self.tokens: list[int] = []
        self.sent_tokens = 0
        self.scores: list[tuple[float, int, float]] = []
        self.text = ""
        self.emitted = 0
        self.prompt_scores: Any = None
        # the text is decoded from all tokens at each one: only for a client that reads it or stops on it
        self.needs_text = "text_output" in wanted or bool(self.stop)
        self.queued = 0  # responses handed to the ResponseQueue
        self.gone = False  # set by ResponseQueue when a response could not be sent

    def on_update(self, update: Any) -> bool:
        """Called by the scheduler with each new token; False ends the sequence (a stop string, or
        a client that is gone)."""
        if self.gone:
            return False
        if update.error is not None:
            error = pb_utils.TritonError(update.error, pb_utils.TritonError.INTERNAL)
            self._send(pb_utils.InferenceResponse(error=error), final=True)
            return False
        if update.prompt_logprobs is not None:
            self.prompt_scores = update
        finish = update.finish_reason
        if update.token is not None:
            self.tokens.append(update.token)
            if self.logprobs:
                self.scores.append((update.logprob, update.top_token, update.top_logprob))
            if self.needs_text:
                self.text = self.model.tokenizer.decode(self.tokens, skip_special_tokens=True)
            for s in self.stop:
                at = self.text.find(s)
                if at >= 0:
                    self.text, finish = self.text[:at], "stop"
        usage = (len(self.prompt), len(self.tokens)) if finish is not None else (0, 0)
        sent = self._send(self._response(self._ready_text(finish is not None), finish or "", usage),
                          final=finish is not None)
        return sent and finish is None

    def _ready_text(self, final: bool) -> str:
        end = len(self.text)
        if not final:
            while end > self.emitted and self.text[end - 1] == "\ufffd":
                end -= 1
            if self.stop:
                end = max(self.emitted, end - (max(len(s) for s in self.stop) - 1))
        piece = self.text[self.emitted:end]
        self.emitted = max(self.emitted, end)
        return piece

    def _response(self, piece: str, finish: str, usage: tuple[int, int]) -> Any:
        new = self.tokens[self.sent_tokens:]
        scores = self.scores[self.sent_tokens:]
        self.sent_tokens = len(self.tokens)
        # built only when the client asked for it: a response per token per sequence adds up
        tensors: dict[str, Callable[[], np.ndarray]] = {
            "text_output": lambda: _text(piece), "token_ids": lambda: _row(new, np.int64),
            "token_logprobs": lambda: _row([s[0] for s in scores], np.float32),
            "top_token_ids": lambda: _row([s[1] for s in scores], np.int64),
            "top_logprobs": lambda: _row([s[2] for s in scores], np.float32),
            "prompt_token_ids": lambda: EMPTY_IDS, "prompt_logprobs": lambda: EMPTY_SCORES,
            "prompt_top_token_ids": lambda: EMPTY_IDS, "prompt_top_logprobs": lambda: EMPTY_SCORES,
            "finish_reason": lambda: _text(finish),
            "prompt_tokens": lambda: np.array([[usage[0]]], dtype=np.int64),
            "completion_tokens": lambda: np.array([[usage[1]]], dtype=np.int64)}
        if self.queued == 0 and self.prompt_scores is not None:
            p = self.prompt_scores
            tensors.update({"prompt_token_ids": lambda: _row(self.prompt, np.int64),
                            "prompt_logprobs": lambda: _row(p.prompt_logprobs, np.float32),
                            "prompt_top_token_ids": lambda: _row(p.prompt_top_tokens, np.int64),
                            "prompt_top_logprobs": lambda: _row(p.prompt_top_logprobs, np.float32)})
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(k, make()) for k, make in tensors.items()
                                                          if k in self.wanted])

    def _send(self, response: Any, final: bool) -> bool:
        self.model.responses.put(self, response, pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if final else 0,
                                 first=self.queued == 0)
        self.queued += 1
        return not self.gone


class SchedulerGauges:
    """The scheduler's load on Triton's /metrics (the Python backend's custom metrics), labelled
    with the model and version: running sequences, waiting requests, reserved key/value tokens and
    the tokens generated. Set after a step at most every GAUGE_INTERVAL_S while the scheduler is
    busy, at once when it falls idle, and only when changed: each is a message to the server
    process."""

    def __init__(self, model: str, version: str, scheduler: Any):
        self.scheduler = scheduler
        labels = {"model": model, "version": version}
        kinds = {"running_sequences": ("Sequences in the running batch.", pb_utils.MetricFamily.GAUGE),
                 "waiting_requests": ("Requests waiting for a slot.", pb_utils.MetricFamily.GAUGE),
                 "kv_reserved_tokens": ("Key/value tokens reserved by the running sequences.",
                                        pb_utils.MetricFamily.GAUGE),
                 "generated_tokens": ("Tokens generated.", pb_utils.MetricFamily.COUNTER)}
        # the families must stay referenced: a family that is collected leaves /metrics
        self.families = {name: pb_utils.MetricFamily(name=f"fullchain_llm_{name}", description=text, kind=kind)
                         for name, (text, kind) in kinds.items()}
        self.metrics = {name: family.Metric(labels=labels) for name, family in self.families.items()}
        self.shown = {name: 0 for name in kinds}
        self.updated_at = float("-inf")

    def update(self) -> None:
        """Bring the gauges and the token counter to the scheduler's present counts (while it is
        busy, at most every GAUGE_INTERVAL_S)."""
        running, waiting, reserved = self.scheduler.counts()
        now_s = time.monotonic()
        if (running or waiting) and now_s - self.updated_at < GAUGE_INTERVAL_S:
            return
        self.updated_at = now_s
        now = {"running_sequences": running, "waiting_requests": waiting, "kv_reserved_tokens": reserved,
               "generated_tokens": self.scheduler.generated_tokens}
        for name, value in now.items():
            if value == self.shown[name]:
                continue
            if name == "generated_tokens":
                self.metrics[name].increment(value - self.shown[name])
            else:
                self.metrics[name].set(value)
            self.shown[name] = value


class TritonPythonModel:
    """The continuous-batching model; Triton calls initialize once per instance, execute per request."""

    def initialize(self, args: dict[str, str]) -> None:
        """Load the tokenizer, export facts and modules of this version; start the scheduler thread."""
        self.config = json.loads(args["model_config"])
        self.name = self.config["name"]
        params = {k: v["string_value"] for k, v in self.config.get("parameters", {}).items()}
        self.version_dir = os.path.join(args["model_repository"], args["model_version"])
        with open(os.path.join(self.version_dir, "export.json"), encoding="utf-8") as fh:
            self.export = json.load(fh)
        kv = self.kv = kv_decoding
        self.checks = request_checks
        self.requests = llm_request
        batching = self.batching = continuous_batching
        self.spec = kv.DecoderSpec.from_export(self.export)
        self.vocab_size = int(self.export["vocab_size"])
        self.tokenizer = Tokenizer.from_file(os.path.join(self.version_dir, "tokenizer.json"))
        self.stop_token_ids = model_plumbing.stop_token_ids(self.export)
        self.params = params
        self.output_names = [o["name"] for o in self.export["outputs"]]
        self.limits = self.checks.RequestLimits(
            default_max_tokens=int(params.get("default_max_tokens", 64)),
            max_tokens_limit=int(params.get("max_tokens_limit", 1024)),
            max_prompt_bytes=self.checks.prompt_byte_limit(int(params.get("max_prompt_bytes", 0)),
                                                           self.spec.max_positions),
            seed_required=False)
        shape = batching.GraphShape(num_layers=self.spec.num_layers, num_kv_heads=self.spec.num_kv_heads,
                                    head_dim=self.spec.head_dim, pad_token_id=self.spec.pad_token_id,
                                    max_positions=self.spec.max_positions)
        limits = batching.SchedulerLimits(max_batch_size=int(params.get("max_batch_size", 8)),
                                          kv_cache_tokens=int(params.get("kv_cache_tokens", 8192)),
                                          max_queue_size=int(params.get("max_queue_size", 64)),
                                          max_prefill_tokens=int(params.get("max_prefill_tokens", 2048)))
        self.run: Callable[[dict], dict] | None = None
        self.scheduler = batching.Scheduler(self._run, shape, kv.next_token, limits)
        self.stopping = threading.Event()
        self.responses = ResponseQueue(self.name, pb_utils.Logger.log_warn)
        self.gauges = SchedulerGauges(self.name, args["model_version"], self.scheduler)
        self.thread = threading.Thread(target=self.scheduler.serve_forever,
                                       args=(self.stopping, self._log_failure, self._after_step),
                                       name=f"{self.name}-scheduler", daemon=True)
        self.thread.start()
        pb_utils.Logger.log_info(f"{self.name}: continuous batching, at most {limits.max_batch_size} sequences, "
                                 f"{limits.kv_cache_tokens} key/value tokens, {limits.max_queue_size} waiting")

    def finalize(self) -> None:
        """Stop the scheduler thread, then the response thread (Triton unloads the model)."""
        self.stopping.set()
        self.thread.join(timeout=10)
        self.responses.close(timeout_s=5)

    def _after_step(self) -> None:
        self.gauges.update()
        # one step's responses (a token per running sequence) may wait while the next step runs
        self.responses.wait_until_at_most(max(1, self.scheduler.counts()[0]))

    def _log_failure(self, error: Exception) -> None:
        pb_utils.Logger.log_error(f"{self.name}: generation failed: {error!r}")

    # ---- running the graph

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # chosen at the first step, when the ONNX model has been loaded too
        if self.run is None:
            self.run = model_plumbing.graph_runner(self.name, self.params, self.version_dir, self.output_names,
                                                   self.kv.session_runner)
        return self.run(feeds)

    # ---- requests

    def _sequence(self, request: Any, sender: Any) -> Any:
        """The scheduler's sequence for one request; RequestError naming the field when it is bad."""
        fields = model_plumbing.input_values(request, self.requests.LLM_REQUEST_FIELDS)
        checked = self.requests.decode_llm_request(fields, self.limits, self.vocab_size, self.checks)
        if checked.prompt_ids is not None:
            prompt = list(checked.prompt_ids)
        else:
            prompt = self.tokenizer.encode(checked.text).ids
        self.checks.check_prompt_tokens(prompt, self.spec.max_positions)
        params = model_plumbing.sampling_params(self.kv, checked, self.stop_token_ids)
        # a client that asks for no outputs by name gets them all
        wanted = set(request.requested_output_names()) or {o["name"] for o in self.config["output"]}
        stream = Stream(self, sender, prompt, checked, wanted)
        return self.batching.SequenceRequest(prompt=prompt, params=params, on_update=stream.on_update,
                                             logprobs=checked.logprobs, echo=checked.echo,
                                             is_cancelled=model_plumbing.ThrottledCancelCheck(request))

    def execute(self, requests: list[Any]) -> None:
        """Enqueue each request into the running batch's queue; a bad one, or one the queue cannot
        take, gets its error response at once."""
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        for request in requests:
            sender = request.get_response_sender()
            try:
                self.scheduler.submit(self._sequence(request, sender))
            except (self.checks.RequestError, self.batching.TooLarge) as e:
                sender.send(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(str(e), pb_utils.TritonError.INVALID_ARG)), flags=final)
            except self.batching.QueueFull as e:
                sender.send(pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(str(e), pb_utils.TritonError.UNAVAILABLE)), flags=final)
        return None
