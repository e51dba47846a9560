"""Consolidate a run's per-(stage, tp rank) weight files into a Hugging Face folder.

No DeepSpeed and no pickle: a checkpoint's `weights/ppSS-tpTT.safetensors` files (named by global
layer index, see `trainers.pretrain_engine`) are merged, tensor-parallel slices concatenated back
(column-parallel weights along dim 0, row-parallel along dim 1), into a plain `Decoder` state dict
and written with `trainers.model.save_hf_folder`. This is what `fullchain train export-hf` runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from fullchain.trainers.model import Decoder, ModelConfig, save_hf_folder
from fullchain.trainers.parallelize import ParallelDims

_COLUMN = ("attn.q_proj.weight", "attn.k_proj.weight", "attn.v_proj.weight", "mlp.gate_proj.weight",
           "mlp.up_proj.weight")
_ROW = ("attn.o_proj.weight", "mlp.down_proj.weight")


class ExportError(ValueError):
    """A checkpoint that cannot be turned into an HF folder; the message is one line."""


def merge_weight_shards(folder: str, cfg: ModelConfig, dims: ParallelDims) -> dict[str, torch.Tensor]:
    """The plain `Decoder` state dict from the weight files of every (stage, tp rank) in `folder`."""
    from safetensors.torch import load_file

    from fullchain.trainers.pretrain_engine import weights_file_name

    per_tp: list[dict[str, torch.Tensor]] = [{} for _ in range(dims.tp)]
    for stage in range(dims.pp):
        for t in range(dims.tp):
            path = os.path.join(folder, weights_file_name(stage, t))
            if not os.path.exists(path):
                raise ExportError(f"{path}: missing weight file (pp={dims.pp}, tp={dims.tp} expects "
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
            if rest in _COLUMN:
                tensor = torch.cat([per_tp[t][name] for t in range(dims.tp)], dim=0)
            elif rest in _ROW:
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
    from fullchain.trainers.checkpoints import read_checkpoint_state

    state = read_checkpoint_state(checkpoint)
    if state["mode"] == "lora":
        src = os.path.join(checkpoint, "hf")
        if not os.path.isdir(src):
            raise ExportError(f"{checkpoint}: LoRA checkpoint without its hf/ folder")
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

