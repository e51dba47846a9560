"""LoRA fine-tuning of a Hugging Face causal LM (`fullchain train --mode lora`) as a `DistributedModel`.

The base model is loaded from a local folder (never downloaded; its safetensors files only, never
pickle), wrapped with peft LoRA adapters on the architecture's projection layers
(`trainers.lora_adapters`), and trained with DeepSpeed data parallelism and ZeRO stage 0-3.
`write_hf` merges the adapters back into the base weights for export, or writes the adapter folder
(`trainers.hf_interop.write_lora_folder`).

Labels: the shard pipeline already shifts them (labels[t] is the token after input_ids[t]), so the
loss here scores logits[t] against labels[t] with no further shift (`trainers.model.shifted_loss`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from fullchain.trainers.config import TrainConfig
from fullchain.trainers.distributed_model import MicroBatches, MicroBatchSteps, deepspeed_config
from fullchain.trainers.hf_interop import load_base_model, write_lora_folder
from fullchain.trainers.lora_adapters import wrap_lora
from fullchain.trainers.lora_checks import load_base_config
from fullchain.trainers.lora_memory import estimate_memory_report
from fullchain.trainers.model import shifted_loss
from fullchain.trainers.parallelize import ParallelDims
from fullchain.trainers.preflight import on_gpu
from fullchain.trainers.schedule import lr_lambda

CHECKPOINT_TAG = "ds"


def _config_fingerprint(config) -> str:
    """The model config as sorted JSON without its folder path, so a moved base model still matches."""
    values = config.to_dict()
    values.pop("_name_or_path", None)
    return json.dumps(values, sort_keys=True, default=str)


class LoraModel(MicroBatchSteps):
    """A `DistributedModel`: a peft LoRA model under DeepSpeed data parallelism + ZeRO.

    Build it on every rank once the process group exists (`trainers.loop.init_distributed`). Each
    rank is its own data-parallel replica (dp_rank = rank), reads its own micro-batches and records
    its own data position.
    """

    def __init__(self, cfg: TrainConfig):
        import deepspeed

        self.cfg = cfg
        self.dp_rank, self.dp_size = dist.get_rank(), dist.get_world_size()
        self.grad_accum = cfg.train.grad_accum_steps
        self.reads_data = True
        self.saves_data_state = True
        ds_config = deepspeed_config(cfg, ParallelDims(dp=self.dp_size), with_optimizer=False, on_gpu=on_gpu())
        self.base_config = load_base_config(cfg.lora.base_model)
        model = load_base_model(cfg.lora.base_model)
        if cfg.train.activation_checkpointing:
            # Non-reentrant checkpointing gets gradients to the adapters although the embedding
            # output (the first checkpointed input) does not require grad.
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
        model = wrap_lora(model, cfg.lora, cfg.train.seed, cfg.lora.base_model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        o = cfg.optim
        optimizer = torch.optim.AdamW(trainable, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                      weight_decay=o.weight_decay)
        schedule = lr_lambda(lr=o.lr, min_lr=o.min_lr, warmup_steps=o.warmup_steps, total_steps=cfg.train.steps)
        self._schedule = schedule

        # A callable, so DeepSpeed builds the scheduler on the optimizer it really steps and saves
        # the scheduler's state in its checkpoints.
        def scheduler(opt):
            return torch.optim.lr_scheduler.LambdaLR(opt, schedule)

        self.ds_engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                               config=ds_config)
        self._last_lr = float(self.ds_engine.get_lr()[0])

    # -- steps ----------------------------------------------------------------------------

    def _seed_dropout(self) -> None:
        # LoRA dropout draws from the global RNG. Seeding it from (seed, step, rank) makes the masks
        # a function of the step, so a resumed run draws the same masks as an uninterrupted one
        # without saving RNG state, and ranks draw different masks.
        step = self.ds_engine.global_steps
        torch.manual_seed((self.cfg.train.seed * 1_000_003 + step) * 4096 + self.dp_rank)

    def _forward_loss(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        device = self.ds_engine.device
        logits = self.ds_engine(input_ids=input_ids.to(device), use_cache=False).logits  # [B, T, V]
        return shifted_loss(logits, labels.to(device))

    def train_step(self, micro_batches: MicroBatches) -> float:
        """One optimizer step over grad_accum micro-batches; the mean loss over all dp ranks."""
        self._seed_dropout()
        return self.accumulated_train_step(micro_batches, self._forward_loss)

    def eval_step(self, micro_batches: MicroBatches) -> float:
        """Mean loss over grad_accum micro-batches (dropout off, no update); equal on all ranks."""
        return self.accumulated_eval_step(micro_batches, self._forward_loss)

    # -- state ----------------------------------------------------------------------------

    def save(self, folder: str) -> None:
        """DeepSpeed checkpoint under folder/ds: adapters, optimizer and scheduler state.

        The frozen base weights are left out (they are lora.base_model's); the checkpoint records
        the base model's path and config so `load` refuses another base model.
        """
        client = {"lora_base_model": os.path.abspath(self.cfg.lora.base_model),
                  "lora_base_config": _config_fingerprint(self.base_config)}
        self.ds_engine.save_checkpoint(folder, tag=CHECKPOINT_TAG, client_state=client,
                                    exclude_frozen_parameters=True)

    def load(self, folder: str) -> None:
        """Restore what `save` wrote; one-line error when it is missing or from another base model."""
        # Under ZeRO-3 the module's tensors in the checkpoint are empty placeholders (the values are in
        # the optimizer's partitions), so only their names can be compared.
        partitioned = self.cfg.parallel.zero_stage == 3
        trainable = {n: None if partitioned else tuple(p.shape)
                     for n, p in self.ds_engine.module.named_parameters() if p.requires_grad}

        def load_adapters(src: dict, dst: nn.Module) -> None:
            shapes = {n: None if partitioned else tuple(t.shape) for n, t in src.items()}
            if shapes != trainable:
                differ = sorted(set(shapes.items()) ^ set(trainable.items()))[:2]
                raise ValueError(f"{folder}: checkpoint's LoRA tensors do not fit this model's (lora.rank or "
                                 f"lora.target_modules changed?), e.g. {differ}")
            dst.load_state_dict(src, strict=False)

        if not os.path.isdir(os.path.join(folder, CHECKPOINT_TAG)):
            raise FileNotFoundError(f"{folder}: no DeepSpeed checkpoint (tag {CHECKPOINT_TAG!r})")
        path, client = self.ds_engine.load_checkpoint(folder, tag=CHECKPOINT_TAG, custom_load_fn=load_adapters)
        if path is None:
            raise FileNotFoundError(f"{folder}: DeepSpeed could not load the checkpoint (tag {CHECKPOINT_TAG!r})")
        if client.get("lora_base_config") != _config_fingerprint(self.base_config):
            raise ValueError(f"{folder}: checkpoint was trained on base model {client.get('lora_base_model')!r}, "
                             f"not on lora.base_model '{self.cfg.lora.base_model}' (configs differ)")
        steps = self.ds_engine.global_steps
        self._last_lr = self.cfg.optim.lr * self._schedule(max(0, steps - 1))

    def memory_report(self) -> dict[str, Any]:
        """Trainable parameters and gradient / AdamW state bytes, LoRA vs a full fine-tune, of the whole
        model (`estimate_memory_report`; cheap, for printing at the start of a run)."""
        return estimate_memory_report(self.ds_engine.module, self.cfg.lora)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """CPU float32 copies of the LoRA tensors (PeftModel.state_dict() names), gathered under ZeRO-3."""
        trainable = [(n, p) for n, p in self.ds_engine.module.named_parameters() if p.requires_grad]
        if self.cfg.parallel.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters([p for _, p in trainable]):
                return {n: p.detach().float().cpu().clone() for n, p in trainable}
        return {n: p.detach().float().cpu().clone() for n, p in trainable}

    def write_hf(self, folder: str, tokenizer_dir: str) -> None:
        """Write the fine-tuned model to `folder` (rank 0 writes; all ranks must call: ZeRO-3 gathers).

        lora.merge: a Hugging Face folder (config.json, model.safetensors, generation_config.json)
        with the adapters merged into lora.base_model's weights. Otherwise the peft adapter folder
        (adapter_config.json, adapter_model.safetensors) for lora.base_model. Both get the tokenizer
        files of `tokenizer_dir`. See `write_lora_folder`.
        """
        state = self.adapter_state()
        if self.dp_rank == 0:
            write_lora_folder(state, self.cfg.lora, folder, tokenizer_dir)
        dist.barrier()
