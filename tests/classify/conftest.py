"""A tiny random Hugging Face sequence-classification model and a trained hashed classifier, once per session."""

import os

import pytest
import torch
from transformers import LlamaConfig, LlamaForSequenceClassification

from fullchain.pipelines.classify.features import FeatureSpec
from fullchain.pipelines.classify.hashed_model import save_classifier
from fullchain.pipelines.classify.training import TrainSettings, train_classifier
from tests.classify.test_training import sets
from tests.tiny_models import tiny_tokenizer

SAFETY_LABELS = ("safe", "unsafe")


def tiny_sequence_classifier(path: str, labels=SAFETY_LABELS, seed: int = 0, problem_type=None) -> str:
    """Save a 1-layer Llama sequence classifier (random weights, safetensors) with the tiny tokenizer."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, num_labels=len(labels),
                         id2label=dict(enumerate(labels)), label2id={x: i for i, x in enumerate(labels)},
                         problem_type=problem_type)
    os.makedirs(path, exist_ok=True)
    LlamaForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def safety_model(tmp_path_factory) -> str:
    return tiny_sequence_classifier(str(tmp_path_factory.mktemp("safety")))


@pytest.fixture(scope="session")
def quality_model(tmp_path_factory) -> str:
    pos, neg = sets(40)
    trained = train_classifier(pos, neg, FeatureSpec(hash_bits=12), TrainSettings(epochs=30))
    folder = str(tmp_path_factory.mktemp("quality"))
    save_classifier(folder, trained, ("junk", "good"), TrainSettings(epochs=30), {})
    return folder


@pytest.fixture(scope="session")
def causal_lm(tmp_path_factory) -> str:
    from tests.tiny_models import tiny_causal_lm

    return tiny_causal_lm(str(tmp_path_factory.mktemp("causal_lm")))
