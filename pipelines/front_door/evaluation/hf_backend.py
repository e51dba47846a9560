"""`fullchain-hf`: a Hugging Face model folder (what `fullchain train` writes) in PyTorch FP32, as
lm-evaluation-harness's `LM`. The model is loaded as `fullchain export` loads it (safetensors only,
eager attention) and runs through the same flat-cache forward the ONNX graph is traced from, so
its batches, padding and greedy loop are those of the ONNX backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fullchain.evaluation.harness_lm import BackendError, FullchainLM, batch_count, loop_generation
from fullchain.exporters import kv_decoding
from fullchain.exporters.hf_folder import ExportError, check_hf_folder, load_model
from fullchain.exporters.onnx_graph import FlatCacheDecoder, past_names, present_names


class HfLM(FullchainLM):
    """lm-evaluation-harness model over an HF causal LM folder (`path`), FP32 on the CPU;
    `threads` sets torch's intra-op threads (0: its default)."""

    def __init__(self, path: str, batch_size: int | str = 8, generation_batch_size: int | str | None = None,
                 threads: int | str = 0, **kwargs: Any):
        try:
            facts = check_hf_folder(path)
            model = load_model(path)
        except ExportError as e:
            raise BackendError(str(e)) from None
        if int(threads) > 0:
            torch.set_num_threads(int(threads))
        batch = batch_count(batch_size, 8)
        super().__init__(path, facts.max_positions, facts.bos_token_id, facts.eos_token_ids, batch,
                         batch_count(generation_batch_size, batch), "pytorch fp32")
        self.spec = kv_decoding.DecoderSpec(num_layers=facts.num_layers, num_kv_heads=facts.num_kv_heads,
                                            head_dim=facts.head_dim, pad_token_id=facts.pad_token_id or 0,
                                            max_positions=facts.max_positions)
        self.decoder = FlatCacheDecoder(model).eval()
        self.past = past_names(facts.num_layers)
        self.present = present_names(facts.num_layers)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The export graph's contract (kv_decoding's `run`) computed by PyTorch."""
        with torch.no_grad():
            outputs = self.decoder(torch.from_numpy(feeds["input_ids"]), torch.from_numpy(feeds["attention_mask"]),
                                   torch.from_numpy(feeds["position_ids"]),
                                   *(torch.from_numpy(feeds[name]) for name in self.past))
        return dict(zip(["logits", *self.present], (t.numpy() for t in outputs)))

    def batch_logits(self, rows: list[list[int]]) -> np.ndarray:
        return self.run(kv_decoding.prefill_feeds(self.spec, rows))["logits"]

    def generate_tokens(self, prompts: list[list[int]], texts: list[str], max_tokens: int,
                        until: list[str]) -> list[list[int]]:
        return loop_generation(self.run, self.spec, prompts, max_tokens, self.eos_token_ids, until, self.tok_decode)
