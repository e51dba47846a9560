"""exporters.kv_decoding on a fake graph: cache plumbing, left padding, stopping, sampling."""

import ast
import os

import numpy as np
import pytest

from fullchain.exporters import kv_decoding
from fullchain.exporters.kv_decoding import DecoderSpec, SamplingParams, generate, next_token, stream

VOCAB = 50
SPEC = DecoderSpec(num_layers=2, num_kv_heads=1, head_dim=1, pad_token_id=0)


class FakeGraph:
    """A graph obeying the contract whose next token is (sum of the row's real tokens) mod VOCAB.

    Keys cache the token ids, so the sum is only right when the loop feeds the cache back, masks the
    padding and computes positions as the contract says (it checks them and raises otherwise).
    `flat` makes every token equally likely, for sampling tests. Records the batch size of each call.
    """

    def __init__(self, flat=False):
        self.flat = flat
        self.batch_sizes = []

    def __call__(self, feeds):
        ids, mask = feeds["input_ids"], feeds["attention_mask"]
        past = feeds["past_key_values.0.key"]
        assert mask.shape[1] == past.shape[2] + ids.shape[1]
        expected = np.where(mask == 1, np.cumsum(mask, axis=1) - 1, 0)[:, past.shape[2]:]
        if not np.array_equal(feeds["position_ids"], expected):
            raise AssertionError(f"position_ids {feeds['position_ids']} != {expected}")
        self.batch_sizes.append(ids.shape[0])
        new = ids[:, None, :, None].astype(np.float32)
        outputs = {}
        for i in range(SPEC.num_layers):
            for kind in ("key", "value"):
                outputs[f"present.{i}.{kind}"] = np.concatenate([feeds[f"past_key_values.{i}.{kind}"], new], axis=2)
        tokens = outputs["present.0.key"][:, 0, :, 0]
        logits = np.zeros((ids.shape[0], ids.shape[1], VOCAB), dtype=np.float32)
        if not self.flat:
            sums = (tokens * mask).sum(axis=1).astype(np.int64) % VOCAB
            logits[np.arange(len(sums)), -1, sums] = 10.0
        outputs["logits"] = logits
        return outputs


def reference(prompt, steps, stop=()):
    """What FakeGraph's greedy continuation of one unpadded prompt is."""
    seq, out = list(prompt), []
    for _ in range(steps):
        token = sum(seq) % VOCAB
        if token in stop:
            return out, "stop"
        seq.append(token)
        out.append(token)
    return out, "length"


def test_greedy_left_padded_batch_matches_each_prompt_alone():
    prompts = [[3, 4, 5, 6, 7], [9], [1, 2]]
    results = generate(FakeGraph(), SPEC, prompts, SamplingParams(max_tokens=6))
    for prompt, result in zip(prompts, results):
        assert (result.tokens, result.finish_reason) == reference(prompt, 6)
        alone = generate(FakeGraph(), SPEC, [prompt], SamplingParams(max_tokens=6))[0]
        assert alone.tokens == result.tokens


def test_stop_token_ends_only_its_row_and_is_not_returned():
    prompts = [[5], [7]]
    # row 0: 5 -> 5, 10, 20, 40, 30 ...; row 1: 7 -> 7, 14, 28, 6 ...
    stop = (20,)
    graph = FakeGraph()
    results = generate(graph, SPEC, prompts, SamplingParams(max_tokens=6, stop_token_ids=stop))
    assert (results[0].tokens, results[0].finish_reason) == ([5, 10], "stop")
    assert (results[1].tokens, results[1].finish_reason) == reference([7], 6, stop)
    assert results[1].finish_reason == "length"
    # the finished row leaves the batch: prefill + 2 steps with 2 rows, then 1 row
    assert graph.batch_sizes[:3] == [2, 2, 2] and set(graph.batch_sizes[3:]) == {1}


def test_max_tokens_per_row_and_zero():
    params = [SamplingParams(max_tokens=2), SamplingParams(max_tokens=0), SamplingParams(max_tokens=4)]
    results = generate(FakeGraph(), SPEC, [[1], [2], [3]], params)
    assert [len(r.tokens) for r in results] == [2, 0, 4]
    assert all(r.finish_reason == "length" for r in results)


def test_max_positions_caps_the_sequence():
    spec = DecoderSpec(num_layers=2, num_kv_heads=1, head_dim=1, max_positions=6)
    result = generate(FakeGraph(), spec, [[1, 2, 3, 4]], SamplingParams(max_tokens=10))[0]
    assert len(result.tokens) == 2 and result.finish_reason == "length"
    with pytest.raises(ValueError, match="longer than"):
        generate(FakeGraph(), spec, [[1] * 7], SamplingParams())


def test_stream_yields_per_step_and_matches_generate():
    prompts = [[5], [7]]
    params = SamplingParams(max_tokens=4, stop_token_ids=(20,))
    steps = list(stream(FakeGraph(), SPEC, prompts, params))
    assert steps[0] == [5, 7] and steps[1] == [10, 14]
    assert steps[2] == [None, 28]  # row 0 drew the stop token: nothing new for it
    assert all(step[0] is None for step in steps[3:])
    results = generate(FakeGraph(), SPEC, prompts, params)
    for row, result in enumerate(results):
        assert [s[row] for s in steps if s[row] is not None] == result.tokens


def test_sampling_is_reproducible_with_a_seed_and_independent_of_the_batch():
    params = SamplingParams(max_tokens=12, temperature=1.0, seed=7)
    first = generate(FakeGraph(flat=True), SPEC, [[1], [2]], params)
    again = generate(FakeGraph(flat=True), SPEC, [[1], [2]], params)
    alone = generate(FakeGraph(flat=True), SPEC, [[2]], params)
    other = generate(FakeGraph(flat=True), SPEC, [[1]], SamplingParams(max_tokens=12, temperature=1.0, seed=8))
    assert [r.tokens for r in first] == [r.tokens for r in again]
    assert alone[0].tokens == first[1].tokens
    assert other[0].tokens != first[0].tokens
    assert len(set(first[0].tokens)) > 3  # flat logits: sampling really draws


def test_top_k_keeps_only_the_k_best():
    logits = np.arange(VOCAB, dtype=np.float32)
    rng = np.random.default_rng(0)
    drawn = {next_token(logits, SamplingParams(temperature=5.0, top_k=3), rng) for _ in range(300)}
    assert drawn == {VOCAB - 1, VOCAB - 2, VOCAB - 3}
    assert next_token(logits, SamplingParams(temperature=5.0, top_k=1), rng) == VOCAB - 1


def test_top_p_keeps_the_smallest_head_reaching_p():
    probs = np.array([0.05, 0.5, 0.3, 0.15])
    logits = np.log(probs)
    rng = np.random.default_rng(0)
    drawn = {next_token(logits, SamplingParams(temperature=1.0, top_p=0.7), rng) for _ in range(300)}
    assert drawn == {1, 2}
    drawn = {next_token(logits, SamplingParams(temperature=1.0, top_p=0.4), rng) for _ in range(50)}
    assert drawn == {1}
    drawn = {next_token(logits, SamplingParams(temperature=1.0), rng) for _ in range(400)}
    assert drawn == {0, 1, 2, 3}


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="at least one token"):
        generate(FakeGraph(), SPEC, [[1], []])
    with pytest.raises(ValueError, match="sampling params"):
        generate(FakeGraph(), SPEC, [[1], [2]], [SamplingParams()])
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0.0)


def test_spec_from_export_json_fields():
    spec = DecoderSpec.from_export({"num_layers": 3, "num_kv_heads": 2, "head_dim": 16, "pad_token_id": None,
                                    "max_positions": 128})
    assert spec == DecoderSpec(num_layers=3, num_kv_heads=2, head_dim=16, pad_token_id=0, max_positions=128)


def test_module_imports_only_numpy_and_the_standard_library():
    with open(kv_decoding.__file__, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots <= {"__future__", "dataclasses", "typing", "numpy"}, roots
    assert os.path.basename(kv_decoding.__file__) == "kv_decoding.py"

