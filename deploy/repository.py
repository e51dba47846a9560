"""Publishing an export folder as a new version in a Triton model repository (local or fsspec URL).

A publish writes, for one version N, `<name>/N/` (the ONNX graph, and release.json: what the release
gate of deploy/release_gate.py decided) and `<model>/N/` for each generation model (its model.py,
request_checks.py and model_plumbing.py, the export's kv_decoding.py, tokenizer files,
export.json), then their config.pbtxt files. Every version folder is written under a hidden
temporary name and renamed when complete; an existing version is never overwritten, and on any
failure everything this publish wrote is removed again.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from fullchain.deploy.config import PUBLISHED_NAME_MAX, PublishConfig, check_model_name, check_version, version_of_folder
from fullchain.deploy.release_gate import RELEASE_FILE, ReleaseGateError, gate_report
from fullchain.deploy.triton_config import generation_models, llm_model_name, onnx_io_text, onnx_model_config

EXPORT_FORMAT = "fullchain-onnx-export"
# the generation model's own files, copied into each of its version folders
GENERATE_MODEL_DIR = Path(__file__).parent / "triton_models" / "generate"
GENERATE_MODEL_FILES = ("model.py", "request_checks.py")
# the Triton plumbing every Python-backend model imports (site-packages, the graph runner)
MODEL_PLUMBING_FILE = Path(__file__).parent / "triton_models" / "model_plumbing.py"
# <name>_llm's files: its own, the generation model's request checks, the plumbing and the scheduler core
LLM_MODEL_FILES = {"model.py": Path(__file__).parent / "triton_models" / "llm" / "model.py",
                   "llm_request.py": Path(__file__).parent / "triton_models" / "llm" / "llm_request.py",
                   "response_queue.py": Path(__file__).parent / "triton_models" / "llm" / "response_queue.py",
                   "request_checks.py": GENERATE_MODEL_DIR / "request_checks.py",
                   "model_plumbing.py": MODEL_PLUMBING_FILE,
                   "continuous_batching.py": Path(__file__).parent / "continuous_batching.py",
                   "batch_rows.py": Path(__file__).parent / "batch_rows.py"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class RepositoryError(RuntimeError):
    """A repository that cannot be read or published to; the message is one line, and a failed publish
    leaves nothing half-written."""


@dataclass(frozen=True)
class Published:
    """What a publish wrote: the repository, the model names and the version."""

    repository: str
    models: tuple[str, ...]
    version: int


def validate_name(name: Any) -> str:
    """The name to publish under, or RepositoryError when it is not one plain folder name."""
    try:
        return check_model_name(name, PUBLISHED_NAME_MAX)
    except ValueError as e:
        raise RepositoryError(str(e)) from None


def validate_version(version: Any) -> int:
    """The version, or RepositoryError when it is not one Triton accepts (1..2^63-1)."""
    try:
        return check_version(version)
    except ValueError as e:
        raise RepositoryError(str(e)) from None


def read_export(export_dir: str | os.PathLike) -> dict[str, Any]:
    """export.json of a complete export folder, checked for the files publish needs."""
    folder = Path(export_dir)
    manifest = folder / "export.json"
    if not folder.is_dir():
        raise RepositoryError(f"export folder {folder} does not exist")
    if not manifest.is_file():
        raise RepositoryError(f"{folder} has no export.json: the export is incomplete or not a fullchain export "
                           "(run `fullchain export` to completion first)")
    try:
        export = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RepositoryError(f"{manifest} is not valid JSON: {e}") from None
    if export.get("format") != EXPORT_FORMAT:
        raise RepositoryError(f"{manifest}: format is {export.get('format')!r}, expected {EXPORT_FORMAT!r}")
    for key in ("model_file", "inputs", "outputs"):
        if key not in export:
            raise RepositoryError(f"{manifest} has no '{key}'")
    needed = [export["model_file"], export.get("external_data_file"), "kv_decoding.py", "tokenizer.json"]
    needed = [f for f in needed if f]
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise RepositoryError(f"export folder {folder} lacks {', '.join(missing)}")
    return export


def repository_fs(repository: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and root path of a repository given as a local path or fsspec URL."""
    if not repository:
        raise RepositoryError("no repository given (--repository PATH_OR_URL)")
    try:
        return fsspec.core.url_to_fs(repository)
    except (ImportError, ValueError) as e:
        raise RepositoryError(f"cannot open repository {repository}: {e}") from None


def _folders(fs: fsspec.AbstractFileSystem, path: str) -> list[str]:
    """The names of the sub-folders of `path` that Triton looks at (hidden ones, such as publish's
    temporary folders, are not)."""
    return sorted(p["name"].rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=True)
                  if p["type"] == "directory" and not p["name"].rstrip("/").rsplit("/", 1)[-1].startswith("."))


def model_versions(fs: fsspec.AbstractFileSystem, model_dir: str) -> list[int]:
    """The versions present in one model folder, ascending; RepositoryError naming a sub-folder that is
    not a version Triton can read (one such folder makes tritonserver abort for every model)."""
    if not fs.isdir(model_dir):
        return []
    try:
        return sorted(version_of_folder(n) for n in _folders(fs, model_dir))
    except ValueError as e:
        raise RepositoryError(f"{model_dir}: {e}; remove or rename it") from None


def list_models(repository: str) -> dict[str, str]:
    """Model name -> its backend ('onnxruntime' for platform onnxruntime_onnx, 'python', ...) for every
    model folder of the repository that has a config.pbtxt; RepositoryError naming the first folder
    whose name or version folders the server cannot take."""
    fs, root = repository_fs(repository)
    if not fs.isdir(root):
        raise RepositoryError(f"model repository {repository} does not exist")
    models = {}
    for name in _folders(fs, root):
        try:
            check_model_name(name)
        except ValueError as e:
            raise RepositoryError(f"{repository}: {e}; remove or rename that folder") from None
        config = f"{root}/{name}/config.pbtxt"
        model_versions(fs, f"{root}/{name}")
        if not fs.isfile(config):
            continue
        text = fs.cat_file(config).decode("utf-8")
        backend = re.search(r'^\s*backend:\s*"([^"]+)"', text, re.M)
        platform = re.search(r'^\s*platform:\s*"([^"]+)"', text, re.M)
        if backend:
            models[name] = backend.group(1)
        elif platform:
            models[name] = platform.group(1).split("_")[0]
        else:
            models[name] = ""
    return models


class _Writer:
    """Writes into the repository and remembers what it created, so a failure can remove it all."""

    def __init__(self, fs: fsspec.AbstractFileSystem):
        self.fs = fs
        self.created: list[str] = []

    def makedirs(self, path: str) -> None:
        if not self.fs.exists(path):
            self.fs.makedirs(path, exist_ok=True)
            self.created.append(path)

    def put(self, local: Path, remote: str) -> None:
        self.fs.put_file(str(local), remote)

    def rename_new(self, src: str, dst: str) -> None:
        """Move src to dst; dst must not exist (a version is never overwritten)."""
        if self.fs.exists(dst):
            raise RepositoryError(f"{dst} appeared while publishing; versions are never overwritten")
        if isinstance(self.fs, LocalFileSystem):
            # os.rename is atomic and refuses a non-empty target; shutil.move would move *into* it
            os.rename(src, dst)
        else:
            self.fs.mv(src, dst, recursive=True)
        self.created.append(dst)

    def write_text(self, path: str, text: str) -> None:
        """Write a small file under a temporary name and move it over the old one."""
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        self.fs.pipe_file(tmp, text.encode("utf-8"))
        self.created.append(tmp)
        if isinstance(self.fs, LocalFileSystem):
            os.replace(tmp, path)
        else:
            self.fs.mv(tmp, path)
        self.created.remove(tmp)

    def remove_created(self) -> None:
        for path in reversed(self.created):
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)
        self.created.clear()


def _version_files(model: str, export_dir: Path, export: dict[str, Any], onnx_name: str) -> dict[str, Path]:
    """Version-folder file name -> local source file, for one of the published models."""
    if model == onnx_name:
        files = {"model.onnx": export_dir / export["model_file"]}
        if export.get("external_data_file"):
            # the graph refers to its weights file by this name, relative to model.onnx
            files[export["external_data_file"]] = export_dir / export["external_data_file"]
        return files
    if model == llm_model_name(onnx_name):
        files = dict(LLM_MODEL_FILES)
    else:
        files = {name: GENERATE_MODEL_DIR / name for name in GENERATE_MODEL_FILES}
        files["model_plumbing.py"] = MODEL_PLUMBING_FILE
    files.update({"kv_decoding.py": export_dir / "kv_decoding.py", "export.json": export_dir / "export.json"})
    files.update({f: export_dir / f for f in export.get("tokenizer_files") or TOKENIZER_FILES
                  if (export_dir / f).is_file()})
    return files


def publish(export_dir: str | os.PathLike, cfg: PublishConfig) -> Published:
    """Add the export as a new version of `cfg.name` (and its generation models) in `cfg.repository`."""
    name = validate_name(cfg.name)
    export_dir = Path(export_dir)
    export = read_export(export_dir)
    try:
        release = gate_report(export, export_dir, cfg.gate, cfg.force)
    except ReleaseGateError as e:
        raise RepositoryError(str(e)) from None
    fs, root = repository_fs(cfg.repository)
    configs = {name: onnx_model_config(name, export, cfg), **generation_models(name, cfg)}
    models = list(configs)
    writer = _Writer(fs)
    try:
        version = _choose_version(fs, root, models, cfg.version)
        _check_compatible(fs, f"{root}/{name}/config.pbtxt", export)
        writer.makedirs(root)
        for model in models:
            model_dir = f"{root}/{model}"
            writer.makedirs(model_dir)
            tmp = f"{model_dir}/.tmp-{version}-{uuid.uuid4().hex[:8]}"
            writer.makedirs(tmp)
            for target, source in _version_files(model, export_dir, export, name).items():
                writer.put(source, f"{tmp}/{target}")
            if model == name:
                fs.pipe_file(f"{tmp}/{RELEASE_FILE}", (json.dumps(release, indent=2) + "\n").encode("utf-8"))
            writer.rename_new(tmp, f"{model_dir}/{version}")
            writer.created.remove(tmp)
        for model in models:
            writer.write_text(f"{root}/{model}/config.pbtxt", configs[model])
    except OSError as e:
        writer.remove_created()
        reason = e.strerror or type(e).__name__
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        raise RepositoryError(f"cannot write to repository {cfg.repository}: {reason}{where}") from None
    except BaseException:
        writer.remove_created()
        raise
    return Published(repository=cfg.repository, models=tuple(models), version=version)


def _choose_version(fs: fsspec.AbstractFileSystem, root: str, models: list[str], wanted: int | None) -> int:
    existing = sorted({v for m in models for v in model_versions(fs, f"{root}/{m}")})
    if wanted is None:
        # validated too: one above a version of 2^63-1 is beyond what Triton reads
        return validate_version((existing[-1] + 1) if existing else 1)
    version = validate_version(wanted)
    if version in existing:
        raise RepositoryError(f"version {version} of {models[0]} already exists in {root}; versions are never "
                           f"overwritten (next free: {existing[-1] + 1})")
    return version


def _check_compatible(fs: fsspec.AbstractFileSystem, config_path: str, export: dict[str, Any]) -> None:
    # all versions of a model share one config.pbtxt: a new version must take the same tensors
    if fs.isfile(config_path) and onnx_io_text(export) not in fs.cat_file(config_path).decode("utf-8"):
        raise RepositoryError(f"{config_path} declares other inputs/outputs than this export (e.g. another number "
                           "of layers); publish it under a new name")
