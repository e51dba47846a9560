"""LoRA fine-tuning of a Hugging Face causal LM (`fullchain train --mode lora`).

The base model is loaded from a local folder (never downloaded; its safetensors files only, never
pickle), wrapped with peft LoRA adapters on the architecture's projection layers, and trained with
DeepSpeed data parallelism and ZeRO stage 0-3 (`LoraEngine`, a `trainers.engine.StepEngine`).
`write_hf` merges the adapters back into the base weights for export, or writes the adapter folder.

`lora_memory_report` measures what LoRA saves: trainable parameters, gradient bytes and AdamW state
bytes after one real optimizer step, for LoRA and for a full fine-tune of the same model.

Labels: the shard pipeline already shifts them (labels[t] is the token after input_ids[t]), so the
loss here scores logits[t] against labels[t] with no further shift (unlike `trainers.model.loss`,
which takes HF-style labels aligned with the inputs).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from fullchain.trainers.config import LoraSection, TrainConfig
from fullchain.trainers.engine import MicroBatches, MicroBatchSteps, run_deepspeed_config
from fullchain.trainers.model import shifted_loss
from fullchain.trainers.parallelize import ParallelDims
from fullchain.trainers.schedule import lr_lambda

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

CHECKPOINT_TAG = "ds"
# Files of a Hugging Face tokenizer folder; write_hf copies only these, so a tokenizer_dir that is
# a whole model folder does not drag its weights along.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model",
                   "chat_template.jinja", "chat_template.json")


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


# ---------------------------------------------------------------------------------------
# Fail-fast checks
# ---------------------------------------------------------------------------------------


def _load_config(path: str):
    from transformers import AutoConfig

    key = "lora.base_model"
    if not path:
        raise ValueError(f"{key} is not set (a local Hugging Face causal LM folder)")
    if not os.path.isdir(path):
        raise ValueError(f"{key} '{path}': not a folder (models are never downloaded here)")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise ValueError(f"{key} '{path}': no config.json (not a Hugging Face model folder)")
    try:
        return AutoConfig.from_pretrained(path, local_files_only=True)
    except (ValueError, KeyError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{key} '{path}': config.json does not load: {first}") from None


def _check_causal_lm(path: str, config) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    classes = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.get(config.model_type)
    archs = list(getattr(config, "architectures", None) or [])
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    # model_type alone is not enough: BERT has a causal-LM class, but a BertForMaskedLM checkpoint
    # is not a causal LM. The architectures recorded in config.json say what was trained.
    if classes is None or (archs and not any(a in causal for a in archs)):
        what = ", ".join(archs) if archs else f"model_type {config.model_type!r}"
        raise ValueError(f"lora.base_model '{path}': {what} is not a causal language model architecture "
                         f"transformers knows (remote code is never run)")


def _module_names(config) -> list[str]:
    """Names of all modules of the model `config` describes, built on the meta device (no weights)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return [name for name, _ in model.named_modules()]


def _check_targets(path: str, config, lora: LoraSection) -> None:
    targets = target_modules(lora, config.model_type)
    names = _module_names(config)
    # peft's rule for a list of names: a module matches a key when its name is the key or ends in ".key".
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n})
        raise ValueError(f"lora.target_modules: {missing} not in {config.model_type} model '{path}' "
                         f"(its module names: {', '.join(leaves)})")


def tokenizer_folder(manifest_path: str, manifest: dict) -> str:
    """The shards' tokenizer folder: manifest["tokenizer"]["path"], relative to the shards folder."""
    root = manifest_path if os.path.isdir(manifest_path) else os.path.dirname(os.path.abspath(manifest_path))
    return os.path.join(root, manifest["tokenizer"]["path"])


def _check_tokenizer(path: str, config, manifest_path: str, manifest: dict) -> None:
    from transformers import AutoTokenizer

    from fullchain.pipelines.shard.tokenizer_files import tokenizer_hash

    entry = manifest["tokenizer"]
    folder = tokenizer_folder(manifest_path, manifest)
    where = f"{manifest_path}: tokenizer"
    model_vocab = int(config.get_text_config().vocab_size)
    if int(entry["vocab_size"]) > model_vocab:
        raise ValueError(f"{where} has {entry['vocab_size']} tokens but lora.base_model '{path}' has a vocabulary "
                         f"of {model_vocab} (ids >= {model_vocab} would crash the embedding); shard with the "
                         f"base model's tokenizer")
    files = {}
    for name in entry["files"]:
        try:
            with open(os.path.join(folder, name), "rb") as fh:
                files[name] = fh.read()
        except OSError:
            raise ValueError(f"{where} file {os.path.join(folder, name)} is missing") from None
    if tokenizer_hash(files) != entry["sha256"]:
        raise ValueError(f"{where} files in {folder} do not match the manifest's sha256 (changed since sharding)")
    if any(os.path.isfile(os.path.join(path, name)) for name in ("tokenizer.json", "tokenizer_config.json")):
        # Same size is not enough: frozen embeddings only make sense for the ids they were trained on.
        theirs = AutoTokenizer.from_pretrained(folder, local_files_only=True).get_vocab()
        ours = AutoTokenizer.from_pretrained(path, local_files_only=True).get_vocab()
        if theirs != ours:
            differ = sorted(set(theirs.items()) ^ set(ours.items()), key=lambda kv: kv[1])[:3]
            raise ValueError(f"{where} in {folder} is not lora.base_model's tokenizer ('{path}'): vocabularies "
                             f"differ (e.g. {differ}); shard with the base model's tokenizer")


def check_lora_inputs(cfg: TrainConfig, manifest: dict) -> None:
    """Fail fast, with one line, on what would break a LoRA run later.

    Checks that lora.base_model is a local folder with a config.json of a causal LM architecture, that
    the target modules (configured or default) exist in it, that its weights are whole safetensors
    files (`pipelines.hf_loading.safetensors_weights`; pickle is refused), and that the shards' tokenizer
    (manifest["tokenizer"], files under the shards folder) is intact (sha256), fits the model's
    vocabulary and, when the model folder has a tokenizer, has the same vocabulary. `manifest` is the
    loaded manifest of cfg.data.manifest.
    """
    from fullchain.pipelines.hf_loading import ModelFolderError, safetensors_weights

    path = cfg.lora.base_model
    config = _load_config(path)
    _check_causal_lm(path, config)
    _check_targets(path, config, cfg.lora)
    try:
        safetensors_weights(path)
    except ModelFolderError as e:
        raise ValueError(f"lora.base_model: {e}") from None
    _check_tokenizer(path, config, cfg.data.manifest, manifest)


# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------


def load_base_model(path: str, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The causal LM in local folder `path`, from its verified safetensors files only
    (`pipelines.hf_loading.load_pretrained`); a folder of pickled weights raises ModelFolderError."""
    from transformers import AutoModelForCausalLM

    from fullchain.pipelines.hf_loading import load_pretrained

    return load_pretrained(AutoModelForCausalLM, path, dtype=dtype)


def wrap_lora(model: nn.Module, lora: LoraSection, seed: int, base_model: str = "") -> nn.Module:
    """`model` with LoRA adapters (peft); only the adapters require grad. A = seeded init, B = 0."""
    from peft import get_peft_model

    torch.manual_seed(seed)
    return get_peft_model(model, lora_config(lora, model.config.model_type, base_model))


def _config_fingerprint(config) -> str:
    """The model config as sorted JSON without its folder path, so a moved base model still matches."""
    values = config.to_dict()
    values.pop("_name_or_path", None)
    return json.dumps(values, sort_keys=True, default=str)


def _on_cpu() -> bool:
    from deepspeed.accelerator import get_accelerator

    return get_accelerator().device_name() == "cpu"


def deepspeed_config(cfg: TrainConfig, dp_size: int) -> dict:
    """The DeepSpeed config of a LoRA run: batch sizes, ZeRO stage, clipping, precision.

    The optimizer and scheduler are passed as objects to deepspeed.initialize, not configured here.
    """
    t = cfg.train
    if t.precision == "fp16" and _on_cpu():
        raise ValueError("train.precision fp16 is not supported on CPU (DeepSpeed's loss scaler needs a GPU); "
                         "use bf16 or fp32")
    return run_deepspeed_config(cfg, ParallelDims(dp=dp_size), with_optimizer=False, on_gpu=not _on_cpu())


class LoraEngine(MicroBatchSteps):
    """A `StepEngine`: a peft LoRA model under DeepSpeed data parallelism + ZeRO.

    Build it on every rank with the world size and this rank. Each rank is its own data-parallel
    replica (dp_rank = rank), reads its own micro-batches and records its own data position.
    Initialises torch.distributed (gloo on CPU) when the caller has not.
    """

    def __init__(self, cfg: TrainConfig, world_size: int, rank: int):
        import deepspeed

        if not dist.is_initialized():
            deepspeed.init_distributed(dist_backend="gloo" if _on_cpu() else "nccl")
        if dist.get_world_size() != world_size or dist.get_rank() != rank:
            raise ValueError(f"LoraEngine built for rank {rank} of {world_size}, but torch.distributed has rank "
                             f"{dist.get_rank()} of {dist.get_world_size()}")
        self.cfg = cfg
        self.dp_rank, self.dp_size = rank, world_size
        self.grad_accum = cfg.train.grad_accum_steps
        self.reads_data = True
        self.saves_data_state = True
        ds_config = deepspeed_config(cfg, world_size)
        self.base_config = _load_config(cfg.lora.base_model)
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

        self.engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                               config=ds_config)
        self._last_lr = float(self.engine.get_lr()[0])

    # -- steps ----------------------------------------------------------------------------

    def _seed_dropout(self) -> None:
        # LoRA dropout draws from the global RNG. Seeding it from (seed, step, rank) makes the masks
        # a function of the step, so a resumed run draws the same masks as an uninterrupted one
        # without saving RNG state, and ranks draw different masks.
        step = self.engine.global_steps
        torch.manual_seed((self.cfg.train.seed * 1_000_003 + step) * 4096 + self.dp_rank)

    def _forward_loss(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        device = self.engine.device
        logits = self.engine(input_ids=input_ids.to(device), use_cache=False).logits  # [B, T, V]
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
        self.engine.save_checkpoint(folder, tag=CHECKPOINT_TAG, client_state=client,
                                    exclude_frozen_parameters=True)

    def load(self, folder: str) -> None:
        """Restore what `save` wrote; one-line error when it is missing or from another base model."""
        # Under ZeRO-3 the module's tensors in the checkpoint are empty placeholders (the values are in
        # the optimizer's partitions), so only their names can be compared.
        partitioned = self.cfg.parallel.zero_stage == 3
        trainable = {n: None if partitioned else tuple(p.shape)
                     for n, p in self.engine.module.named_parameters() if p.requires_grad}

        def load_adapters(src: dict, dst: nn.Module) -> None:
            shapes = {n: None if partitioned else tuple(t.shape) for n, t in src.items()}
            if shapes != trainable:
                differ = sorted(set(shapes.items()) ^ set(trainable.items()))[:2]
                raise ValueError(f"{folder}: checkpoint's LoRA tensors do not fit this model's (lora.rank or "
                                 f"lora.target_modules changed?), e.g. {differ}")
            dst.load_state_dict(src, strict=False)

        if not os.path.isdir(os.path.join(folder, CHECKPOINT_TAG)):
            raise FileNotFoundError(f"{folder}: no DeepSpeed checkpoint (tag {CHECKPOINT_TAG!r})")
        path, client = self.engine.load_checkpoint(folder, tag=CHECKPOINT_TAG, custom_load_fn=load_adapters)
        if path is None:
            raise FileNotFoundError(f"{folder}: DeepSpeed could not load the checkpoint (tag {CHECKPOINT_TAG!r})")
        if client.get("lora_base_config") != _config_fingerprint(self.base_config):
            raise ValueError(f"{folder}: checkpoint was trained on base model {client.get('lora_base_model')!r}, "
                             f"not on lora.base_model '{self.cfg.lora.base_model}' (configs differ)")
        steps = self.engine.global_steps
        self._last_lr = self.cfg.optim.lr * self._schedule(max(0, steps - 1))

    def memory_report(self) -> dict[str, Any]:
        """Trainable parameters and gradient / AdamW state bytes, LoRA vs a full fine-tune, of the whole
        model (`estimate_memory_report`; cheap, for printing at the start of a run)."""
        return estimate_memory_report(self.engine.module, self.cfg.lora)

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """CPU float32 copies of the LoRA tensors (PeftModel.state_dict() names), gathered under ZeRO-3."""
        trainable = [(n, p) for n, p in self.engine.module.named_parameters() if p.requires_grad]
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


# ---------------------------------------------------------------------------------------
# Memory: LoRA vs full fine-tune, measured
# ---------------------------------------------------------------------------------------


def _tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def _measure_step(model: nn.Module, params: list[nn.Parameter], input_ids: torch.Tensor) -> dict[str, int]:
    """Gradient and AdamW state bytes after one real backward and optimizer step over `params`.

    lr = 0 and weight_decay = 0 so the step leaves the weights as they were.
    """
    optimizer = torch.optim.AdamW(params, lr=0.0, weight_decay=0.0)
    loss = model(input_ids=input_ids, labels=input_ids, use_cache=False).loss
    loss.backward()
    grad_bytes = _tensor_bytes(p.grad for p in model.parameters() if p.grad is not None)
    optimizer.step()
    state_bytes = sum(_tensor_bytes(state.values()) for state in optimizer.state.values())
    optimizer.zero_grad(set_to_none=True)
    return {"grad_bytes": grad_bytes, "optimizer_bytes": state_bytes}


def lora_memory_report(model: nn.Module | str, lora: LoraSection, seq_len: int = 16) -> dict[str, Any]:
    """Trainable parameters and measured gradient + AdamW state bytes: LoRA vs full fine-tune.

    `model` is a causal LM module (left unchanged: the LoRA side wraps a deep copy) or a local
    folder. Both sides run one forward/backward on one random sequence of `seq_len` tokens and one
    AdamW step (lr 0), then sum the bytes of the gradients and of the optimizer state tensors
    (exp_avg, exp_avg_sq, step). Weight bytes are those of all parameters (the frozen base is
    still held in memory). Activations are not counted; they depend on batch and sequence length.
    """
    if isinstance(model, str):
        model = load_base_model(model)
    vocab = int(model.config.get_text_config().vocab_size)
    input_ids = torch.randint(0, vocab, (1, seq_len), generator=torch.Generator().manual_seed(0))
    params = list(model.parameters())
    was_training, requires = model.training, [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    model.train()
    full = _measure_step(model, params, input_ids)
    for p, r in zip(params, requires):
        p.requires_grad_(r)
    model.train(was_training)

    peft_model = wrap_lora(copy.deepcopy(model), lora, seed=0)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    peft_model.train()
    adapted = _measure_step(peft_model, trainable, input_ids)

    full["weight_bytes"], adapted["weight_bytes"] = _tensor_bytes(params), _tensor_bytes(peft_model.parameters())
    full["trainable_params"] = sum(p.numel() for p in params)
    adapted["trainable_params"] = sum(p.numel() for p in trainable)
    adapted["trainable_tensors"] = len(trainable)
    return _report(model.config.model_type, lora, full, adapted, "measured after one AdamW step")


def _report(model_type: str, lora: LoraSection, full: dict[str, int], adapted: dict[str, int],
            method: str) -> dict[str, Any]:
    for side in (full, adapted):
        side["total_bytes"] = side["weight_bytes"] + side["grad_bytes"] + side["optimizer_bytes"]

    def reduction(key: str) -> float:
        return 100.0 * (1.0 - adapted[key] / full[key])

    return {
        "model_type": model_type,
        "rank": lora.rank,
        "target_modules": target_modules(lora, model_type),
        "method": method,
        "params": full["trainable_params"],
        "full": full,
        "lora": adapted,
        "trainable_percent": 100.0 * adapted["trainable_params"] / full["trainable_params"],
        "reduction_percent": {key: reduction(key) for key in ("optimizer_bytes", "grad_bytes", "total_bytes")},
    }


def estimate_memory_report(peft_model: nn.Module, lora: LoraSection) -> dict[str, Any]:
    """`lora_memory_report`'s numbers for a live peft model, computed instead of measured.

    For the start of a real run: no copy of the model, no step. fp32 AdamW keeps exp_avg and
    exp_avg_sq (8 bytes per parameter) and a 4-byte step per tensor, which is exactly what
    `lora_memory_report` measures (tests/trainers/test_lora.py checks it); gradients and weights
    take the parameters' dtype. Whole-model numbers: ZeRO divides gradients and optimizer state
    over the data-parallel ranks (stage 2 and 1), and stage 3 the weights too. Reads ZeRO-3
    partitioned parameters' full sizes (ds_numel).
    """
    def numel(p: torch.Tensor) -> int:
        return int(getattr(p, "ds_numel", p.numel()))

    params = list(peft_model.parameters())
    base = [p for p in params if not p.requires_grad]
    trainable = [p for p in params if p.requires_grad]

    def side(tensors: list[torch.Tensor], weights: list[torch.Tensor]) -> dict[str, int]:
        return {"trainable_params": sum(numel(p) for p in tensors),
                "grad_bytes": sum(numel(p) * p.element_size() for p in tensors),
                "optimizer_bytes": sum(8 * numel(p) + 4 for p in tensors),
                "weight_bytes": sum(numel(p) * p.element_size() for p in weights)}

    full = side(base, base)
    adapted = side(trainable, params)
    adapted["trainable_tensors"] = len(trainable)
    model_type = peft_model.get_base_model().config.model_type
    return _report(model_type, lora, full, adapted, "estimated for fp32 AdamW")


def format_memory_report(report: dict[str, Any]) -> str:
    """A report of `lora_memory_report` or `estimate_memory_report` as a short fixed-width table."""
    def mib(n: int) -> str:
        return f"{n / 2**20:,.1f} MiB"

    full, lora, red = report["full"], report["lora"], report["reduction_percent"]
    rows = [
        ("", "full fine-tune", f"LoRA r={report['rank']}", "reduction"),
        ("trainable params", f"{full['trainable_params']:,}", f"{lora['trainable_params']:,}",
         f"{100 - report['trainable_percent']:.2f}%"),
        ("optimizer state", mib(full["optimizer_bytes"]), mib(lora["optimizer_bytes"]),
         f"{red['optimizer_bytes']:.2f}%"),
        ("gradients", mib(full["grad_bytes"]), mib(lora["grad_bytes"]), f"{red['grad_bytes']:.2f}%"),
        ("weights", mib(full["weight_bytes"]), mib(lora["weight_bytes"]),
         f"{100 * (1 - lora['weight_bytes'] / full['weight_bytes']):.2f}%"),
        ("weights+grads+optim", mib(full["total_bytes"]), mib(lora["total_bytes"]), f"{red['total_bytes']:.2f}%"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"LoRA memory ({report['model_type']}, {report['params']:,} params, targets "
             f"{','.join(report['target_modules'])}; {report['method']}, activations not counted)"]
    lines += ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
              for r in rows]
    return "\n".join(lines)


__all__ = ["DEFAULT_TARGET_MODULES", "default_target_modules", "target_modules", "lora_config", "check_lora_inputs",
           "tokenizer_folder", "load_base_model", "wrap_lora", "deepspeed_config", "LoraEngine",
           "write_lora_folder", "lora_memory_report", "estimate_memory_report", "format_memory_report"]
