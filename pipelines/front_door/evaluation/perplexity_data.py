"""Perplexity tasks built from given text: JSONL or Parquet files, or a shard output's val split,
one harness task `ppl_<language>` per language (word and byte perplexity, bits per byte, the
harness's own loglikelihood_rolling metrics). The documents scored are written beside the results,
so the numbers can be traced to their text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fullchain.evaluation.config import PerplexityDataConfig
from fullchain.pipelines.decontaminate.training_text import documents

UNDETERMINED = "und"
PERPLEXITY_METRICS = (("word_perplexity", "weighted_perplexity"), ("byte_perplexity", "weighted_perplexity"),
                      ("bits_per_byte", "bits_per_byte"))


def perplexity_tasks(config: PerplexityDataConfig, folder: Path) -> list[dict[str, Any]]:
    """The task dicts of the configured text (none when `config.data` is empty); the per-language
    JSONL files go to `folder`. TrainingTextError for a source that cannot be read."""
    by_language: dict[str, list[str]] = {}
    for source in config.data:
        for text, record in documents(source, config.text_field, splits=("val",)):
            language = str(record.get(config.lang_field) or UNDETERMINED)
            kept = by_language.setdefault(language, [])
            if text.strip() and len(kept) < config.max_documents:
                kept.append(text)
    tasks = []
    if by_language:
        folder.mkdir(parents=True, exist_ok=True)
    for language, texts in sorted(by_language.items()):
        path = folder / f"ppl_{language}.jsonl"
        path.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
        tasks.append({"task": f"ppl_{language}", "dataset_path": "json",
                      "dataset_kwargs": {"data_files": {"test": str(path)}}, "test_split": "test",
                      "output_type": "loglikelihood_rolling", "doc_to_text": "", "doc_to_target": "{{text}}",
                      "metric_list": [{"metric": metric, "aggregation": aggregation, "higher_is_better": False}
                                      for metric, aggregation in PERPLEXITY_METRICS],
                      "metadata": {"version": 1.0, "source": ", ".join(config.data)}})
    return tasks
