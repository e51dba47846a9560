"""Where LoRA adapters go and how they are attached (peft): the target modules per architecture,
the peft LoraConfig of a `LoraSection`, and `wrap_lora`."""

from __future__ import annotations

import torch
from torch import nn

from fullchain.trainers.config import LoraSection

# Attention and MLP projections per `config.model_type`: adapting all of them (not only q/v) is
# what makes LoRA close to a full fine-tune in quality, at a few tenths of a percent of the weights.
_LLAMA_LIKE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DEFAULT_TARGET_MODULES: dict[str, list[str]] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "mixtral": ["q_proj", "k_proj", "v_proj", "o_proj"],  # experts are w1/w2/w3 inside a MoE block
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "gemma3_text": _LLAMA_LIKE,
    "internlm2": ["wqkv", "wo", "w1", "w2", "w3"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "falcon": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "bloom": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gptj": ["q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"],
    "starcoder2": ["q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"],
}


def default_target_modules(model_type: str) -> list[str]:
    """The LoRA target module names for a `config.model_type`; ValueError (one line) when unknown."""
    if model_type not in DEFAULT_TARGET_MODULES:
        raise ValueError(f"lora.target_modules: no defaults for model_type {model_type!r} (known: "
                         f"{', '.join(sorted(DEFAULT_TARGET_MODULES))}); set lora.target_modules")
    return list(DEFAULT_TARGET_MODULES[model_type])


def target_modules(lora: LoraSection, model_type: str) -> list[str]:
    """The configured target modules, or the architecture's defaults when none are configured."""
    return list(lora.target_modules) if lora.target_modules else default_target_modules(model_type)


def lora_config(lora: LoraSection, model_type: str, base_model: str = ""):
    """The peft LoraConfig of `lora` for a model of `model_type`."""
    from peft import LoraConfig, TaskType

    return LoraConfig(task_type=TaskType.CAUSAL_LM, r=lora.rank, lora_alpha=lora.alpha,
                      lora_dropout=lora.dropout, target_modules=target_modules(lora, model_type),
                      base_model_name_or_path=base_model or None)


def wrap_lora(model: nn.Module, lora: LoraSection, seed: int, base_model: str = "") -> nn.Module:
    """`model` with LoRA adapters (peft); only the adapters require grad. A = seeded init, B = 0."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(model, lora_config(lora, model.config.model_type, base_model))
