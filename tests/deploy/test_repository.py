"""Publishing into a model repository: names, versions, temp+rename, fsspec URLs, refusals."""

import json
import re
import shutil
import uuid

import fsspec
import pytest

from fullchain.deploy.config import GenerationModelConfig, LlmModelConfig, PublishConfig
from fullchain.deploy.repository import (GENERATE_MODEL_DIR, GENERATE_MODEL_FILES, LLM_MODEL_FILES, MODEL_PLUMBING_FILE,
                                         RepositoryError, list_models,
                                         model_versions, publish, validate_name, validate_version)


def tree(fs, root):
    """Every file under root, relative to it."""
    return sorted(p[len(root.rstrip("/")) + 1:] for p in fs.find(root))


@pytest.fixture()
def memory_repo():
    url = f"memory://repo-{uuid.uuid4().hex[:8]}"
    yield url
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.mark.parametrize("name", ["..", "a/b", "", "a b", "-x", ".hidden", "x" * 65, "a\\b", "ü", None, "tiny\n",
                                  "tiny\r", "a\x00b", "%2e%2e", "a%2Fb", "٣"])
def test_bad_names_are_refused_in_one_line(name):
    with pytest.raises(RepositoryError, match="invalid model name") as e:
        validate_name(name)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("version", [0, -1, True, "1", 1.0, 2**63, 2**64 + 1])
def test_bad_versions_are_refused(version):
    with pytest.raises(RepositoryError, match="invalid version"):
        validate_version(version)


def test_good_names_and_versions_pass():
    assert validate_name("tiny-llama_2") == "tiny-llama_2"
    assert validate_version(7) == 7
    assert validate_version(2**63 - 1) == 2**63 - 1


def test_publish_config_refuses_a_name_or_version_triton_cannot_take():
    with pytest.raises(ValueError, match="invalid model name"):
        PublishConfig(name="tiny\n")
    with pytest.raises(ValueError, match="invalid version"):
        PublishConfig(name="tiny", version=2**63)


def test_the_version_after_the_largest_one_is_refused(export_dir, memory_repo):
    fs, root = fsspec.core.url_to_fs(memory_repo)
    publish(export_dir, PublishConfig(repository=memory_repo, name="tiny", version=2**63 - 1))
    with pytest.raises(RepositoryError, match="invalid version 9223372036854775808"):
        publish(export_dir, PublishConfig(repository=memory_repo, name="tiny"))


@pytest.mark.parametrize("folder,message", [
    ("bad\nname", "invalid model name 'bad\\nname'"), ("tiny_generate/9223372036854775808", "invalid version folder"),
    ("tiny_generate/01", "invalid version folder '01'"), ("tiny_generate/-3", "invalid version folder '-3'"),
    ("tiny_generate/1abc", "invalid version folder '1abc'"), ("a b", "invalid model name 'a b'")])
def test_listing_refuses_a_folder_that_would_stop_the_server(export_dir, tmp_path, folder, message):
    repo = tmp_path / "repo"
    publish(export_dir, PublishConfig(repository=str(repo), name="tiny", llm=LlmModelConfig(enabled=False),
                                      generate=GenerationModelConfig(response_cache=False, stream_model=False)))
    (repo / folder).mkdir()
    with pytest.raises(RepositoryError, match=re.escape(message)) as e:
        list_models(str(repo))
    assert "\n" not in str(e.value).replace("\\n", "")
    (repo / folder).rmdir()
    (repo / ".tmp-2-abcd").mkdir()  # hidden folders (publish's temporary ones) are not Triton's
    assert list_models(str(repo)) == {"tiny": "onnxruntime", "tiny_generate": "python"}


def test_publish_to_memory_writes_versions_in_sequence(export_dir, memory_repo):
    fs, root = fsspec.core.url_to_fs(memory_repo)
    first = publish(export_dir, PublishConfig(repository=memory_repo, name="tiny"))
    second = publish(export_dir, PublishConfig(repository=memory_repo, name="tiny"))
    assert (first.version, second.version) == (1, 2)
    files = tree(fs, root)
    for v in (1, 2):
        assert f"tiny/{v}/model.onnx" in files
        for model in ("tiny_generate", "tiny_generate_cached", "tiny_generate_stream"):
            for f in ("model.py", "request_checks.py", "kv_decoding.py", "tokenizer.json", "export.json"):
                assert f"{model}/{v}/{f}" in files
    # every file of the generation model's folder is published (model.py loads its siblings)
    assert sorted(GENERATE_MODEL_FILES) == sorted(p.name for p in GENERATE_MODEL_DIR.glob("*.py"))
    for f in GENERATE_MODEL_FILES:
        assert fs.cat_file(f"{root}/tiny_generate_stream/1/{f}") == (GENERATE_MODEL_DIR / f).read_bytes()
    assert fs.cat_file(f"{root}/tiny_generate/1/model_plumbing.py") == MODEL_PLUMBING_FILE.read_bytes()
    assert not [f for f in files if ".tmp" in f]
    assert fs.cat_file(f"{root}/tiny/1/model.onnx") == (export_dir / "model.onnx").read_bytes()
    assert fs.cat_file(f"{root}/tiny_generate/2/kv_decoding.py") == (export_dir / "kv_decoding.py").read_bytes()
    assert model_versions(fs, f"{root}/tiny") == [1, 2]
    # <name>_llm: its own files, the generation model's request checks and the scheduler core
    for f, source in LLM_MODEL_FILES.items():
        assert fs.cat_file(f"{root}/tiny_llm/1/{f}") == source.read_bytes()
    assert sorted(p.name for p in LLM_MODEL_FILES["model.py"].parent.glob("*.py")) == ["llm_request.py", "model.py", "response_queue.py"]
    assert fs.cat_file(f"{root}/tiny_llm/2/kv_decoding.py") == (export_dir / "kv_decoding.py").read_bytes()
    assert list_models(memory_repo) == {"tiny": "onnxruntime", "tiny_generate": "python",
                                        "tiny_generate_cached": "python", "tiny_generate_stream": "python",
                                        "tiny_llm": "python"}


def test_an_int8_export_publishes_its_int8_graph(int8_export_dir, memory_repo):
    fs, root = fsspec.core.url_to_fs(memory_repo)
    publish(int8_export_dir, PublishConfig(repository=memory_repo, name="tiny8"))
    export = json.loads((int8_export_dir / "export.json").read_text())
    served = fs.cat_file(f"{root}/tiny8/1/model.onnx")
    assert served == (int8_export_dir / export["model_file"]).read_bytes()
    assert served != (int8_export_dir / export["fp32_model_file"]).read_bytes()


def test_an_existing_version_is_never_overwritten(export_dir, memory_repo):
    fs, root = fsspec.core.url_to_fs(memory_repo)
    publish(export_dir, PublishConfig(repository=memory_repo, name="tiny", version=3))
    before = {f: fs.cat_file(f"{root}/{f}") for f in tree(fs, root)}
    with pytest.raises(RepositoryError, match="version 3 of tiny already exists.*next free: 4"):
        publish(export_dir, PublishConfig(repository=memory_repo, name="tiny", version=3))
    assert {f: fs.cat_file(f"{root}/{f}") for f in tree(fs, root)} == before
    assert publish(export_dir, PublishConfig(repository=memory_repo, name="tiny")).version == 4


def test_file_url_and_plain_path_are_the_same_repository(export_dir, tmp_path):
    publish(export_dir, PublishConfig(repository=f"file://{tmp_path}/repo", name="tiny", llm=LlmModelConfig(enabled=False),
                                      generate=GenerationModelConfig(response_cache=False, stream_model=False)))
    done = publish(export_dir, PublishConfig(repository=str(tmp_path / "repo"), name="tiny",
                                             llm=LlmModelConfig(enabled=False),
                                             generate=GenerationModelConfig(response_cache=False,
                                                                            stream_model=False)))
    assert done.models == ("tiny", "tiny_generate") and done.version == 2
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["tiny", "tiny_generate"]
    assert sorted(p.name for p in (tmp_path / "repo" / "tiny").iterdir()) == ["1", "2", "config.pbtxt"]


def test_export_without_export_json_is_refused(export_dir, tmp_path):
    incomplete = tmp_path / "incomplete"
    shutil.copytree(export_dir, incomplete)
    (incomplete / "export.json").unlink()
    with pytest.raises(RepositoryError, match="has no export.json"):
        publish(incomplete, PublishConfig(repository=str(tmp_path / "repo"), name="tiny"))
    assert not (tmp_path / "repo").exists()


def test_unwritable_repository_fails_in_one_line_and_writes_nothing(export_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RepositoryError, match="cannot write to repository") as e:
        publish(export_dir, PublishConfig(repository=str(blocker / "repo"), name="tiny"))
    assert "\n" not in str(e.value)
    assert blocker.read_text() == "not a folder"


def test_failure_half_way_removes_what_the_publish_wrote(export_dir, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    # the ONNX model's version is written and renamed first; then the generation model's folder cannot be made
    (repo / "tiny_generate").write_text("a file where a model folder should be")
    with pytest.raises(RepositoryError, match="cannot write to repository"):
        publish(export_dir, PublishConfig(repository=str(repo), name="tiny"))
    assert sorted(p.name for p in repo.iterdir()) == ["tiny_generate"]


def test_a_new_version_must_take_the_same_tensors(export_dir, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(export_dir, other)
    meta = json.loads((other / "export.json").read_text())
    meta["inputs"] = meta["inputs"][:3]
    (other / "export.json").write_text(json.dumps(meta))
    repo = str(tmp_path / "repo")
    publish(export_dir, PublishConfig(repository=repo, name="tiny"))
    with pytest.raises(RepositoryError, match="declares other inputs/outputs"):
        publish(other, PublishConfig(repository=repo, name="tiny"))
    assert model_versions(fsspec.filesystem("file"), f"{repo}/tiny") == [1]
