"""Triton Python-backend model: a prompt and sampling parameters in, generated text out.

`fullchain publish` copies this file and request_checks.py into `<name>_generate/<version>/` (and
`<name>_generate_stream/<version>/`) beside the export's `kv_decoding.py`, tokenizer files and
export.json. The decoding loop is kv_decoding's; this file only turns requests into prompts and
per-row sampling parameters, runs one batched loop over every request Triton hands to `execute`,
and turns tokens back into text.

The ONNX graph runs as model_plumbing.py chooses (config parameter `onnx_runner`: `bls`,
`onnxruntime` or `auto`).

In decoupled mode (`<name>_generate_stream`) each request gets one response per new piece of text
and a last one, flagged final, carrying the finish reason. A request whose client cancels it is
noticed within model_plumbing.CANCEL_CHECK_INTERVAL_S and ends with finish reason `cancelled`; the
batch's loop stops when all its requests have ended.

With the response cache on, `<name>_generate` is a front (config parameter `forward_to`): it checks
each request and forwards the valid ones through BLS to `<name>_generate_cached`, which has the
cache and decodes. Triton 2.51 stores an error response in the cache as an empty success, so a bad
request must never reach a cached model: it gets its error from the front.

Requests are checked by request_checks.py (`decode_request`, a pure function of the input values
as they arrived), which publish copies beside this file with kv_decoding.py and model_plumbing.py;
this file imports them relatively (see model_plumbing.py).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import model_plumbing

model_plumbing.use_server_site_packages()

import numpy as np  # noqa: E402  (after the sys.path set-up above)
import triton_python_backend_utils as pb_utils  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from . import kv_decoding, request_checks  # noqa: E402

OUTPUTS = ("text_output", "token_ids", "finish_reason")


@dataclass
class Job:
    """One request, parsed: prompt token ids, the loop's sampling parameters and the stop strings."""

    prompt: list[int]
    params: Any
    stop: list[str]
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    emitted: int = 0
    tokens_sent: int = 0
    finish: str | None = None


class TritonPythonModel:
    """The generation model; Triton calls initialize once per instance, then execute per batch."""

    def initialize(self, args: dict[str, str]) -> None:
        """Load the tokenizer, export facts and decoding loop of this version."""
        self.config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in self.config.get("parameters", {}).items()}
        self.version_dir = os.path.join(args["model_repository"], args["model_version"])
        self.version = int(args["model_version"])
        with open(os.path.join(self.version_dir, "export.json"), encoding="utf-8") as fh:
            self.export = json.load(fh)
        self.kv = kv_decoding
        self.checks = request_checks
        self.spec = self.kv.DecoderSpec.from_export(self.export)
        self.tokenizer = Tokenizer.from_file(os.path.join(self.version_dir, "tokenizer.json"))
        self.stop_token_ids = model_plumbing.stop_token_ids(self.export)
        self.params = params
        self.decoupled = pb_utils.using_decoupled_model_transaction_policy(self.config)
        # the cache is on in this model or in the one this front forwards to
        cache_on = params.get("response_cache", "false") == "true"
        self.limits = self.checks.RequestLimits(
            default_max_tokens=int(params.get("default_max_tokens", 64)),
            max_tokens_limit=int(params.get("max_tokens_limit", 1024)),
            max_prompt_bytes=self.checks.prompt_byte_limit(int(params.get("max_prompt_bytes", 0)),
                                                           self.spec.max_positions),
            seed_required=cache_on and not self.decoupled)
        self.forward_to = params.get("forward_to", "")
        self.output_names = [o["name"] for o in self.export["outputs"]]
        self.run: Callable[[dict], dict] | None = None

    # ---- running the graph

    def _runner(self) -> Callable[[dict], dict]:
        # chosen at the first request, when the ONNX model has been loaded too
        if self.run is None:
            self.run = model_plumbing.graph_runner(self.config["name"], self.params, self.version_dir,
                                                   self.output_names, self.kv.session_runner)
        return self.run

    # ---- requests

    def parse(self, request: Any) -> Job:
        """The job of one request; RequestError naming the field when a value is out of range."""
        checked = self.checks.decode_request(model_plumbing.input_values(request, self.checks.REQUEST_FIELDS),
                                             self.limits)
        prompt = self.tokenizer.encode(checked.text).ids
        self.checks.check_prompt_tokens(prompt, self.spec.max_positions)
        params = model_plumbing.sampling_params(self.kv, checked, self.stop_token_ids)
        return Job(prompt=prompt, params=params, stop=list(checked.stop))

    # ---- decoding

    def _add_token(self, job: Job, token: int, incremental: bool) -> None:
        job.tokens.append(token)
        if not (incremental or job.stop):
            return
        text = self.tokenizer.decode(job.tokens, skip_special_tokens=True)
        for s in job.stop:
            at = text.find(s)
            if at >= 0:
                text = text[:at]
                job.finish = "stop"
        job.text = text

    def _ready_text(self, job: Job) -> str:
        """The part of the text that may be sent now: not a partial UTF-8 character, not a possible
        beginning of a stop string."""
        end = len(job.text)
        if job.finish is None:
            while end > job.emitted and job.text[end - 1] == "\ufffd":
                end -= 1
            if job.stop:
                end = max(job.emitted, end - (max(len(s) for s in job.stop) - 1))
        piece = job.text[job.emitted:end]
        job.emitted = max(job.emitted, end)
        return piece

    def decode(self, jobs: list[Job], incremental: bool) -> Iterator[list[Job]]:
        """Run one batched loop over the jobs; yields the jobs after each step until all have finished."""
        steps = self.kv.stream(self._runner(), self.spec, [j.prompt for j in jobs], [j.params for j in jobs])
        try:
            for step in steps:
                for job, token in zip(jobs, step):
                    if job.finish is not None:
                        continue
                    if token is None:
                        job.finish = self._ended_without_token(job)
                        continue
                    self._add_token(job, token, incremental)
                    if job.finish is None and len(job.tokens) >= job.params.max_tokens:
                        job.finish = "length"
                yield jobs
                if all(j.finish is not None for j in jobs):
                    break
        finally:
            steps.close()
        for job in jobs:
            if job.finish is None:
                job.finish = self._ended_without_token(job)
            if not job.stop:
                job.text = self.tokenizer.decode(job.tokens, skip_special_tokens=True)

    def _ended_without_token(self, job: Job) -> str:
        limit = self.spec.max_positions
        return "length" if limit is not None and len(job.prompt) + len(job.tokens) >= limit else "stop"

    @staticmethod
    def response(text: str, tokens: list[int], finish: str) -> Any:
        """One response with the three outputs (batch dimension 1)."""
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor("text_output", np.array([[text.encode("utf-8")]], dtype=np.object_)),
            pb_utils.Tensor("token_ids", np.array([tokens], dtype=np.int64).reshape(1, len(tokens))),
            pb_utils.Tensor("finish_reason", np.array([[finish.encode("utf-8")]], dtype=np.object_)),
        ])

    @staticmethod
    def error(message: str, code: Any) -> Any:
        """An error response; INVALID_ARG reaches HTTP clients as 400."""
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, code))

    async def execute(self, requests: list[Any]) -> list[Any] | None:
        """Answer a batch of requests: bad ones get an error naming the field, the others one loop
        (or, in a front, one BLS call each to the cached model)."""
        jobs: dict[int, Job] = {}
        errors: dict[int, Any] = {}
        for i, request in enumerate(requests):
            try:
                jobs[i] = self.parse(request)
            except self.checks.RequestError as e:
                errors[i] = self.error(str(e), pb_utils.TritonError.INVALID_ARG)
        if self.decoupled:
            self._execute_stream(requests, jobs, errors)
            return None
        if self.forward_to:
            forwarded = await asyncio.gather(*(self._forward(requests[i]) for i in jobs))
            answers = dict(zip(jobs, forwarded))
            return [errors[i] if i in errors else answers[i] for i in range(len(requests))]
        if jobs:
            try:
                for _ in self.decode(list(jobs.values()), incremental=False):
                    pass
            except Exception as e:  # reported to every client of the batch, and in the server log
                pb_utils.Logger.log_error(f"{self.config['name']}: generation failed: {e!r}")
                errors.update({i: self.error(f"generation failed: {e}", pb_utils.TritonError.INTERNAL)
                               for i in jobs})
                jobs = {}
        return [errors[i] if i in errors else self.response(jobs[i].text, jobs[i].tokens, jobs[i].finish)
                for i in range(len(requests))]

    async def _forward(self, request: Any) -> Any:
        inner = pb_utils.InferenceRequest(model_name=self.forward_to, model_version=self.version,
                                          requested_output_names=list(OUTPUTS), inputs=request.inputs())
        response = await inner.async_exec()
        if response.has_error():
            return pb_utils.InferenceResponse(error=response.error())
        return pb_utils.InferenceResponse(output_tensors=response.output_tensors())

    def _execute_stream(self, requests: list[Any], jobs: dict[int, Job], errors: dict[int, Any]) -> None:
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        senders = {i: r.get_response_sender() for i, r in enumerate(requests)}
        for i, response in errors.items():
            senders[i].send(response, flags=final)
        if not jobs:
            return
        done: set[int] = set()
        cancelled = {i: model_plumbing.ThrottledCancelCheck(requests[i]) for i in jobs}
        try:
            for _ in self.decode(list(jobs.values()), incremental=True):
                for i, job in jobs.items():
                    if i in done:
                        continue
                    if job.finish is None and cancelled[i]():
                        # its row stops decoding; the loop ends when every row has
                        job.finish = "cancelled"
                        pb_utils.Logger.log_info(f"{self.config['name']}: a request was cancelled by its client "
                                                 f"after {len(job.tokens)} tokens")
                    if job.finish is not None:
                        senders[i].send(self.response(self._ready_text(job), self._new_tokens(job), job.finish),
                                        flags=final)
                        done.add(i)
                        continue
                    piece = self._ready_text(job)
                    if piece:
                        senders[i].send(self.response(piece, self._new_tokens(job), ""))
        except Exception as e:  # the streams still get their final response, carrying the error
            pb_utils.Logger.log_error(f"{self.config['name']}: generation failed: {e!r}")
            for i in set(jobs) - done:
                senders[i].send(self.error(f"generation failed: {e}", pb_utils.TritonError.INTERNAL), flags=final)
            return
        for i, job in jobs.items():
            if i not in done:
                senders[i].send(self.response(self._ready_text(job), self._new_tokens(job), job.finish),
                                flags=final)

    @staticmethod
    def _new_tokens(job: Job) -> list[int]:
        tokens = job.tokens[job.tokens_sent:]
        job.tokens_sent = len(job.tokens)
        return tokens
