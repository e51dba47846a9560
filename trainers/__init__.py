"""fullchain.trainers (`fullchain train`): the DeepSpeed trainer (data x pipeline x tensor parallel)
of a plain Llama-style decoder, and LoRA fine-tuning of a Hugging Face causal LM; both write an HF folder.

- cli.py: `fullchain train` and `train export-hf`; config.py: TrainConfig, the one typed config
- preflight.py: every check before a process group or model exists (layout, manifest, resume point)
- loop.py: the training loop every rank runs; schedule.py: the learning-rate schedule
- model.py: the decoder, free of distributed code; parallelize.py: dp x pp x tp applied from outside
- distributed_model.py: what the loop needs of a DeepSpeed-wrapped model; pretrain_model.py and
  lora_model.py: the two kinds
- lora_adapters.py, lora_checks.py, lora_memory.py: where adapters go, the LoRA checks, what LoRA saves
- data.py: shards (read through fullchain.pipelines.shard) packed into sequences, with exact resume
- checkpoints.py: checkpoint folders; hf_interop.py: every HF folder read or written, name mapping
- metrics.py: JSON lines and TensorBoard; processes.py: the run lock and processes that die together
"""
