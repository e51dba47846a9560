"""`fullchain-served`: a model published by `fullchain publish` and served by Triton, as
lm-evaluation-harness's `LM`.

- log-likelihoods: the ONNX model `<name>` is called directly through Triton's inference API with
  the whole left-padded batch (context and continuation) in one request, exactly the feeds the
  in-process ONNX backend gives its session, so a served INT8 graph scores what in-process INT8 scores;
- generation: the generation model `<name>_generate` through fullchain.deploy.client, one request
  per prompt (the server tokenizes the text and stops at the stop strings), as users call it.
- `scoring=llm` (MODEL `grpc://HOST:PORT/NAME`): everything over gRPC, log-likelihoods from the
  continuous-batching model `<name>_llm`, which the pip wheel's server runs (it has no onnxruntime
  backend for `<name>`): each row whole, as its prompt ids, echoed with the prompt's
  log-probabilities, one request at a time (dynamic INT8 scores depend on batch mates);
  fullchain-onnx with `full_rows=true,batch_size=1` scores the same rows the same way.

The tokenizer and the graph's facts come from `export`, the export folder that was published (or a
`<name>_generate/<version>/` folder of the repository, which holds the same files).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tritonclient.http as httpclient
from tqdm import tqdm
from tritonclient.utils import InferenceServerException

from fullchain.deploy.client import ClientError, GenerationClient, server_url
from fullchain.deploy.config import ClientConfig, SamplingConfig
from fullchain.deploy.repository import RepositoryError, read_export
from fullchain.deploy.triton_config import llm_model_name
from fullchain.evaluation.harness_lm import BackendError, FullchainLM, batch_count
from fullchain.exporters import kv_decoding

NUMPY_TO_TRITON = {np.dtype(np.int64): "INT64", np.dtype(np.float32): "FP32"}
SCORINGS = ("onnx", "llm")
# the echo's scores and the end of the answer: all that scoring reads
ECHO_OUTPUTS = ("prompt_logprobs", "prompt_top_token_ids", "finish_reason")


class ServedLM(FullchainLM):
    """lm-evaluation-harness model over Triton at `url` (host:port; HTTP, gRPC with `scoring` "llm"),
    published name `model`, with the tokenizer and export.json of `export`."""

    def __init__(self, url: str, model: str, export: str, batch_size: int | str = 8, timeout_s: float | str = 120,
                 scoring: str = "onnx", **kwargs: Any):
        if scoring not in SCORINGS:
            raise BackendError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
        try:
            meta = read_export(export)
        except RepositoryError as e:
            raise BackendError(f"served model {model}: {e}") from None
        protocol = "grpc" if scoring == "llm" else "http"
        self.url = server_url(ClientConfig(url=url, protocol=protocol))
        self.name = model
        self.timeout_s = float(timeout_s)
        self.scoring = scoring
        self.generation = GenerationClient(ClientConfig(url=self.url, model=model, protocol=protocol,
                                                        timeout_s=self.timeout_s))
        if scoring == "llm":
            self.llm = llm_model_name(model)
            self.grpc = self.generation.client
            self._check_llm()
            batch = 1
        else:
            self.client = httpclient.InferenceServerClient(self.url, connection_timeout=self.timeout_s,
                                                           network_timeout=self.timeout_s)
            served_batch = self._check_served(meta)
            batch = batch_count(batch_size, 8)
            batch = min(batch, served_batch) if served_batch > 0 else batch
        super().__init__(export, int(meta.get("max_positions") or 2048), meta.get("bos_token_id"),
                         meta.get("stop_token_ids") or [], batch, 1, f"served {model} ({meta.get('precision')})",
                         full_rows=scoring == "llm")
        self.spec = kv_decoding.DecoderSpec.from_export(meta)
        self.outputs = [o["name"] for o in meta["outputs"]]

    def _check_served(self, meta: dict[str, Any]) -> int:
        """The served model's max_batch_size, after checking that the server answers and that `<name>`
        is ready and takes export.json's inputs; BackendError in one line otherwise."""
        try:
            if not self.client.is_server_ready():
                raise BackendError(f"Triton at {self.url} is not ready")
            if not self.client.is_model_ready(self.name):
                raise BackendError(f"Triton at {self.url} has no ready model {self.name!r} (the ONNX model of the "
                                   f"published name; the wheel's server needs the onnxruntime backend for it)")
            config = self.client.get_model_config(self.name)
        except InferenceServerException as e:
            raise BackendError(f"Triton at {self.url}: {e.message()}") from None
        except (ConnectionError, OSError) as e:
            raise BackendError(f"cannot reach Triton at {self.url}: {e}") from None
        served = {i["name"] for i in config.get("input", [])}
        expected = {i["name"] for i in meta["inputs"]}
        if served != expected:
            raise BackendError(f"served model {self.name!r} takes other inputs than the export's export.json "
                               f"({len(served)} vs {len(expected)}): pass the export folder that was published")
        return int(config.get("max_batch_size", 0))

    def _check_llm(self) -> None:
        try:
            if not self.grpc.is_model_ready(self.llm):
                raise BackendError(f"Triton at {self.url} has no ready model {self.llm!r} (the continuous-batching "
                                   f"model of the published name)")
        except InferenceServerException as e:
            raise BackendError(f"cannot reach Triton's gRPC endpoint at {self.url}: {e.message()}") from None

    def score_rows(self, rows: list, desc: str, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        if self.scoring != "llm":
            return super().score_rows(rows, desc, disable_tqdm)
        answers = []
        for row in tqdm(rows, desc=desc, unit="request", disable=disable_tqdm):
            logprobs, top = self._echo(row.tokens + row.continuation[-1:])
            n = len(row.continuation)
            answers.append((float(logprobs[-n:].astype(np.float64).sum()),
                            bool((top[-n:] == np.asarray(row.continuation)).all())))
        return answers

    def _echo(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(log-probability, most likely token) at each position of `ids` after the first, from one
        echo request to `<name>_llm` (it generates one greedy token besides, unread)."""
        try:
            pieces = list(self.generation.stream_llm(ids, SamplingConfig(max_tokens=1, temperature=0.0), echo=True,
                                                     outputs=ECHO_OUTPUTS))
        except ClientError as e:
            raise BackendError(f"served model {self.llm}: {e}") from None
        echoed = next((p for p in pieces if p.prompt_logprobs), None)
        if echoed is None:
            raise BackendError(f"served model {self.llm}: the echo request returned no prompt log-probabilities")
        return (np.asarray(echoed.prompt_logprobs[1:], dtype=np.float32),
                np.asarray(echoed.prompt_top_token_ids[1:], dtype=np.int64))

    def batch_logits(self, rows: list[list[int]]) -> np.ndarray:
        feeds = kv_decoding.prefill_feeds(self.spec, rows)
        inputs = []
        for name, value in feeds.items():
            tensor = httpclient.InferInput(name, list(value.shape), NUMPY_TO_TRITON[value.dtype])
            tensor.set_data_from_numpy(value, binary_data=True)
            inputs.append(tensor)
        try:
            result = self.client.infer(self.name, inputs, outputs=[
                httpclient.InferRequestedOutput("logits", binary_data=True)])
        except InferenceServerException as e:
            raise BackendError(f"served model {self.name}: {e.message()}") from None
        return result.as_numpy("logits")

    def generate_tokens(self, prompts: list[list[int]], texts: list[str], max_tokens: int,
                        until: list[str]) -> list[list[int]]:
        results = []
        for text in texts:
            sampling = SamplingConfig(max_tokens=max_tokens, temperature=0.0, stop=list(until))
            try:
                done = self.generation.generate(text, sampling)
            except ClientError as e:
                raise BackendError(f"served model {self.name}: {e}") from None
            results.append(done.token_ids)
        return results

