"""`fullchain run`'s one YAML: every section checked through its stage's typed config before any work,
errors naming file:line and key, the paths between stages refused; the stage table's sections."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fullchain.chain.config import load_chain_config, refuse_run_owned
from fullchain.chain.stages import STAGE_NAMES, STAGES, config_sections
from fullchain.pipelines.config import ConfigError


def _run(tmp_path, text: str) -> subprocess.CompletedProcess:
    config = tmp_path / "run.yaml"
    config.write_text(text)
    return subprocess.run([sys.executable, "-m", "fullchain", "run", str(config), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)


def test_a_bad_key_in_any_section_fails_with_file_line_and_key_before_any_work(tmp_path):
    done = _run(tmp_path, "corpus:\n  documents: 10\ntrain:\n  train:\n    stepz: 3\n")
    assert done.returncode == 2
    assert f"{tmp_path / 'run.yaml'}:5: unknown key 'train.train.stepz' (did you mean 'steps'?)" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_value_is_refused_by_its_sections_own_checks(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("export:\n  validation:\n    windows: many\n")
    with pytest.raises(ConfigError, match=r"run.yaml:3: 'export.validation.windows' must be"):
        load_chain_config(str(config), config_sections())
    config.write_text("chain:\n  nproc_per_node: 0\n")
    with pytest.raises(ConfigError, match=r"run.yaml:2: \[chain\] nproc_per_node must be at least 1"):
        load_chain_config(str(config), config_sections())


def test_a_path_the_run_fills_in_is_refused(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("train:\n  data:\n    manifest: /data/shards\n")
    loaded, _ = load_chain_config(str(config), config_sections())
    with pytest.raises(ConfigError, match="'train.data.manifest' is set by fullchain run"):
        for stage in STAGES:
            refuse_run_owned(loaded, str(config), stage.owned)


def test_lora_runs_only_when_its_section_is_written(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("lora:\n  lora:\n    rank: 4\n")
    loaded, present = load_chain_config(str(config), config_sections())
    assert "lora" in present and loaded.lora.lora.rank == 4
    config.write_text("train:\n  train:\n    steps: 5\n")
    assert "lora" not in load_chain_config(str(config), config_sections())[1]


def test_every_stage_reads_only_stages_before_it():
    for index, stage in enumerate(STAGES):
        assert set(stage.reads) <= set(STAGE_NAMES[:index]), stage.name


def test_the_classifier_stages_run_only_when_configured_and_the_later_stages_read_classify(tmp_path):
    from fullchain.chain.context import RunContext
    from fullchain.chain.stage_runs import filtered_input

    by_name = {stage.name: stage for stage in STAGES}
    config = tmp_path / "run.yaml"
    for text, trains, classifies in (("train:\n  train:\n    steps: 5\n", False, False),
                                     ("quality_classifier:\n  negative_documents: 10\n", True, True),
                                     ("classify:\n  batch_size: 4\n", False, True)):
        config.write_text(text)
        loaded, present = load_chain_config(str(config), config_sections())
        ctx = RunContext(dir=str(tmp_path), config_path=str(config), config=loaded, present=present, user_input="",
                         record=None)
        assert by_name["quality-classifier"].wanted(ctx) is trains and by_name["classify"].wanted(ctx) is classifies
        assert filtered_input(ctx) == ("classify" if classifies else "dedup")
    config.write_text("quality_classifier:\n  train:\n    positive: my/*.jsonl\n")
    loaded, _ = load_chain_config(str(config), config_sections())
    with pytest.raises(ConfigError, match="'quality_classifier.train.positive' is set by fullchain run"):
        refuse_run_owned(loaded, str(config), by_name["quality-classifier"].owned)


def test_input_with_a_quality_classifier_section_is_refused_before_any_work(tmp_path):
    corpus = tmp_path / "mine.jsonl"
    corpus.write_text('{"id": "a", "text": "a document"}\n')
    config = tmp_path / "run.yaml"
    config.write_text("quality_classifier:\n  negative_documents: 10\n")
    done = subprocess.run([sys.executable, "-m", "fullchain", "run", str(config), "--input", str(corpus),
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "quality_classifier section trains from the run's own corpus, and --input replaces it" in done.stderr
    assert not (tmp_path / "out").exists()
