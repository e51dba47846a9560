"""Tests for LoRA (trainers.lora_*): default targets, fail-fast input checks, LoraModel training /
resume / export on a tiny Llama in this process (DeepSpeed on CPU, gloo, world size 1), the measured
memory report, and loss parity of 2 data-parallel processes under ZeRO-2 with 1 process (torchrun)."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

os.environ.setdefault("DS_ACCELERATOR", "cpu")

from tests.tiny_models import tiny_llama, tiny_tokenizer  # noqa: E402
from fullchain.pipelines.shard.tokenizer_files import tokenizer_hash  # noqa: E402
from fullchain.trainers.config import (DataSection, LoraSection, OptimSection, ParallelSection, TrainConfig,  # noqa: E402
                             TrainSection)
from fullchain.trainers.distributed_model import deepspeed_config  # noqa: E402
from fullchain.trainers.hf_interop import load_base_model, write_lora_folder  # noqa: E402
from fullchain.trainers.lora_adapters import DEFAULT_TARGET_MODULES, default_target_modules  # noqa: E402
from fullchain.trainers.lora_checks import check_lora_inputs  # noqa: E402
from fullchain.trainers.lora_memory import estimate_memory_report, format_memory_report, lora_memory_report  # noqa: E402
from fullchain.trainers.lora_model import LoraModel  # noqa: E402
from fullchain.trainers.schedule import lr_at  # noqa: E402
from tests.ports import WORLD_OF_ONE  # noqa: E402

from .launch import run_script  # noqa: E402

WORKER = Path(__file__).with_name("lora_worker.py")
MICRO, SEQ = 2, 16
# wider than the shared tiny_lm (hidden 32): the checkpoint-size checks need adapters and their AdamW
# state well below the base weights
HIDDEN, INTER, LAYERS, HEADS, KV_HEADS = 64, 128, 2, 4, 2


def _save_llama(path: Path, tokenizer, seed: int = 0) -> Path:
    return Path(tiny_llama(path, tokenizer, hidden_size=HIDDEN, intermediate_size=INTER, layers=LAYERS, heads=HEADS,
                           kv_heads=KV_HEADS, max_positions=64, seed=seed))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny random Llama (hidden 64, 2 layers) with its tokenizer, saved as safetensors."""
    return _save_llama(tmp_path_factory.mktemp("base"), tiny_tokenizer())


@pytest.fixture(scope="module")
def dist_world():
    """torch.distributed as a world of one (gloo), torn down after the module."""
    import torch.distributed as dist

    from fullchain.trainers.loop import init_distributed

    env = dict(WORLD_OF_ONE)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    init_distributed(gpu=False)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _cfg(base: Path, zero_stage: int = 2, dropout: float = 0.0, merge: bool = True, accum: int = 2,
         steps: int = 8) -> TrainConfig:
    return TrainConfig(mode="lora", lora=LoraSection(base_model=str(base), dropout=dropout, merge=merge),
                       parallel=ParallelSection(zero_stage=zero_stage),
                       optim=OptimSection(lr=1e-2, warmup_steps=1, grad_clip=1.0),
                       train=TrainSection(steps=steps, micro_batch_size=MICRO, grad_accum_steps=accum))


def _micro_batches(start: int = 0, accum: int = 2):
    """(input_ids, labels) micro-batches of step `start` on; step s always gets the same rows."""
    data = torch.randint(0, 16, (32, accum * MICRO, SEQ + 1), generator=torch.Generator().manual_seed(3))
    for step in range(start, data.shape[0]):
        for m in range(accum):
            rows = data[step, m * MICRO:(m + 1) * MICRO]
            yield rows[:, :-1], rows[:, 1:]


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=False).logits
    model.train(was)
    return out


PROBE = torch.randint(0, 300, (2, 12), generator=torch.Generator().manual_seed(11))


# ---------------------------------------------------------------------------------------
# Default targets and input checks
# ---------------------------------------------------------------------------------------


def test_default_targets_per_architecture():
    assert default_target_modules("llama") == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                               "down_proj"]
    assert default_target_modules("mistral") == default_target_modules("qwen2") == default_target_modules("llama")
    assert default_target_modules("internlm2") == ["wqkv", "wo", "w1", "w2", "w3"]
    assert default_target_modules("phi3") == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert default_target_modules("gpt2") == ["c_attn", "c_proj", "c_fc"]
    default_target_modules("llama").append("lm_head")  # a copy: the table is not changed
    assert "lm_head" not in DEFAULT_TARGET_MODULES["llama"]
    with pytest.raises(ValueError, match=r"no defaults for model_type 'bert'.*set lora.target_modules"):
        default_target_modules("bert")


@pytest.mark.parametrize("model_type, kwargs", [
    ("llama", {}), ("mistral", {}), ("qwen2", {}), ("gemma", {"head_dim": 8}), ("phi3", {}),
    ("gpt2", {"n_embd": 32, "n_layer": 1, "n_head": 2}), ("gpt_neox", {}), ("opt", {"ffn_dim": 64}),
])
def test_default_targets_exist_in_the_architectures(model_type, kwargs):
    from transformers import AutoConfig, AutoModelForCausalLM

    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
             "num_key_value_heads": 4, "vocab_size": 64, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    config = AutoConfig.for_model(model_type, **({} if model_type == "gpt2" else small), **kwargs)
    with torch.device("meta"):
        names = [n for n, _ in AutoModelForCausalLM.from_config(config).named_modules()]
    for target in default_target_modules(model_type):
        assert any(n.endswith("." + target) for n in names), (model_type, target)


def _shards_with_tokenizer(folder: Path, tokenizer) -> dict:
    """A shards folder holding only tokenizer/ and the manifest's tokenizer entry describing it."""
    tok_dir = folder / "tokenizer"
    tokenizer.save_pretrained(tok_dir)
    files = {p.name: p.read_bytes() for p in tok_dir.iterdir()}
    return {"tokenizer": {"source": "trained", "path": "tokenizer", "sha256": tokenizer_hash(files),
                          "files": sorted(files), "vocab_size": len(tokenizer), "eos_token": "</s>", "eos_id": 2}}


def _lora_cfg(base, shards, **lora) -> TrainConfig:
    return TrainConfig(mode="lora", data=DataSection(manifest=str(shards)),
                       lora=LoraSection(base_model=str(base), **lora))


def test_check_lora_inputs_accepts_matching_model_and_shards(base, tmp_path):
    manifest = _shards_with_tokenizer(tmp_path, tiny_tokenizer())
    check_lora_inputs(_lora_cfg(base, tmp_path), manifest)
    check_lora_inputs(_lora_cfg(base, tmp_path, target_modules=["q_proj", "v_proj"]), manifest)


def test_check_lora_inputs_rejects_bad_base_models(base, tmp_path):
    from transformers import BertConfig, GPTBigCodeConfig

    manifest = _shards_with_tokenizer(tmp_path / "shards", tiny_tokenizer())
    (tmp_path / "empty").mkdir()
    BertConfig(vocab_size=400, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
               architectures=["BertForMaskedLM"]).save_pretrained(tmp_path / "bert")
    GPTBigCodeConfig(vocab_size=400, n_embd=32, n_layer=1, n_head=2).save_pretrained(tmp_path / "bigcode")
    cases = [
        ("", r"^lora.base_model is not set"),
        (tmp_path / "nowhere", r"nowhere': not a folder"),
        (tmp_path / "empty", r"empty': no config.json"),
        (tmp_path / "bert", r"bert': BertForMaskedLM is not a causal language model"),
        (tmp_path / "bigcode", r"no defaults for model_type 'gpt_bigcode'"),
    ]
    for path, match in cases:
        with pytest.raises(ValueError, match=match) as info:
            check_lora_inputs(_lora_cfg(path, tmp_path / "shards"), manifest)
        assert "\n" not in str(info.value)


def test_check_lora_inputs_rejects_missing_targets(base, tmp_path):
    manifest = _shards_with_tokenizer(tmp_path, tiny_tokenizer())
    with pytest.raises(ValueError, match=r"lora.target_modules: \['qkv'\] not in llama model .*q_proj"):
        check_lora_inputs(_lora_cfg(base, tmp_path, target_modules=["q_proj", "qkv"]), manifest)


def test_check_lora_inputs_rejects_incompatible_tokenizers(base, tmp_path):
    big = _shards_with_tokenizer(tmp_path / "big", tiny_tokenizer(vocab_size=420))
    assert big["tokenizer"]["vocab_size"] > 400
    with pytest.raises(ValueError, match=r"tokenizer has 4\d\d tokens but .* vocabulary of 400 .*would crash"):
        check_lora_inputs(_lora_cfg(base, tmp_path / "big"), big)

    other = _shards_with_tokenizer(tmp_path / "other", tiny_tokenizer(texts=["completely different text " * 50]))
    assert other["tokenizer"]["vocab_size"] <= 400
    with pytest.raises(ValueError, match=r"is not lora.base_model's tokenizer .*vocabularies differ"):
        check_lora_inputs(_lora_cfg(base, tmp_path / "other"), other)

    same = _shards_with_tokenizer(tmp_path / "edited", tiny_tokenizer())
    (tmp_path / "edited" / "tokenizer" / "tokenizer_config.json").write_text("{}")
    with pytest.raises(ValueError, match=r"do not match the manifest's sha256"):
        check_lora_inputs(_lora_cfg(base, tmp_path / "edited"), same)
    (tmp_path / "edited" / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(ValueError, match=r"tokenizer file .*tokenizer.json is missing"):
        check_lora_inputs(_lora_cfg(base, tmp_path / "edited"), same)


# ---------------------------------------------------------------------------------------
# LoraModel in one process
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(base, dist_world):
    """A ZeRO-2 LoraModel trained 6 steps, and its losses."""
    engine = LoraModel(_cfg(base, zero_stage=2))
    it = _micro_batches()
    losses = [engine.train_step(it) for _ in range(6)]
    return engine, losses


def _base_name(peft_name: str) -> str:
    return peft_name.replace("base_model.model.", "", 1).replace(".base_layer", "")


def test_training_changes_only_the_adapters(base, trained):
    engine, losses = trained
    assert losses[-1] < losses[0] - 0.05, losses
    original = load_base_model(str(base)).state_dict()
    frozen = {_base_name(n): p for n, p in engine.ds_engine.module.named_parameters() if not p.requires_grad}
    assert set(frozen) == set(original)
    for name, value in frozen.items():
        assert torch.equal(value, original[name]), name
    lora_b = {n: p for n, p in engine.ds_engine.module.named_parameters() if "lora_B" in n}
    assert len(lora_b) == 7 * LAYERS and all(p.requires_grad for p in lora_b.values())
    for name, value in lora_b.items():  # B starts at zero: every adapted projection got updates
        assert value.abs().max() > 0, name
    o = engine.cfg.optim  # the 6th step (index 5) of the warm-up + cosine schedule
    assert engine.lr() == pytest.approx(lr_at(5, lr=o.lr, min_lr=o.min_lr, warmup_steps=o.warmup_steps, total_steps=8))


def test_activation_checkpointing_trains_the_same(base, trained):
    _, losses = trained
    cfg = _cfg(base, zero_stage=2)
    cfg.train.activation_checkpointing = True
    engine = LoraModel(cfg)
    it = _micro_batches()
    again = [engine.train_step(it) for _ in range(3)]
    assert again == pytest.approx(losses[:3], rel=1e-6)
    assert all(p.abs().max() > 0 for n, p in engine.ds_engine.module.named_parameters() if "lora_B" in n)


@pytest.mark.parametrize("zero_stage", [0, 1, 2, 3])
def test_save_load_continues_with_identical_losses(base, dist_world, tmp_path, zero_stage):
    # Dropout on: the resumed run must draw the same masks as the uninterrupted one.
    cfg = _cfg(base, zero_stage=zero_stage, dropout=0.1)
    first = LoraModel(cfg)
    it = _micro_batches()
    before, first_lrs = [], []
    for _ in range(3):
        before.append(first.train_step(it))
        first_lrs.append(first.lr())
    first.save(str(tmp_path / "ckpt"))
    after = [first.train_step(it) for _ in range(2)]
    lr_after = first.lr()
    resumed = LoraModel(cfg)
    resumed.load(str(tmp_path / "ckpt"))
    assert resumed.lr() == pytest.approx(first_lrs[2])  # the lr of the last step before the save
    it = _micro_batches(start=3)
    again = [resumed.train_step(it) for _ in range(2)]
    assert again == after, (before, after, again)
    assert resumed.lr() == lr_after
    # The checkpoint holds the adapters only, not the frozen base weights.
    sizes = sum(f.stat().st_size for f in (tmp_path / "ckpt").rglob("*") if f.is_file())
    assert sizes < sum(f.stat().st_size for f in base.glob("*.safetensors"))


def test_load_refuses_other_lora_shapes_and_missing_checkpoints(base, trained, tmp_path):
    engine, _ = trained
    engine.save(str(tmp_path / "ckpt"))
    other = _cfg(base)
    other.lora.rank = 4
    with pytest.raises(FileNotFoundError, match=r"no DeepSpeed checkpoint"):
        LoraModel(other).load(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match=r"LoRA tensors do not fit this model's .*lora_A.*\(4, 128\)"):
        LoraModel(other).load(str(tmp_path / "ckpt"))
    moved = tmp_path / "moved"
    shutil.copytree(base, moved)
    LoraModel(_cfg(moved)).load(str(tmp_path / "ckpt"))  # same model, another folder
    config = json.loads((moved / "config.json").read_text())
    config["rms_norm_eps"] = config["rms_norm_eps"] * 10
    (moved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"checkpoint was trained on base model .*base.*configs differ"):
        LoraModel(_cfg(moved)).load(str(tmp_path / "ckpt"))
    fewer = _cfg(base)
    fewer.lora.target_modules = ["q_proj", "v_proj"]
    with pytest.raises(ValueError, match=r"LoRA tensors do not fit this model's"):
        LoraModel(fewer).load(str(tmp_path / "ckpt"))


def test_eval_step_does_not_update(trained):
    engine, _ = trained
    state = {n: p.detach().clone() for n, p in engine.ds_engine.module.named_parameters() if p.requires_grad}
    it = _micro_batches()
    first = engine.eval_step(it)
    second = engine.eval_step(_micro_batches())
    assert first == second
    assert engine.ds_engine.module.training
    for name, value in engine.ds_engine.module.named_parameters():
        if value.requires_grad:
            assert torch.equal(value, state[name]), name


def test_loss_takes_labels_already_shifted(trained):
    # The shards give labels[t] = token t + 1; HF's own loss on unshifted labels over one more
    # token scores the same T positions, so both must agree (a second shift would not).
    engine, _ = trained
    ids = torch.randint(0, 16, (MICRO, SEQ + 1), generator=torch.Generator().manual_seed(5))
    got = engine.eval_step(iter([(ids[:, :-1], ids[:, 1:])] * 2))
    model = engine.ds_engine.module
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids, labels=ids, use_cache=False).loss.item()
    model.train()
    assert got == pytest.approx(expected, rel=1e-6)


def test_write_hf_merged_matches_the_peft_model(base, trained, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    engine, _ = trained
    engine.write_hf(str(tmp_path / "hf"), str(base))
    names = {p.name for p in (tmp_path / "hf").iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= names
    assert not any(n.startswith("adapter_") for n in names)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True)
    assert type(merged).__name__ == "LlamaForCausalLM"
    expected = _logits(engine.ds_engine.module, PROBE)
    torch.testing.assert_close(_logits(merged, PROBE), expected, atol=1e-5, rtol=0)
    assert (_logits(load_base_model(str(base)), PROBE) - expected).abs().max() > 1e-3  # the adapters mattered
    assert len(AutoTokenizer.from_pretrained(tmp_path / "hf")) == 400


def test_write_hf_adapter_folder_loads_with_peft(base, trained, tmp_path):
    from peft import PeftModel

    engine, _ = trained
    lora = dataclasses.replace(engine.cfg.lora, merge=False)
    write_lora_folder(engine.adapter_state(), lora, str(tmp_path / "adapter"), str(base))
    names = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= names
    assert "model.safetensors" not in names
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 8
    loaded = PeftModel.from_pretrained(load_base_model(str(base)), tmp_path / "adapter")
    torch.testing.assert_close(_logits(loaded, PROBE), _logits(engine.ds_engine.module, PROBE), atol=1e-6, rtol=0)


def test_zero3_gathers_the_adapters_for_export(base, trained, dist_world, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    import fullchain.trainers.lora_model

    def partition_everything(cfg, dims, **kwargs):
        # ZeRO-3 keeps parameters under 1e5 elements whole by default: all of this tiny model's.
        config = deepspeed_config(cfg, dims, **kwargs)
        config["zero_optimization"]["stage3_param_persistence_threshold"] = 0
        return config

    monkeypatch.setattr(fullchain.trainers.lora_model, "deepspeed_config", partition_everything)
    engine2, _ = trained
    engine3 = LoraModel(_cfg(base, zero_stage=3))
    it = _micro_batches()
    for _ in range(6):
        engine3.train_step(it)
    assert all(p.numel() == 0 for p in engine3.ds_engine.module.parameters())  # partitioned away until gathered
    a2, a3 = engine2.adapter_state(), engine3.adapter_state()
    assert {k: v.shape for k, v in a3.items()} == {k: v.shape for k, v in a2.items()}
    # Same training under ZeRO-2 and ZeRO-3; Adam magnifies rounding differences of the early
    # steps (A's second moment starts at 0 while B = 0), hence the loose tolerance.
    for name in a2:
        torch.testing.assert_close(a3[name], a2[name], atol=1e-3, rtol=1e-2)
    assert engine3.memory_report() == engine2.memory_report()  # full sizes of partitioned parameters
    engine3.write_hf(str(tmp_path / "hf3"), str(base))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "hf3", local_files_only=True)
    torch.testing.assert_close(_logits(merged, PROBE), _logits(engine3.ds_engine.module, PROBE), atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------
# Memory report
# ---------------------------------------------------------------------------------------


def test_memory_report_measures_adamw_state(base):
    model = load_base_model(str(base))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = lora_memory_report(model, LoraSection(rank=8))
    # LoRA adds r * (in + out) per adapted projection (head_dim 16: k/v project to 32).
    kv = HIDDEN * KV_HEADS // HEADS
    per_layer = 8 * ((HIDDEN + HIDDEN) * 2 + (HIDDEN + kv) * 2 + (HIDDEN + INTER) * 3)
    lora, full = report["lora"], report["full"]
    assert lora["trainable_params"] == per_layer * LAYERS
    assert full["trainable_params"] == report["params"] == sum(v.numel() for v in before.values())
    # fp32 AdamW: exp_avg + exp_avg_sq (2 x 4 bytes per parameter) plus a 4-byte step per tensor.
    assert lora["optimizer_bytes"] == 2 * 4 * lora["trainable_params"] + 4 * lora["trainable_tensors"]
    assert full["optimizer_bytes"] == 2 * 4 * report["params"] + 4 * len(before)
    assert lora["grad_bytes"] == 4 * lora["trainable_params"] and full["grad_bytes"] == 4 * report["params"]
    assert lora["optimizer_bytes"] < full["optimizer_bytes"] / 5  # r = 8 is large next to hidden 64
    assert report["reduction_percent"]["optimizer_bytes"] == pytest.approx(
        100 * (1 - lora["optimizer_bytes"] / full["optimizer_bytes"]))
    # The model passed in is left as it was: same weights, no adapters, no gradients.
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not any("lora" in n for n, _ in model.named_modules())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    table = format_memory_report(report)
    assert "optimizer state" in table and f"{lora['trainable_params']:,}" in table


def test_estimated_report_equals_the_measured_one(base, trained):
    engine, _ = trained
    measured = lora_memory_report(load_base_model(str(base)), engine.cfg.lora)
    estimated = engine.memory_report()
    assert estimated["method"].startswith("estimated") and measured["method"].startswith("measured")
    for side in ("full", "lora"):
        assert estimated[side] == measured[side], side
    assert estimated["reduction_percent"] == measured["reduction_percent"]
    assert "estimated for fp32 AdamW" in format_memory_report(estimated)
    assert estimate_memory_report(engine.ds_engine.module, engine.cfg.lora) == estimated


# ---------------------------------------------------------------------------------------
# Data parallelism: 2 processes (ZeRO-2) vs 1 process on the same global batch
# ---------------------------------------------------------------------------------------


def _run_worker(base: Path, out: Path, nproc: int | None, args: list[str]) -> dict:
    run_script(WORKER, str(base), str(out), *args, nproc=nproc)
    return json.loads(out.read_text())


def test_dp2_zero2_matches_one_process(base, tmp_path):
    single = _run_worker(base, tmp_path / "single.json", None, ["--zero-stage", "2", "--grad-accum", "4"])
    dp2 = _run_worker(base, tmp_path / "dp2.json", 2, ["--zero-stage", "2", "--grad-accum", "2"])
    ref, got = single["losses"], dp2["losses"]
    assert len(ref) == len(got) == 4
    assert dp2["per_rank"][0] == dp2["per_rank"][1]  # the reported loss is the dp mean on every rank
    rel = max(abs(a - b) / abs(a) for a, b in zip(ref, got))
    assert rel < 1e-5, (ref, got, rel)
    assert ref[-1] < ref[0]

