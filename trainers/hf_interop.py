"""Hugging Face interop of the trainer: every HF folder it reads or writes, and the name mapping.

- our `Decoder` <-> `transformers.LlamaConfig` / HF Llama tensor names (`to_hf_config`,
  `from_hf_config`, `to_hf_state_dict`, `from_hf_state_dict`, `hf_weight_shapes`);
- Llama folders: `save_hf_folder`, `load_hf_folder` (safetensors only, never pickle);
- a run's checkpoint -> an HF folder (`fullchain train export-hf`, and the end of every run):
  `merge_weight_shards` concatenates the per-(stage, tp rank) weight files back (column-parallel
  weights along dim 0, row-parallel along dim 1), `export_checkpoint` writes the folder;
- LoRA: `load_base_model` reads the base causal LM, `write_lora_folder` writes the merged model or
  the adapter folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from fullchain.trainers.checkpoints import CheckpointError, read_checkpoint_state, weights_file_name
from fullchain.trainers.config import LoraSection
from fullchain.trainers.model import Decoder, ModelConfig
from fullchain.trainers.parallelize import COLUMN_PARALLEL, ROW_PARALLEL, ParallelDims

if TYPE_CHECKING:
    import transformers

# Files of a Hugging Face tokenizer folder; write_hf copies only these, so a tokenizer_dir that is
# a whole model folder does not drag its weights along.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model",
                   "chat_template.jinja", "chat_template.json")

# Our per-layer names -> HF's; the rotary layout is HF's own, so no permutation is needed.
_LAYER_NAMES = {
    "attn.q_proj.weight": "self_attn.q_proj.weight",
    "attn.k_proj.weight": "self_attn.k_proj.weight",
    "attn.v_proj.weight": "self_attn.v_proj.weight",
    "attn.o_proj.weight": "self_attn.o_proj.weight",
    "mlp.gate_proj.weight": "mlp.gate_proj.weight",
    "mlp.up_proj.weight": "mlp.up_proj.weight",
    "mlp.down_proj.weight": "mlp.down_proj.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
}
_TOP_NAMES = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
              "lm_head.weight": "lm_head.weight"}


def _hf_name(name: str) -> str:
    if name in _TOP_NAMES:
        return _TOP_NAMES[name]
    _, index, rest = name.split(".", 2)  # "layers", N, "attn.q_proj.weight"
    return f"model.layers.{index}.{_LAYER_NAMES[rest]}"


def to_hf_config(cfg: ModelConfig, **extra) -> "transformers.LlamaConfig":
    """Equivalent `transformers.LlamaConfig`; `extra` (e.g. bos_token_id) is passed through."""
    from transformers import LlamaConfig

    kwargs = dict(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, max_position_embeddings=cfg.max_seq_len,
        rope_theta=cfg.rope_theta, rms_norm_eps=cfg.rms_norm_eps, tie_word_embeddings=cfg.tie_embeddings,
        initializer_range=cfg.initializer_range, hidden_act="silu", attention_bias=False, mlp_bias=False,
        # LlamaConfig defaults to ids 1/2, which are wrong for most vocabularies; unknown is safer.
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
        architectures=["LlamaForCausalLM"],
    )
    kwargs.update(extra)
    return LlamaConfig(**kwargs)


def _hf_rope_theta(hf_cfg) -> tuple[float, str]:
    # transformers >= 5 keeps it in rope_parameters, 4.x in rope_theta / rope_scaling.
    params = getattr(hf_cfg, "rope_parameters", None) or {}
    scaling = getattr(hf_cfg, "rope_scaling", None) or {}
    theta = params.get("rope_theta", getattr(hf_cfg, "rope_theta", None))
    rope_type = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    return float(theta if theta is not None else 10000.0), rope_type


def from_hf_config(hf_cfg) -> ModelConfig:
    """ModelConfig from a `LlamaConfig`; raises ValueError for features this model lacks."""
    theta, rope_type = _hf_rope_theta(hf_cfg)
    if rope_type != "default":
        raise ValueError(f"unsupported rope_type {rope_type!r} (only plain rotary is implemented)")
    if getattr(hf_cfg, "hidden_act", "silu") != "silu":
        raise ValueError(f"unsupported hidden_act {hf_cfg.hidden_act!r} (only silu)")
    if getattr(hf_cfg, "attention_bias", False) or getattr(hf_cfg, "mlp_bias", False):
        raise ValueError("unsupported attention_bias / mlp_bias (this model has no biases)")
    num_kv = getattr(hf_cfg, "num_key_value_heads", None) or hf_cfg.num_attention_heads
    head_dim = getattr(hf_cfg, "head_dim", None)
    if head_dim is not None and head_dim != hf_cfg.hidden_size // hf_cfg.num_attention_heads:
        raise ValueError(f"unsupported head_dim {head_dim} != hidden_size / num_attention_heads")
    return ModelConfig(
        vocab_size=hf_cfg.vocab_size, hidden_size=hf_cfg.hidden_size, intermediate_size=hf_cfg.intermediate_size,
        num_layers=hf_cfg.num_hidden_layers, num_heads=hf_cfg.num_attention_heads, num_kv_heads=num_kv,
        max_seq_len=hf_cfg.max_position_embeddings, rope_theta=theta, rms_norm_eps=hf_cfg.rms_norm_eps,
        tie_embeddings=bool(getattr(hf_cfg, "tie_word_embeddings", False)),
        initializer_range=getattr(hf_cfg, "initializer_range", 0.02),
    )


def to_hf_state_dict(model: Decoder) -> dict[str, torch.Tensor]:
    """HF Llama names -> tensors (detached, shared storage). lm_head is left out when tied, as HF saves it."""
    out = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and model.cfg.tie_embeddings:
            continue
        out[_hf_name(name)] = tensor.detach()
    return out


def hf_weight_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """HF Llama tensor name -> shape of the weights a `Decoder(cfg)` loads (as `to_hf_state_dict` names them)."""
    with torch.device("meta"):
        model = Decoder(cfg)
    return {name: tuple(t.shape) for name, t in to_hf_state_dict(model).items()}


def from_hf_state_dict(cfg: ModelConfig, state_dict: dict[str, torch.Tensor]) -> Decoder:
    """Decoder holding the given HF-named weights (tensors are used as-is: dtype and device kept)."""
    # Build on meta so a multi-billion model is not randomly initialised just to be overwritten.
    with torch.device("meta"):
        model = Decoder(cfg)
    wanted = {_hf_name(n): n for n in model.state_dict()}
    ours = {}
    for key, tensor in state_dict.items():
        if key.endswith("rotary_emb.inv_freq"):  # old checkpoints saved this recomputable buffer
            continue
        if key == "lm_head.weight" and cfg.tie_embeddings:
            continue
        if key not in wanted:
            raise KeyError(f"unexpected weight {key!r} in HF state dict")
        ours[wanted[key]] = tensor
    if cfg.tie_embeddings:
        ours["lm_head.weight"] = ours.get("embed.weight")
    missing = sorted(_hf_name(n) for n in wanted.values() if ours.get(n) is None)
    if missing:
        raise KeyError(f"HF state dict lacks {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    model.load_state_dict(ours, strict=True, assign=True)
    model.tie_weights()
    return model


def save_hf_folder(model: Decoder, cfg: ModelConfig, folder: str | os.PathLike, tokenizer=None) -> Path:
    """Write an HF-loadable folder: config.json, generation_config.json, model.safetensors (+ tokenizer)."""
    from safetensors.torch import save_file
    from transformers import GenerationConfig

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {}
    if tokenizer is not None:
        extra = {k: getattr(tokenizer, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        tokenizer.save_pretrained(folder)
    dtype = next(model.parameters()).dtype
    hf_cfg = to_hf_config(cfg, **extra)
    import transformers

    # transformers 5 renamed torch_dtype to dtype (and warns on the old name).
    setattr(hf_cfg, "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype", dtype)
    hf_cfg.save_pretrained(folder)
    GenerationConfig.from_model_config(hf_cfg).save_pretrained(folder)
    # safetensors refuses aliased tensors, hence the contiguous copies; "pt" metadata is
    # what transformers checks before trusting the file.
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in to_hf_state_dict(model).items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def load_hf_folder(folder: str | os.PathLike) -> tuple[Decoder, ModelConfig]:
    """Load a Llama folder (ours or HF's) from its verified safetensors files only
    (`pipelines.hf_loading.safetensors_weights`); a folder of pickled .bin files raises WeightFilesError."""
    from safetensors.torch import load_file
    from transformers import LlamaConfig

    from fullchain.pipelines.hf_loading import safetensors_weights

    folder = Path(folder)
    cfg = from_hf_config(LlamaConfig.from_pretrained(folder, local_files_only=True))
    state = {}
    for name in safetensors_weights(str(folder)):
        state.update(load_file(str(folder / name)))
    return from_hf_state_dict(cfg, state), cfg


def merge_weight_shards(folder: str, cfg: ModelConfig, dims: ParallelDims) -> dict[str, torch.Tensor]:
    """The plain `Decoder` state dict from the weight files of every (stage, tp rank) in `folder`."""
    from safetensors.torch import load_file

    per_tp: list[dict[str, torch.Tensor]] = [{} for _ in range(dims.tp)]
    for stage in range(dims.pp):
        for t in range(dims.tp):
            path = os.path.join(folder, weights_file_name(stage, t))
            if not os.path.exists(path):
                raise CheckpointError(f"{path}: missing weight file (pp={dims.pp}, tp={dims.tp} expects "
                                  f"{dims.pp * dims.tp} files)")
            per_tp[t].update(load_file(path))
    L = cfg.num_layers
    state: dict[str, torch.Tensor] = {}
    for name, tensor in per_tp[0].items():
        index, rest = name.split(".", 1)
        i = int(index)
        if i == 0:
            state["embed.weight"] = tensor
        elif i == L + 1:
            state["norm.weight"] = tensor
        elif i == L + 2:
            state["lm_head.weight"] = tensor
        else:
            if rest in COLUMN_PARALLEL:
                tensor = torch.cat([per_tp[t][name] for t in range(dims.tp)], dim=0)
            elif rest in ROW_PARALLEL:
                tensor = torch.cat([per_tp[t][name] for t in range(dims.tp)], dim=1)
            state[f"layers.{i - 1}.{rest}"] = tensor
    return state


def write_hf_from_weights(weights: str, cfg: ModelConfig, dims: ParallelDims, output: str,
                          tokenizer_dir: str) -> Path:
    """Merge `weights` into a Decoder and write it with the shards' tokenizer as an HF folder at `output`.

    Written under a temporary name and renamed, so `output` is either complete or absent.
    """
    from transformers import AutoTokenizer

    model = Decoder(cfg)
    model.load_state_dict(merge_weight_shards(weights, cfg, dims), strict=True)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    output = Path(output)
    tmp = output.with_name(output.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_hf_folder(model, cfg, tmp, tokenizer=tokenizer)
    if output.exists():
        shutil.rmtree(output)
    os.replace(tmp, output)
    return output


def export_checkpoint(checkpoint: str, output: str) -> Path:
    """`fullchain train export-hf`: an HF folder from any complete checkpoint of a run."""
    state = read_checkpoint_state(checkpoint)
    if state["mode"] == "lora":
        src = os.path.join(checkpoint, "hf")
        if not os.path.isdir(src):
            raise CheckpointError(f"{checkpoint}: LoRA checkpoint without its hf/ folder")
        tmp = Path(output).with_name(Path(output).name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        if os.path.exists(output):
            shutil.rmtree(output)
        os.replace(tmp, output)
        return Path(output)
    cfg = ModelConfig(**state["model"])
    dims = ParallelDims(**state["parallel"])
    return write_hf_from_weights(os.path.join(checkpoint, "weights"), cfg, dims, output, state["tokenizer_dir"])


def load_base_model(path: str, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The causal LM in local folder `path`, from its verified safetensors files only
    (`pipelines.hf_loading.load_pretrained`); a folder of pickled weights raises ModelFolderError."""
    from transformers import AutoModelForCausalLM

    from fullchain.pipelines.hf_loading import load_pretrained

    return load_pretrained(AutoModelForCausalLM, path, dtype=dtype)


def write_lora_folder(adapters: dict[str, torch.Tensor], lora: LoraSection, folder: str,
                      tokenizer_dir: str) -> Path:
    """Write trained LoRA tensors (PeftModel.state_dict() names) as a merged HF folder or an adapter folder.

    The base weights are read again from lora.base_model rather than taken from the training
    module: training never changes them, ZeRO-3 then gathers only the small adapters, and a run in
    bf16 does not round the base weights it exports. The merge runs in float32; the merged folder
    keeps the base model's dtype (config.json "dtype", float32 when absent).
    """
    from transformers import GenerationConfig

    names = [name for name in TOKENIZER_FILES if os.path.isfile(os.path.join(tokenizer_dir, name))]
    if not names:
        raise ValueError(f"{tokenizer_dir}: no tokenizer files (expected some of {', '.join(TOKENIZER_FILES)})")
    from fullchain.trainers.lora_adapters import wrap_lora

    base = load_base_model(lora.base_model, dtype=torch.float32)
    saved_dtype = getattr(base.config, "dtype", None)
    saved_dtype = saved_dtype if isinstance(saved_dtype, torch.dtype) else torch.float32
    model = wrap_lora(base, lora, seed=0, base_model=lora.base_model)
    expected = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(adapters) != expected:
        raise ValueError(f"{folder}: trained adapters do not fit lora.base_model '{lora.base_model}' with this lora "
                         f"config: missing {sorted(expected - set(adapters))[:3]}, "
                         f"unexpected {sorted(set(adapters) - expected)[:3]}")
    model.load_state_dict(adapters, strict=False)
    folder_path = Path(folder)
    folder_path.mkdir(parents=True, exist_ok=True)
    if lora.merge:
        merged = model.merge_and_unload().to(saved_dtype)
        # One model.safetensors whatever the size: the HF folder contract (docs/CONTRACTS.md 5)
        # names that file.
        merged.save_pretrained(folder_path, safe_serialization=True, max_shard_size="10000GB")
        if not (folder_path / "generation_config.json").exists():
            GenerationConfig.from_model_config(merged.config).save_pretrained(folder_path)
    else:
        model.save_pretrained(folder_path, safe_serialization=True)
    for name in names:
        shutil.copyfile(os.path.join(tokenizer_dir, name), folder_path / name)
    return folder_path
