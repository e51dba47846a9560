"""Every loader of a user's model folder loads safetensors only (pipelines.hf_loading): a pickled
pytorch_model.bin is never opened, whatever index file sits beside it.

Each of the five paths (export, train --model.init-from, the LoRA base model, ppl-filter's
reference LM, backtranslate's models) is run on a folder whose pytorch_model.bin is a pickle that
writes a marker file when unpickled, and with torch.load replaced by a spy that writes it too.
"""

import json
import os
import pickle
import shutil

import pytest
import torch

from fullchain.exporters.hf_folder import ExportError, check_hf_folder, load_model
from fullchain.pipelines.backtranslate import translators
from fullchain.pipelines.backtranslate.config import BacktranslateConfig
from fullchain.pipelines.backtranslate.model_check import check_models
from fullchain.pipelines.config import ModelCheckError, load_config
from fullchain.pipelines.hf_loading import ModelFolderError, load_pretrained, safetensors_weights
from fullchain.pipelines.perplexity.config import PerplexityConfig
from fullchain.pipelines.perplexity.model_handler import PerplexityModelHandler, check_model
from tests.trainers.train_fixtures import write_text_shards
from fullchain.trainers.config import TrainConfig
from fullchain.trainers.hf_interop import load_base_model, load_hf_folder
from fullchain.trainers.lora_checks import check_lora_inputs
from fullchain.trainers.preflight import TrainConfigError, model_config

SHARD = "model-00001-of-00001.safetensors"


class _WritesMarker:
    """Unpickled, it creates the file `path` (what a malicious checkpoint would do, harmlessly)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def source(tiny_lm):
    """The shared sample model; each test copies it before changing anything."""
    return tiny_lm


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Shards tokenized with the model's tokenizer, for the LoRA check's tokenizer comparison."""
    root = str(tmp_path_factory.mktemp("shards"))
    return root, write_text_shards(root, docs=40, train_shards=1)


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """The file that appears if anything unpickles the weights or calls torch.load."""
    path = tmp_path / "MARKER"

    def spy(*args, **kwargs):
        path.write_text("torch.load called")
        raise AssertionError("torch.load called on a user's weights")

    monkeypatch.setattr(torch, "load", spy)
    return path


def _folder(source, root, layout, marker):
    """A copy of `source` with a pickled pytorch_model.bin, laid out as `layout`."""
    folder = root / layout
    shutil.copytree(source, folder)
    with open(folder / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"model.embed_tokens.weight": _WritesMarker(str(marker))}, fh)
    if layout == "safetensors_shards_and_bin":
        os.rename(folder / "model.safetensors", folder / SHARD)
        from safetensors import safe_open

        with safe_open(str(folder / SHARD), "pt") as fh:
            names = list(fh.keys())
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {name: SHARD for name in names}}))
        return folder
    os.remove(folder / "model.safetensors")
    if layout == "index_names_bin":
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {"model.embed_tokens.weight": "pytorch_model.bin"}}))
    return folder


LAYOUTS = ["index_names_bin", "safetensors_shards_and_bin", "bin_only"]


def _loaders(folder, shards):
    """(name, check, load) of each path that loads weights from a user's folder."""
    root, manifest = shards
    train_cfg = load_config(TrainConfig, None, {"model.init_from": str(folder), "data.seq_len": "32",
                                                 "data.manifest": root, "mode": "lora",
                                                 "lora.base_model": str(folder)})
    ppl = PerplexityModelHandler(PerplexityConfig(model=str(folder), window_tokens=16))
    backtranslate = BacktranslateConfig(model_kind="causal", forward_model=str(folder),
                                        backward_model=str(folder))
    return [
        ("export", lambda: check_hf_folder(str(folder)), lambda: load_model(str(folder))),
        ("init_from", lambda: model_config(train_cfg, 400), lambda: load_hf_folder(folder)),
        ("lora", lambda: check_lora_inputs(train_cfg, manifest), lambda: load_base_model(str(folder))),
        ("ppl_filter", lambda: check_model(str(folder)), ppl.load_model),
        ("backtranslate", lambda: check_models(backtranslate),
         lambda: translators.load_model("causal", str(folder), "cpu")),
    ]


REFUSALS = (ExportError, TrainConfigError, ModelCheckError, ModelFolderError, ValueError)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_loader_unpickles_weights(source, shards, tmp_path, marker, monkeypatch, layout):
    folder = _folder(source, tmp_path, layout, marker)
    monkeypatch.setattr(translators, "_LOADED", {})
    for name, check, load in _loaders(folder, shards):
        for step, call in (("check", check), ("load", load)):
            if layout == "safetensors_shards_and_bin":
                call()  # the safetensors shards are enough: loads them and nothing else
            else:
                with pytest.raises(REFUSALS) as info:
                    call()
                message = str(info.value)
                assert "\n" not in message and str(folder) in message, (name, step, message)
                assert "safetensors" in message, (name, step, message)
            assert not marker.exists(), (name, step)


def test_only_the_safetensors_weights_are_loaded(source, tmp_path, marker):
    from transformers import AutoModelForCausalLM

    folder = _folder(source, tmp_path, "safetensors_shards_and_bin", marker)
    model = load_pretrained(AutoModelForCausalLM, str(folder))
    reference = AutoModelForCausalLM.from_pretrained(source)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    assert model.config._name_or_path == str(folder)


@pytest.mark.parametrize("weight_map_value, match", [
    ("pytorch_model.bin", "not a .safetensors file"),
    ("../outside.safetensors", "not a .safetensors file"),
    ("sub/model.safetensors", "not a .safetensors file"),
    ("absent.safetensors", "missing"),
    ("truncated.safetensors", "not a readable safetensors file"),
])
def test_safetensors_weights_refuses_what_the_index_names(source, tmp_path, weight_map_value, match):
    folder = tmp_path / "model"
    shutil.copytree(source, folder)
    data = (folder / "model.safetensors").read_bytes()
    os.remove(folder / "model.safetensors")
    (tmp_path / "outside.safetensors").write_bytes(data)
    (folder / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": weight_map_value}}))
    with pytest.raises(ModelFolderError, match=match) as info:
        safetensors_weights(str(folder))
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


def test_a_truncated_single_file_is_refused(source, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(source, folder)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-100])
    with pytest.raises(ModelFolderError, match="model.safetensors: not a readable safetensors file"):
        safetensors_weights(str(folder))
