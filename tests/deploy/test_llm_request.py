"""The request checks of `<name>_llm` (deploy/triton_models/llm/llm_request.py), loaded by path as
the model loads them from its version folder: token-id prompts, max_tokens 0, logprobs/echo flags,
and the generation model's rules for the sampling fields."""

import importlib.util
import sys

import numpy as np
import pytest

from fullchain.deploy.repository import LLM_MODEL_FILES

VOCAB = 400


def _load(name):
    spec = importlib.util.spec_from_file_location(f"fullchain_llm_{name}", LLM_MODEL_FILES[f"{name}.py"])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules():
    checks = _load("request_checks")
    limits = checks.RequestLimits(default_max_tokens=16, max_tokens_limit=64, max_prompt_bytes=1000,
                                  seed_required=False)
    return _load("llm_request"), checks, limits


def decode(modules, **fields):
    llm_request, checks, limits = modules
    return llm_request.decode_llm_request(fields, limits, VOCAB, checks)


def test_token_ids_prompt_and_scoring_request(modules):
    # Triton-shaped values: [1, n] ids, [1, 1] flags
    checked = decode(modules, prompt_ids=np.array([[1, 5, 399]], dtype=np.int64), max_tokens=np.array([[0]]),
                     echo=np.array([[True]]), logprobs=np.array([[False]]))
    assert (checked.prompt_ids, checked.text, checked.max_tokens, checked.echo, checked.logprobs) == \
        ((1, 5, 399), None, 0, True, False)
    # the text is the prompt when no ids come; the defaults of the generation model
    text = decode(modules, text=np.array([[b"The river"]], dtype=np.object_))
    assert (text.text, text.prompt_ids, text.max_tokens, text.temperature, text.echo) == \
        ("The river", None, 16, 0.0, False)
    # ids win over text
    assert decode(modules, text=np.array([[b"x"]], dtype=np.object_), prompt_ids=np.array([[7]])).prompt_ids == (7,)


@pytest.mark.parametrize("fields,message", [
    ({}, "text: required (or prompt_ids)"),
    ({"prompt_ids": np.zeros((1, 0), dtype=np.int64)}, "prompt_ids: must not be empty"),
    ({"prompt_ids": np.array([[1, VOCAB]])}, f"prompt_ids: every id must be within 0..{VOCAB - 1}, got {VOCAB}"),
    ({"prompt_ids": np.array([[-1]])}, "prompt_ids: every id must be within"),
    ({"prompt_ids": np.array([[1]]), "max_tokens": np.array([[65]])}, "max_tokens: must be within 0..64, got 65"),
    ({"prompt_ids": np.array([[1]]), "max_tokens": np.array([[-1]])}, "max_tokens: must be within 0..64, got -1"),
    ({"prompt_ids": np.array([[1]]), "echo": np.array([[1]])}, "echo: must be true or false, got 1"),
    ({"prompt_ids": np.array([[1]]), "logprobs": np.array([[b"yes"]], dtype=np.object_)},
     "logprobs: must be true or false"),
    ({"prompt_ids": np.array([[1]]), "temperature": np.array([[1e-9]], dtype=np.float32)}, "temperature: must be 0"),
    ({"prompt_ids": np.array([[1]]), "top_p": np.array([[0.0]], dtype=np.float32)}, "top_p: must be within (0, 1]"),
    ({"text": np.array([[b"x" * 1001]], dtype=np.object_)}, "text: 1001 bytes; at most 1000 are accepted"),
])
def test_bad_fields_are_named(modules, fields, message):
    _, checks, _ = modules
    with pytest.raises(checks.RequestError) as e:
        decode(modules, **fields)
    assert str(e.value).startswith(message)
