"""Tests for trainers.model: config checks, shapes, and exact parity with transformers' Llama."""

import dataclasses
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM  # noqa: E402

from fullchain.pipelines.hf_loading import ModelFolderError  # noqa: E402
from fullchain.trainers.hf_interop import (  # noqa: E402
    from_hf_config,
    from_hf_state_dict,
    load_hf_folder,
    save_hf_folder,
    to_hf_config,
    to_hf_state_dict,
)
from fullchain.trainers.model import Decoder, ModelConfig, debug_config, llama_1b_config, llama_8b_config  # noqa: E402
from fullchain.trainers.model import shifted_loss  # noqa: E402


def loss(logits, labels):
    """Next-token loss of labels aligned with the inputs (HF's convention): the trainer's shifted_loss
    on logits[:, :-1] against labels[:, 1:]."""
    return shifted_loss(logits[:, :-1], labels[:, 1:])

ATOL = 1e-5


def _cfg(**overrides) -> ModelConfig:
    return dataclasses.replace(debug_config(), **overrides)


def _ids(cfg, batch=2, seq=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.vocab_size, (batch, seq), generator=g)


def _hf_model(cfg) -> LlamaForCausalLM:
    return LlamaForCausalLM(to_hf_config(cfg)).float().eval()


def _hf_logits(hf, ids):
    with torch.no_grad():
        return hf(input_ids=ids).logits


def _our_logits(model, ids):
    with torch.no_grad():
        return model.eval()(ids)


# --- config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(hidden_size=66, num_heads=4), "hidden_size"),
        (dict(num_heads=4, num_kv_heads=3), "num_heads"),
        (dict(num_layers=0), "num_layers"),
        (dict(vocab_size=-1), "vocab_size"),
        (dict(rms_norm_eps=0.0), "rms_norm_eps"),
        (dict(hidden_size=12, num_heads=4), "head_dim"),
    ],
)
def test_config_validation_names_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        _cfg(**overrides)


def test_config_kw_only():
    with pytest.raises(TypeError):
        ModelConfig(256, 64, 128, 2, 4, 2, 128)  # positional arguments are refused


@pytest.mark.parametrize("tie", [False, True])
def test_num_params_matches_module(tie):
    cfg = _cfg(tie_embeddings=tie)
    model = Decoder(cfg)
    assert cfg.num_params() == sum(p.numel() for p in model.parameters())


def test_presets_and_flops():
    cfg = llama_1b_config()
    assert 1.2e9 < cfg.num_params() < 1.3e9
    assert 7.9e9 < llama_8b_config().num_params() < 8.1e9
    small = debug_config()
    n = small.num_params() - small.vocab_size * small.hidden_size
    expected = 6 * n + 12 * small.num_layers * small.num_heads * small.head_dim * 64
    assert small.flops_per_token(64) == pytest.approx(expected)
    assert small.flops_per_token(128) > small.flops_per_token(64)


def test_hf_config_round_trip():
    cfg = _cfg(tie_embeddings=True, rope_theta=500000.0, rms_norm_eps=1e-6)
    assert from_hf_config(to_hf_config(cfg)) == cfg
    with pytest.raises(ValueError, match="rope_type"):
        from_hf_config(LlamaConfig(rope_scaling={"rope_type": "linear", "factor": 2.0}))


# --- model -----------------------------------------------------------------------------


def test_logits_shape_and_seq_limit():
    cfg = debug_config()
    model = Decoder(cfg)
    assert model(_ids(cfg, batch=3, seq=7)).shape == (3, 7, cfg.vocab_size)
    assert isinstance(model.layers, torch.nn.ModuleList) and len(model.layers) == cfg.num_layers
    with pytest.raises(ValueError, match="max_seq_len"):
        model(torch.zeros(1, cfg.max_seq_len + 1, dtype=torch.long))


def test_tied_embeddings_share_storage():
    model = Decoder(_cfg(tie_embeddings=True))
    assert model.lm_head.weight is model.embed.weight


@pytest.mark.parametrize("num_kv_heads", [4, 2, 1])
@pytest.mark.parametrize("tie", [False, True])
def test_matches_hf_llama_both_directions(num_kv_heads, tie):
    torch.manual_seed(0)
    cfg = _cfg(num_kv_heads=num_kv_heads, tie_embeddings=tie)
    ids = _ids(cfg)

    # ours -> HF
    ours = Decoder(cfg)
    hf = _hf_model(cfg)
    missing, unexpected = hf.load_state_dict(to_hf_state_dict(ours), strict=False)
    assert not unexpected
    assert set(missing) <= ({"lm_head.weight"} if tie else set())
    if tie:
        hf.tie_weights()
    torch.testing.assert_close(_our_logits(ours, ids), _hf_logits(hf, ids), atol=ATOL, rtol=0)

    # HF -> ours, from a freshly initialised HF model
    hf2 = _hf_model(cfg)
    back = from_hf_state_dict(cfg, hf2.state_dict())
    torch.testing.assert_close(_our_logits(back, ids), _hf_logits(hf2, ids), atol=ATOL, rtol=0)


def test_activation_checkpointing_same_grads():
    torch.manual_seed(0)
    cfg = debug_config()
    ids = _ids(cfg)
    plain = Decoder(cfg)
    ckpt = Decoder(cfg, activation_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    for m in (plain, ckpt):
        m.train()
        loss(m(ids), ids).backward()
    for (name, a), (_, b) in zip(plain.named_parameters(), ckpt.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=0, msg=name)


# --- loss and training -----------------------------------------------------------------


def test_loss_matches_hf():
    torch.manual_seed(0)
    cfg = debug_config()
    ids = _ids(cfg)
    labels = ids.clone()
    labels[0, :5] = -100  # a masked prompt
    labels[1, -3:] = -100  # padding
    ours = Decoder(cfg)
    hf = _hf_model(cfg)
    hf.load_state_dict(to_hf_state_dict(ours))
    with torch.no_grad():
        expected = hf(input_ids=ids, labels=labels).loss
        got = loss(ours.eval()(ids), labels)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_a_few_steps_decrease_loss():
    torch.manual_seed(0)
    cfg = debug_config()
    model = Decoder(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    ids = _ids(cfg, batch=4, seq=32)
    losses = []
    for _ in range(8):
        value = loss(model(ids), ids)
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(value.item())
    assert losses[-1] < losses[0] - 0.5, losses


# --- folders ---------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [False, True])
def test_save_hf_folder_loads_in_transformers(tmp_path, tie):
    torch.manual_seed(0)
    cfg = _cfg(tie_embeddings=tie)
    ours = Decoder(cfg)
    folder = save_hf_folder(ours, cfg, tmp_path / "out")
    assert {"config.json", "generation_config.json", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = _ids(cfg)
    torch.testing.assert_close(_our_logits(ours, ids), _hf_logits(hf, ids), atol=ATOL, rtol=0)

    # and our own loader reads it back
    back, back_cfg = load_hf_folder(folder)
    assert back_cfg == cfg
    torch.testing.assert_close(_our_logits(back, ids), _our_logits(ours, ids), atol=0, rtol=0)


def test_save_hf_folder_with_tokenizer(tmp_path):
    from tests.tiny_models import tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = _cfg(vocab_size=len(tok))
    folder = save_hf_folder(Decoder(cfg), cfg, tmp_path / "out", tokenizer=tok)
    assert transformers.AutoTokenizer.from_pretrained(folder).get_vocab() == tok.get_vocab()
    assert json.loads((folder / "config.json").read_text()).get("eos_token_id") == tok.eos_token_id


@pytest.mark.parametrize("tie", [False, True])
def test_load_hf_folder_of_hf_saved_model(tmp_path, tie):
    torch.manual_seed(0)
    cfg = _cfg(tie_embeddings=tie, num_kv_heads=1)
    hf = _hf_model(cfg)
    hf.save_pretrained(tmp_path / "hf")
    ours, loaded_cfg = load_hf_folder(tmp_path / "hf")
    assert loaded_cfg == cfg
    ids = _ids(cfg)
    torch.testing.assert_close(_our_logits(ours, ids), _hf_logits(hf, ids), atol=ATOL, rtol=0)


def test_load_hf_folder_refuses_pickle(tmp_path):
    cfg = debug_config()
    to_hf_config(cfg).save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelFolderError, match="no model.safetensors or model.safetensors.index.json"):
        load_hf_folder(tmp_path)


def test_load_hf_folder_of_sample_causal_lm(tmp_path):
    from tests.tiny_models import tiny_causal_lm

    folder = tiny_causal_lm(str(tmp_path / "lm"))
    ours, cfg = load_hf_folder(folder)
    hf = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ids = _ids(cfg)
    torch.testing.assert_close(_our_logits(ours.float(), ids), _hf_logits(hf, ids), atol=ATOL, rtol=0)
