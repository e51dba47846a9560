"""The one typed config of `fullchain train` (pretraining and LoRA fine-tuning).

Loaded once from YAML with `pipelines.config.load_config(TrainConfig, path, overrides)`;
every field is also a flag (`train.micro_batch_size` <-> `--train.micro-batch-size`). Checks that
need only the config live in `__post_init__`; checks that need the world size or the manifest
live in `trainers.preflight`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fullchain.pipelines.config import option
from fullchain.trainers.model import ModelConfig, debug_config, llama_1b_config, llama_8b_config

MODEL_PRESETS = {"debug": debug_config, "llama-1b": llama_1b_config, "llama-8b": llama_8b_config}
MODES = ("pretrain", "lora")
PRECISIONS = ("fp32", "bf16", "fp16")
METRICS_SINKS = ("jsonl", "tensorboard")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass
class DataSection:
    manifest: str = option("", "Shards folder (or its manifest.json) written by `fullchain shard`.")
    seq_len: int = option(256, "Tokens per training sequence (documents are packed, EOS-separated).")
    num_workers: int = option(1, "DataLoader worker processes per rank (0 = read in the training process).")
    seed: int = option(0, "Seed of the shard order per epoch.")

    def __post_init__(self):
        _check(self.seq_len >= 1, f"data.seq_len must be >= 1, got {self.seq_len}")
        _check(self.num_workers >= 0, f"data.num_workers must be >= 0, got {self.num_workers}")


@dataclass
class ModelSection:
    preset: str = option("debug", f"Model shape: one of {sorted(MODEL_PRESETS)}; the fields below override it.")
    init_from: str = option("", "HF Llama folder to start from (its shape wins over preset and overrides).")
    hidden_size: int | None = option(None, "Override the preset's hidden size.")
    intermediate_size: int | None = option(None, "Override the preset's MLP width.")
    num_layers: int | None = option(None, "Override the preset's number of decoder blocks.")
    num_heads: int | None = option(None, "Override the preset's attention heads.")
    num_kv_heads: int | None = option(None, "Override the preset's key/value heads (grouped-query attention).")
    rope_theta: float | None = option(None, "Override the preset's rotary base.")

    def __post_init__(self):
        _check(self.preset in MODEL_PRESETS, f"model.preset must be one of {sorted(MODEL_PRESETS)}, "
                                             f"got {self.preset!r}")

    def build(self, vocab_size: int, seq_len: int) -> ModelConfig:
        """The model shape: preset, then overrides; vocabulary from the tokenizer, positions >= seq_len."""
        base = MODEL_PRESETS[self.preset]().to_dict()
        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads", "rope_theta"):
            if getattr(self, name) is not None:
                base[name] = getattr(self, name)
        base["vocab_size"] = vocab_size
        base["max_seq_len"] = max(base["max_seq_len"], seq_len)
        # Tied embeddings are not split over pipeline stages here; presets tie only for the 1B shape.
        base["tie_embeddings"] = False
        return ModelConfig(**base)


@dataclass
class ParallelSection:
    dp: int = option(0, "Data-parallel degree; 0 = world size / (pp * tp).")
    pp: int = option(1, "Pipeline-parallel stages (deepspeed.pipe).")
    tp: int = option(1, "Tensor-parallel degree (Megatron-style column/row-parallel linears).")
    zero_stage: int = option(1, "ZeRO stage for the data-parallel group: 0, 1, or 2/3 when pp = 1.")

    def __post_init__(self):
        _check(self.dp >= 0 and self.pp >= 1 and self.tp >= 1,
               f"parallel degrees must be positive (dp may be 0 = auto), got dp={self.dp} pp={self.pp} tp={self.tp}")
        _check(self.zero_stage in (0, 1, 2, 3), f"parallel.zero_stage must be 0..3, got {self.zero_stage}")
        _check(not (self.zero_stage >= 2 and self.pp > 1),
               f"parallel.zero_stage {self.zero_stage} is incompatible with pipeline parallelism (pp={self.pp}); "
               f"use zero_stage 1 or pp 1")


@dataclass
class OptimSection:
    lr: float = option(3e-4, "Peak learning rate (AdamW).")
    min_lr: float = option(3e-5, "Learning rate at the end of the cosine decay.")
    warmup_steps: int = option(100, "Linear warm-up steps from 0 to lr.")
    weight_decay: float = option(0.1, "AdamW weight decay.")
    beta1: float = option(0.9, "AdamW beta1.")
    beta2: float = option(0.95, "AdamW beta2.")
    eps: float = option(1e-8, "AdamW epsilon.")
    grad_clip: float = option(1.0, "Clip the global gradient norm to this value; 0 = no clipping.")

    def __post_init__(self):
        _check(self.lr > 0 and 0 <= self.min_lr <= self.lr, f"optim: need lr > 0 and 0 <= min_lr <= lr, "
                                                            f"got lr={self.lr} min_lr={self.min_lr}")
        _check(self.warmup_steps >= 0, f"optim.warmup_steps must be >= 0, got {self.warmup_steps}")
        _check(self.grad_clip >= 0, f"optim.grad_clip must be >= 0, got {self.grad_clip}")


@dataclass
class TrainSection:
    steps: int = option(1000, "Optimizer steps to train for (the cosine decay ends here).")
    micro_batch_size: int = option(4, "Sequences per micro-batch per data-parallel rank.")
    grad_accum_steps: int = option(1, "Micro-batches accumulated per optimizer step (also the pipeline's "
                                      "micro-batches).")
    global_batch_size: int = option(0, "Sequences per optimizer step; 0 = micro_batch_size * grad_accum_steps * dp. "
                                       "When set it must equal that product.")
    precision: str = option("fp32", "fp32 or bf16 (CPU); bf16 or fp16 on GPU.")
    activation_checkpointing: bool = option(False, "Recompute each decoder block in backward to save memory.")
    seed: int = option(1234, "Seed of the model initialisation.")

    def __post_init__(self):
        _check(self.steps >= 1, f"train.steps must be >= 1, got {self.steps}")
        _check(self.micro_batch_size >= 1 and self.grad_accum_steps >= 1,
               f"train.micro_batch_size and train.grad_accum_steps must be >= 1, "
               f"got {self.micro_batch_size} and {self.grad_accum_steps}")
        _check(self.global_batch_size >= 0, f"train.global_batch_size must be >= 0, got {self.global_batch_size}")
        _check(self.precision in PRECISIONS, f"train.precision must be one of {PRECISIONS}, got {self.precision!r}")


@dataclass
class EvalSection:
    every: int = option(100, "Evaluate on the validation shards every N steps (and at the end); 0 = never.")
    batches: int = option(8, "Micro-batches per data-parallel rank in one evaluation.")

    def __post_init__(self):
        _check(self.every >= 0 and self.batches >= 1,
               f"eval.every must be >= 0 and eval.batches >= 1, got {self.every} and {self.batches}")


@dataclass
class CheckpointSection:
    every: int = option(200, "Save a checkpoint every N steps (and at the end); 0 = only at the end.")
    keep: int = option(2, "Keep the last K checkpoints.")
    resume: str = option("auto", "auto = continue from the newest complete checkpoint in the output folder; "
                                 "none = start fresh (refused if checkpoints exist); or a checkpoint folder.")

    def __post_init__(self):
        _check(self.every >= 0 and self.keep >= 1,
               f"checkpoint.every must be >= 0 and checkpoint.keep >= 1, got {self.every} and {self.keep}")


@dataclass
class LogSection:
    every: int = option(10, "Write metrics every N steps.")
    sinks: list[str] = option(["jsonl", "tensorboard"], f"Metrics sinks, any of {METRICS_SINKS}.")
    progress: bool = option(True, "Show a progress bar (tokens/s, ETA) on rank 0.")

    def __post_init__(self):
        _check(self.every >= 1, f"log.every must be >= 1, got {self.every}")
        bad = [s for s in self.sinks if s not in METRICS_SINKS]
        _check(not bad, f"log.sinks: unknown sink(s) {bad}; choose from {METRICS_SINKS}")


@dataclass
class LoraSection:
    base_model: str = option("", "HF causal LM folder to fine-tune (mode lora).")
    rank: int = option(8, "LoRA rank r.")
    alpha: int = option(16, "LoRA alpha (the update is scaled by alpha / r).")
    dropout: float = option(0.05, "Dropout on the LoRA input.")
    target_modules: list[str] = option([], "Module names to adapt; empty = the defaults of the architecture "
                                           "(attention and MLP projections).")
    merge: bool = option(True, "Merge the adapters into the base weights when writing the HF folder.")

    def __post_init__(self):
        _check(self.rank >= 1 and self.alpha >= 1, f"lora.rank and lora.alpha must be >= 1, "
                                                    f"got {self.rank} and {self.alpha}")
        _check(0 <= self.dropout < 1, f"lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class TrainConfig:
    """Everything `fullchain train` needs; see `fullchain train --help` or docs/TRAINING.md."""

    output: str = option("", "Run folder: checkpoints/, hf/ (the Hugging Face folder), metrics.jsonl, tensorboard/.")
    mode: str = option("pretrain", f"One of {MODES}: train the decoder from scratch (or init_from), or LoRA.")
    data: DataSection = option(DataSection(), "Training data.")
    model: ModelSection = option(ModelSection(), "Model shape (pretrain).")
    parallel: ParallelSection = option(ParallelSection(), "Parallel degrees.")
    optim: OptimSection = option(OptimSection(), "Optimizer and learning-rate schedule.")
    train: TrainSection = option(TrainSection(), "Batch, steps, precision.")
    eval: EvalSection = option(EvalSection(), "Validation.")
    checkpoint: CheckpointSection = option(CheckpointSection(), "Checkpoints.")
    log: LogSection = option(LogSection(), "Metrics and progress.")
    lora: LoraSection = option(LoraSection(), "LoRA fine-tuning (mode lora).")

    def __post_init__(self):
        _check(self.mode in MODES, f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "lora":
            _check(self.parallel.pp == 1 and self.parallel.tp == 1,
                   "mode lora trains with data parallelism only: set parallel.pp and parallel.tp to 1")
