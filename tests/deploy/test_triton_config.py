"""The config.pbtxt texts written for a published model."""

import re

import pytest

from fullchain.deploy.config import BatchingConfig, GenerationModelConfig, LlmModelConfig, PublishConfig
from fullchain.deploy.triton_config import generation_models, onnx_model_config

EXPORT = {
    "inputs": [{"name": "input_ids", "dtype": "int64", "dims": [-1, -1]},
               {"name": "attention_mask", "dtype": "int64", "dims": [-1, -1]},
               {"name": "position_ids", "dtype": "int64", "dims": [-1, -1]},
               {"name": "past_key_values.0.key", "dtype": "float32", "dims": [-1, 2, -1, 8]},
               {"name": "past_key_values.0.value", "dtype": "float32", "dims": [-1, 2, -1, 8]}],
    "outputs": [{"name": "logits", "dtype": "float32", "dims": [-1, -1, 400]},
                {"name": "present.0.key", "dtype": "float32", "dims": [-1, 2, -1, 8]},
                {"name": "present.0.value", "dtype": "float32", "dims": [-1, 2, -1, 8]}],
}


def test_onnx_config_has_exact_tensors_batching_and_instances():
    cfg = PublishConfig(name="m", instance_kind="gpu", instance_count=2, version_policy="specific:1,3",
                        batching=BatchingConfig(max_batch_size=16, preferred_batch_sizes=[8, 4],
                                                max_queue_delay_us=500, max_queue_size=32))
    text = onnx_model_config("m", EXPORT, cfg)
    assert 'platform: "onnxruntime_onnx"' in text
    assert "max_batch_size: 16" in text
    # the batch dimension is Triton's (max_batch_size > 0): dims start after it
    assert '{ name: "input_ids" data_type: TYPE_INT64 dims: [ -1 ] }' in text
    assert '{ name: "past_key_values.0.key" data_type: TYPE_FP32 dims: [ 2, -1, 8 ] }' in text
    assert '{ name: "logits" data_type: TYPE_FP32 dims: [ -1, 400 ] }' in text
    assert "preferred_batch_size: [ 4, 8 ]" in text
    assert "max_queue_delay_microseconds: 500" in text
    assert "max_queue_size: 32" in text and "timeout_action: REJECT" in text
    assert "instance_group [ { kind: KIND_GPU count: 2 } ]" in text
    assert "version_policy: { specific: { versions: [ 1, 3 ] } }" in text
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")


def test_no_dynamic_batching_block_when_disabled():
    cfg = PublishConfig(name="m", batching=BatchingConfig(enabled=False))
    assert "dynamic_batching" not in onnx_model_config("m", EXPORT, cfg)
    assert all("dynamic_batching" not in t for t in generation_models("m", cfg).values())


def test_cache_on_puts_a_front_before_the_cached_model():
    models = generation_models("m", PublishConfig(name="m"))
    assert list(models) == ["m_generate", "m_generate_cached", "m_generate_stream", "m_llm"]
    models.pop("m_llm")
    front, cached, stream = models.values()
    assert "response_cache {" not in front and 'key: "forward_to" value: { string_value: "m_generate_cached" }' in front
    assert "response_cache { enable: true }" in cached and "forward_to" not in cached
    assert "decoupled: true" in stream and "response_cache {" not in stream
    for text in models.values():
        assert 'backend: "python"' in text
        assert '{ name: "text" data_type: TYPE_STRING dims: [ 1 ] }' in text
        assert '{ name: "stop" data_type: TYPE_STRING dims: [ -1 ] optional: true }' in text
        assert 'key: "onnx_model" value: { string_value: "m" }' in text


def test_cache_off_writes_one_plain_generation_model():
    cfg = PublishConfig(name="m", generate=GenerationModelConfig(response_cache=False, stream_model=False),
                        llm=LlmModelConfig(enabled=False))
    models = generation_models("m", cfg)
    assert list(models) == ["m_generate"]
    assert "response_cache {" not in models["m_generate"] and "forward_to" not in models["m_generate"]


def test_the_llm_model_is_decoupled_and_batches_itself():
    cfg = PublishConfig(name="m", llm=LlmModelConfig(max_batch_size=16, kv_cache_tokens=4096, max_queue_size=3))
    text = generation_models("m", cfg)["m_llm"]
    # one request per execute and no dynamic batcher: the model's own scheduler batches
    assert "max_batch_size: 1\n" in text and "dynamic_batching" not in text and "decoupled: true" in text
    assert '{ name: "text" data_type: TYPE_STRING dims: [ 1 ] optional: true }' in text
    assert '{ name: "prompt_ids" data_type: TYPE_INT64 dims: [ -1 ] optional: true }' in text
    assert '{ name: "echo" data_type: TYPE_BOOL dims: [ 1 ] optional: true }' in text
    assert '{ name: "prompt_logprobs" data_type: TYPE_FP32 dims: [ -1 ] }' in text
    for key, value in (("max_batch_size", "16"), ("kv_cache_tokens", "4096"), ("max_queue_size", "3"),
                       ("onnx_model", "m")):
        assert f'key: "{key}" value: {{ string_value: "{value}" }}' in text
    with pytest.raises(ValueError, match="max_queue_size must be an integer within 1"):
        LlmModelConfig(max_queue_size=0)


@pytest.mark.parametrize("policy,expected", [("latest:2", "latest: { num_versions: 2 }"), ("all", "all: {}")])
def test_version_policies(policy, expected):
    assert expected in onnx_model_config("m", EXPORT, PublishConfig(name="m", version_policy=policy))


@pytest.mark.parametrize("kwargs", [{"version_policy": "newest"}, {"instance_kind": "tpu"},
                                    {"batching": {"max_batch_size": 4, "preferred_batch_sizes": [8]}}])
def test_bad_publish_settings_are_refused(kwargs):
    if "batching" in kwargs:
        with pytest.raises(ValueError, match="preferred_batch_sizes"):
            BatchingConfig(**kwargs["batching"])
    else:
        with pytest.raises(ValueError, match=re.escape(next(iter(kwargs)))):
            PublishConfig(name="m", **kwargs)
