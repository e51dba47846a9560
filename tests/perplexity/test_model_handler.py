"""PerplexityModelHandler on a tiny Llama, and check_model's one-line errors."""

import math
import os
import shutil

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BertConfig, BertModel

from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.perplexity.model_handler import ModelCheckError, PerplexityModelHandler, check_model
from fullchain.pipelines.perplexity.scoring import perplexity

TEXTS = [
    "The river that runs through the old market town has shaped the lives of the people.",
    "Local historians gathered letters.",
    "这条穿过老城的河流，几百年来一直影响着两岸居民的生活。",
    "zq xv kkj river wobble 1234 ##",
]


def handler_perplexities(handler, model, texts):
    return [perplexity(r.inference.nll_sum, r.inference.n_tokens) for r in handler.run_inference(texts, model)]


def direct_perplexity(path, text):
    """exp(mean NLL) computed straight with transformers: BOS + text, labels = inputs."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss
    return math.exp(loss.item())


@pytest.fixture(scope="module")
def loaded(causal_lm):
    handler = PerplexityModelHandler(PerplexityConfig(model=causal_lm, window_tokens=128))
    return handler, handler.load_model()


def test_perplexity_equals_direct_computation(loaded, causal_lm):
    handler, model = loaded
    for text, ppl in zip(TEXTS[:2], handler_perplexities(handler, model, TEXTS[:2])):
        assert ppl == pytest.approx(direct_perplexity(causal_lm, text), rel=1e-4)


def test_batching_and_padding_do_not_change_scores(loaded, causal_lm):
    handler, model = loaded
    one_by_one = [handler_perplexities(handler, model, [text])[0] for text in TEXTS]
    batched = handler_perplexities(handler, model, TEXTS)
    assert batched == pytest.approx(one_by_one, rel=1e-4)
    # several forward passes (a tight token budget) give the same scores too
    small_passes = PerplexityModelHandler(PerplexityConfig(model=causal_lm, window_tokens=128, max_batch_tokens=129))
    assert handler_perplexities(small_passes, model, TEXTS) == pytest.approx(one_by_one, rel=1e-4)


def test_windows_bound_the_scored_tokens(loaded, causal_lm):
    handler, model = loaded
    text = TEXTS[0] * 5
    n_all = handler.run_inference([text], model)[0].inference.n_tokens
    windowed = PerplexityModelHandler(PerplexityConfig(model=causal_lm, window_tokens=10, max_windows=3))
    assert windowed.run_inference([text], model)[0].inference.n_tokens == 30 < n_all


def test_empty_text_scores_no_token(loaded):
    handler, model = loaded
    results = handler.run_inference(["", "ok"], model)
    assert results[0].inference.n_tokens == 0 and results[1].inference.n_tokens > 0
    assert handler.get_metrics_namespace() == "fullchain.ppl_filter"


def test_check_model_accepts_a_causal_lm(causal_lm):
    assert check_model(causal_lm, 128) == "LlamaForCausalLM"


def test_check_model_errors_are_one_line(tmp_path, seq2seq, causal_lm):
    bert = str(tmp_path / "bert")
    BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(bert)
    no_tokenizer = str(tmp_path / "no_tokenizer")
    AutoConfig.from_pretrained(causal_lm).save_pretrained(no_tokenizer)
    shutil.copy(os.path.join(causal_lm, "model.safetensors"), no_tokenizer)
    no_weights = str(tmp_path / "no_weights")
    shutil.copytree(causal_lm, no_weights, ignore=shutil.ignore_patterns("*.safetensors"))
    cases = {
        "": "ppl_filter.model is not set",
        str(tmp_path / "missing"): "is neither a folder nor a model id in the local Hugging Face cache",
        "someorg/not-cached": "is neither a folder nor a model id",
        str(tmp_path): "cannot read a model config in",
        seq2seq: "is a MarianMTModel, not a causal language model",
        bert: "is a BertModel, not a causal language model",
        no_tokenizer: "cannot load the tokenizer of",
        no_weights: "no model.safetensors or model.safetensors.index.json",
    }
    for path, expected in cases.items():
        with pytest.raises(ModelCheckError) as e:
            check_model(path)
        assert expected in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ModelCheckError, match="window_tokens: 1024 \\+ 1 BOS token exceeds the 1024 positions"):
        check_model(causal_lm, 1024)
