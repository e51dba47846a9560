"""The decoder under DeepSpeed: data x pipeline x tensor parallelism, as a `DistributedModel`.

Two wrappings of the same layers (`trainers.parallelize.pipeline_layer_specs`):

- pp > 1: a `deepspeed.pipe.PipelineModule` driven by `PipelineEngine.train_batch`, which runs
  the 1F1B schedule over the grad-accum micro-batches (ZeRO 0/1; DeepSpeed refuses 2/3 here).
- pp = 1: the same layers in an `nn.Sequential` under the plain `DeepSpeedEngine` (any ZeRO
  stage), with a `PipelineParallelGrid` as the model-parallel unit so ZeRO partitions over the
  data-parallel group only and tensor-parallel groups exist without a pipeline.

Either way every layer keeps its global index as its name (embed 0, blocks 1..L, norm L+1,
head L+2), so weights load from and save to one layout: per (stage, tp rank) safetensors files
that `trainers.hf_interop.export_checkpoint` merges into a Hugging Face folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.checkpoint import checkpoint

from fullchain.trainers.checkpoints import WEIGHTS_DIR, weights_file_name
from fullchain.trainers.config import TrainConfig
from fullchain.trainers.distributed_model import MicroBatches, MicroBatchSteps, deepspeed_config
from fullchain.trainers.model import Decoder, ModelConfig, shifted_loss
from fullchain.trainers.parallelize import (ParallelDims, TPBlock, TPGroup, load_full_weights, make_topology,
                                            mark_model_parallel, pipeline_layer_specs)
from fullchain.trainers.preflight import on_gpu
from fullchain.trainers.schedule import lr_lambda


class _Layers(nn.Sequential):
    """The pipeline's layers in one process group stage, for the ZeRO-2/3 path."""

    def __init__(self, layers: list[nn.Module], activation_checkpointing: bool):
        super().__init__(*layers)
        self.activation_checkpointing = activation_checkpointing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            if self.activation_checkpointing and isinstance(layer, TPBlock) and self.training:
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x


class PretrainModel(MicroBatchSteps):
    """A `DistributedModel` of `trainers.model.Decoder` shapes; build on every rank after init_distributed."""

    def __init__(self, cfg: TrainConfig, model_cfg: ModelConfig, dims: ParallelDims,
                 initial_state: dict[str, torch.Tensor] | None = None):
        import deepspeed

        self.cfg, self.model_cfg, self.dims = cfg, model_cfg, dims
        rank = dist.get_rank()
        topo = make_topology(dims)
        coord = topo.get_coord(rank)
        self.stage, self.tp_rank, self.dp_rank, self.dp_size = coord.pipe, coord.model, coord.data, dims.dp
        self.pipelined = dims.pp > 1
        ds_config = deepspeed_config(cfg, dims, with_optimizer=True, on_gpu=on_gpu())
        schedule = lr_lambda(lr=cfg.optim.lr, min_lr=cfg.optim.min_lr, warmup_steps=cfg.optim.warmup_steps,
                             total_steps=cfg.train.steps)

        def scheduler(optimizer):
            return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

        # Every rank draws the same full initialisation, then keeps its own slices of it, so the
        # model does not depend on the parallel layout.
        if initial_state is None:
            torch.manual_seed(cfg.train.seed)
            initial_state = Decoder(model_cfg).state_dict()
        tp = TPGroup(dims.tp)
        if self.pipelined:
            from deepspeed.pipe import PipelineModule

            module = PipelineModule(
                layers=pipeline_layer_specs(model_cfg, tp), loss_fn=shifted_loss, topology=topo,
                partition_method=f"type:{TPBlock.__name__}",
                activation_checkpoint_interval=1 if cfg.train.activation_checkpointing else 0,
                # Only the blocks: a checkpointed embedding gets integer inputs and DeepSpeed's
                # reentrant checkpoint would cut its gradient.
                checkpointable_layers=[TPBlock.__name__])
            tp.group = module.mpu().get_slice_parallel_group()
            mpu = None
        else:
            from deepspeed.runtime.pipe.topology import PipelineParallelGrid

            mpu = PipelineParallelGrid(topology=topo)
            tp.group = mpu.get_slice_parallel_group()
            module = _Layers([spec.build() for spec in pipeline_layer_specs(model_cfg, tp)],
                             cfg.train.activation_checkpointing)
        load_full_weights(module, initial_state, model_cfg, self.tp_rank, dims.tp)
        mark_model_parallel(module.named_parameters(), self.tp_rank)
        self.ds_engine, *_ = deepspeed.initialize(model=module, model_parameters=module.parameters(),
                                               config=ds_config, lr_scheduler=scheduler, mpu=mpu)
        self.reads_data = (not self.pipelined) or self.stage in (0, dims.pp - 1)
        self.saves_data_state = self.stage == 0 and self.tp_rank == 0
        self.dp_group = (self.ds_engine.mpu if self.pipelined else mpu).get_data_parallel_group()
        self.grad_accum = cfg.train.grad_accum_steps
        self._last_lr = float(self.ds_engine.get_lr()[0])

    # -- steps ----------------------------------------------------------------------------

    def _micro_loss(self, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        device = self.ds_engine.device
        return shifted_loss(self.ds_engine(input_ids.to(device)), labels.to(device))

    def train_step(self, micro_batches: MicroBatches) -> float:
        if not self.pipelined:
            return self.accumulated_train_step(micro_batches, self._micro_loss)
        self._last_lr = float(self.ds_engine.get_lr()[0])
        return float(self.ds_engine.train_batch(data_iter=micro_batches))

    def eval_step(self, micro_batches: MicroBatches) -> float:
        if not self.pipelined:
            return self.accumulated_eval_step(micro_batches, self._micro_loss)
        with torch.no_grad():
            loss = self.ds_engine.eval_batch(data_iter=micro_batches)
        self.ds_engine.module.train()
        return self.dp_mean(loss)

    # -- state ----------------------------------------------------------------------------

    def save(self, folder: str) -> None:
        self.ds_engine.save_checkpoint(folder, tag="ds")
        self.save_weights(os.path.join(folder, WEIGHTS_DIR))

    def load(self, folder: str) -> None:
        path, _ = self.ds_engine.load_checkpoint(folder, tag="ds")
        if path is None:
            raise FileNotFoundError(f"{folder}: no DeepSpeed checkpoint (tag 'ds')")

    def save_weights(self, folder: str) -> None:
        """This (stage, tp rank)'s weights as safetensors, named by global layer index; written by dp rank 0."""
        from safetensors.torch import save_file

        module = self.ds_engine.module
        params = list(module.parameters())
        if self.cfg.parallel.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(params):
                state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
        else:
            state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
        if self.dp_rank == 0:
            Path(folder).mkdir(parents=True, exist_ok=True)
            # Saved in fp32 whatever the training precision: the HF folder and later stages want full weights.
            save_file({k: v.float() for k, v in state.items()},
                      os.path.join(folder, weights_file_name(self.stage, self.tp_rank)))
        dist.barrier()
