"""Causal-LM perplexity inside Beam's RunInference: a ModelHandler and the check to run before a job."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from fullchain.pipelines.config import ModelCheckError
from fullchain.pipelines.hf_loading import (ModelFolderError, load_pretrained, model_folder, quiet_model_loading,
                                  safetensors_weights)
from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.perplexity.scoring import METRICS_NAMESPACE, scoring_windows



@dataclass(frozen=True)
class LoadedModel:
    """What one worker process holds: the causal LM, its own tokenizer and the device they run on.

    A dataclass, not a tuple: RunInference shares it between threads through a weak reference.
    """

    model: Any
    tokenizer: Any
    device: Any


class DocumentLoss(NamedTuple):
    """The inference for one text: summed negative log-likelihood of its scored tokens, and their count."""

    nll_sum: float
    n_tokens: int


def check_model(path: str, window_tokens: int | None = None) -> str:
    """Fail fast, before a job starts, unless `path` holds a causal LM that can score `window_tokens`.

    Reads the config, the safetensors headers and the tokenizer, not the weights. Returns the
    architecture name; raises ModelCheckError with one line: path not set or missing, no config, not
    a causal LM (naming the architecture), windows longer than the model's positions, weights that
    are not whole safetensors files (pickle is never loaded), or no tokenizer.
    """
    from transformers import AutoConfig, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if not path:
        raise ModelCheckError("ppl_filter.model is not set: give the folder of a causal LM")
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        if not os.path.isdir(path):
            raise ModelCheckError(f"ppl_filter.model: {path} is neither a folder nor a model id in the local "
                                  f"Hugging Face cache (nothing is downloaded)") from None
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelCheckError(f"ppl_filter.model: cannot read a model config in {path}: {first_line}") from None
    causal_architectures = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    # the model type alone is not enough: marian or bert also have causal-LM heads, but a saved
    # MarianMTModel or BertModel is not one; the saved architecture says what the weights are
    architectures = config.architectures or [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.model_type, "")]
    causal = [a for a in architectures if a in causal_architectures]
    if not causal:
        named = ", ".join(a for a in architectures if a) or f"model type {config.model_type}"
        raise ModelCheckError(f"ppl_filter.model: {path} is a {named}, not a causal language model "
                              f"(perplexity needs a *ForCausalLM model such as LlamaForCausalLM)")
    positions = getattr(config, "max_position_embeddings", None)
    if window_tokens is not None and positions is not None and window_tokens + 1 > positions:
        raise ModelCheckError(f"ppl_filter.window_tokens: {window_tokens} + 1 BOS token exceeds the "
                              f"{positions} positions of {path}")
    try:
        safetensors_weights(model_folder(path))
    except ModelFolderError as e:
        raise ModelCheckError(f"ppl_filter.model: {e}") from None
    try:
        AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelCheckError(f"ppl_filter.model: cannot load the tokenizer of {path}: {first_line}") from None
    return causal[0]


class PerplexityModelHandler(ModelHandler[str, PredictionResult, LoadedModel]):
    """Scores texts with a causal LM: each PredictionResult's inference is a DocumentLoss.

    A text is tokenized with the model's own tokenizer, cut into scoring windows (see
    `scoring_windows`), and the windows of a batch run through the model padded on the right, in
    as few forward passes as max_batch_tokens allows; padding never changes a text's loss.

    Used alone with RunInference, Beam batches up to batch_size texts in arrival order;
    FilterByPerplexity batches by length itself and hands over whole batches.
    """

    def __init__(self, cfg: PerplexityConfig):
        super().__init__(max_batch_size=cfg.batch_size)
        self._cfg = cfg

    def load_model(self) -> LoadedModel:
        """The model (its safetensors files only) and its tokenizer, from local files only, in eval mode
        on the configured device."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self._cfg.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        quiet_model_loading()
        tokenizer = AutoTokenizer.from_pretrained(self._cfg.model, local_files_only=True)
        model = load_pretrained(AutoModelForCausalLM, self._cfg.model, dtype=getattr(torch, self._cfg.dtype))
        model.to(device).eval()
        return LoadedModel(model, tokenizer, torch.device(device))

    def run_inference(self, batch: Sequence[str], model: LoadedModel,
                      inference_args: dict[str, Any] | None = None) -> Iterable[PredictionResult]:
        """One DocumentLoss per text; a text with nothing to score gets DocumentLoss(0.0, 0)."""
        tokenizer = model.tokenizer
        context_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        token_ids = tokenizer(list(batch), add_special_tokens=False)["input_ids"]
        owners, windows = [], []
        for i, ids in enumerate(token_ids):
            for window in scoring_windows(ids, self._cfg.window_tokens, self._cfg.max_windows, context_id):
                owners.append(i)
                windows.append(window)
        nll = [0.0] * len(batch)
        counts = [0] * len(batch)
        for chunk in _forward_chunks(windows, self._cfg.max_batch_tokens):
            for index, (loss, count) in zip(chunk, _window_losses([windows[j] for j in chunk], model)):
                nll[owners[index]] += loss
                counts[owners[index]] += count
        return [PredictionResult(text, DocumentLoss(loss, count)) for text, loss, count in zip(batch, nll, counts)]

    def get_metrics_namespace(self) -> str:
        """RunInference's own metrics (inference counts, latencies) share the stage's namespace."""
        return METRICS_NAMESPACE


def _forward_chunks(windows: list[list[int]], max_batch_tokens: int) -> list[list[int]]:
    """Window indices grouped into forward passes of at most max_batch_tokens padded tokens,
    longest first so that each pass pads to a similar length."""
    order = sorted(range(len(windows)), key=lambda j: -len(windows[j]))
    chunks: list[list[int]] = []
    for j in order:
        # sorted longest first, so the first window of a chunk sets its padded length
        if chunks and (len(chunks[-1]) + 1) * len(windows[chunks[-1][0]]) <= max_batch_tokens:
            chunks[-1].append(j)
        else:
            chunks.append([j])
    return chunks


def _window_losses(windows: list[list[int]], model: LoadedModel) -> list[tuple[float, int]]:
    """(summed NLL, predicted tokens) of each window, from one forward pass over the padded windows."""
    import torch

    length = max(len(w) for w in windows)
    ids = torch.zeros((len(windows), length), dtype=torch.long)
    mask = torch.zeros((len(windows), length), dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, :len(window)] = torch.tensor(window)
        mask[row, :len(window)] = 1
    with torch.inference_mode():
        logits = model.model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
        losses = []
        for row, window in enumerate(windows):
            n = len(window) - 1
            # float32 log-softmax: bf16/fp16 logits lose too much precision for summed losses
            loss = torch.nn.functional.cross_entropy(logits[row, :n].float(), ids[row, 1:n + 1].to(model.device),
                                                     reduction="sum")
            losses.append((loss.item(), n))
    return losses
