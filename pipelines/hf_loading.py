"""How the model stages load Hugging Face models in Beam workers."""

from __future__ import annotations


def quiet_model_loading() -> None:
    """Turn off transformers' per-load progress bars: every Beam worker loads the model, and the
    bars would bury the job's own progress lines."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
