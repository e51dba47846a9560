"""A Hugging Face sequence-classification folder as a classifier: checked before a job, loaded on a
worker (safetensors only, through fullchain.pipelines.hf_loading), and run on batches of texts."""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import ModelCheckError
from fullchain.pipelines.hf_loading import (ModelFolderError, load_pretrained, model_folder, quiet_model_loading,
                                            safetensors_weights)


@dataclass(frozen=True)
class HFClassifierInfo:
    """What config.json says of a sequence-classification folder: its labels (in id order), how
    scores are read (softmax over exclusive labels; sigmoid per label for multi-label models; the
    raw output for a regression head, such as FineWeb-Edu's educational score), and its positions."""

    labels: tuple[str, ...]
    multi_label: bool
    regression: bool
    max_positions: int | None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def hf_classifier_info(option: str, path: str) -> HFClassifierInfo:
    """Read and check a folder's config.json: a *ForSequenceClassification architecture with its
    labels. ModelCheckError naming `option` (e.g. classify.classifiers.safety) in one line otherwise."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise ModelCheckError(f"{option}: cannot read a model config in {path}: {_first_line(e)}") from None
    known = set(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.values())
    architectures = config.architectures or []
    if not any(a in known for a in architectures):
        named = ", ".join(architectures) or f"model type {config.model_type} without an architecture"
        raise ModelCheckError(f"{option}: {path} is a {named}, not a sequence-classification model "
                              f"(*ForSequenceClassification) or a folder of `fullchain classifier train`")
    labels = tuple(str(config.id2label[i]) for i in sorted(config.id2label))
    # a single-output head is a regression (transformers treats num_labels == 1 so when unset)
    regression = config.problem_type == "regression" or (config.problem_type is None and len(labels) == 1)
    return HFClassifierInfo(labels, config.problem_type == "multi_label_classification", regression,
                            getattr(config, "max_position_embeddings", None))


def check_hf_classifier(option: str, path: str) -> HFClassifierInfo:
    """hf_classifier_info, plus: the weights are whole safetensors files (never pickle) and the
    tokenizer loads. Reads headers, not weights."""
    from transformers import AutoTokenizer

    info = hf_classifier_info(option, path)
    try:
        safetensors_weights(model_folder(path))
    except ModelFolderError as e:
        raise ModelCheckError(f"{option}: {e}") from None
    try:
        AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError) as e:
        raise ModelCheckError(f"{option}: cannot load the tokenizer of {path}: {_first_line(e)}") from None
    return info


class HFClassifier:
    """A loaded sequence-classification model and its tokenizer; `scores` runs one padded batch."""

    def __init__(self, path: str, max_tokens: int, device: str):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        quiet_model_loading()
        self.info = hf_classifier_info(path, path)
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if self._tokenizer.pad_token is None:
            # batches are padded; a tokenizer without a pad token pads with its end-of-text token
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._model = load_pretrained(AutoModelForSequenceClassification, path).to(device).eval()
        self._device = torch.device(device)
        # a model reads no more tokens than it has positions
        self._max_tokens = min(max_tokens, self.info.max_positions or max_tokens)

    def scores(self, texts: list[str]) -> list[dict[str, float]]:
        """{label: probability} of each text (for a regression head: {label: output}), from its first
        max_tokens tokens."""
        import torch

        tokenizer = self._tokenizer
        encoded = tokenizer(list(texts), truncation=True, max_length=self._max_tokens)
        # a text that encodes to nothing (empty, and a tokenizer that adds no special tokens) is
        # scored as one end-of-text token: a model cannot run on zero positions
        filler = next(t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id, 0) if t is not None)
        for i, ids in enumerate(encoded["input_ids"]):
            if not ids:
                encoded["input_ids"][i] = [filler]
                encoded["attention_mask"][i] = [1]
        encoded = tokenizer.pad({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]},
                                return_tensors="pt")
        with torch.inference_mode():
            logits = self._model(**{k: v.to(self._device) for k, v in encoded.items()}).logits.float()
        if self.info.regression:
            probs = logits
        else:
            probs = torch.sigmoid(logits) if self.info.multi_label else torch.softmax(logits, dim=-1)
        labels = self.info.labels
        return [dict(zip(labels, row)) for row in probs.cpu().tolist()]

