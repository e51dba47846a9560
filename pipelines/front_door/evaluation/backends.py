"""The fullchain model backends in lm-evaluation-harness's model registry.

lm-eval 0.4 discovers no external models by itself (no entry points): `register()` adds them, as
lazy placeholders, so nothing heavy is imported until one is used. `fullchain eval` and
`python -m fullchain.evaluation.lm_eval_cli` call it first.
"""

from __future__ import annotations

from lm_eval.api.registry import model_registry

BACKENDS = {
    "fullchain-hf": "fullchain.evaluation.hf_backend:HfLM",
    "fullchain-onnx": "fullchain.evaluation.onnx_backend:OnnxLM",
    "fullchain-served": "fullchain.evaluation.served_backend:ServedLM",
}


def register() -> None:
    """Make `--model fullchain-hf / fullchain-onnx / fullchain-served` known to the harness."""
    for name, target in BACKENDS.items():
        if name not in model_registry:
            model_registry.register(name, target=target)
