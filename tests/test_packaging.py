"""fullchain installs under one name: every package folder is in the wheel as fullchain.*, and the
installed wheel runs the command and a stage from outside the checkout, claiming no other name."""

import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

from fullchain.deploy.repository import GENERATE_MODEL_FILES
from tests.conftest import PROJECT_ROOT

FOLDERS = ("pipelines", "trainers", "exporters", "deploy")


def test_every_package_folder_is_installed_under_fullchain():
    setuptools = tomllib.loads((Path(PROJECT_ROOT) / "pyproject.toml").read_text())["tool"]["setuptools"]
    folder_of = setuptools["package-dir"]
    listed = {}
    for package in setuptools["packages"]:
        parent = max((p for p in folder_of if package == p or package.startswith(p + ".")), key=len)
        listed[package] = Path(folder_of[parent], *package[len(parent):].split(".")[1:]).as_posix()
    on_disk = {str(init.parent.relative_to(PROJECT_ROOT).as_posix())
               for folder in FOLDERS for init in Path(PROJECT_ROOT, folder).rglob("__init__.py")}
    assert set(listed.values()) == on_disk | {folder_of["fullchain"]}
    assert all(package == "fullchain" or package.startswith("fullchain.") for package in listed)


def test_the_wheel_claims_one_name_and_runs_a_stage_outside_the_checkout(dataflow_workdir, tmp_path):
    (wheel,) = (dataflow_workdir / "dist").glob("fullchain-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"fullchain"}
    # publish copies these from the installed package into every generation model's version folder
    assert {f"fullchain/deploy/triton_models/generate/{name}" for name in GENERATE_MODEL_FILES} <= \
        set(zipfile.ZipFile(wheel).namelist())
    # A fresh environment that sees this one's dependencies (through a .pth line, which does not run
    # the editable install's own .pth hook) and the wheel, nothing of the checkout.
    env_dir = tmp_path / "env"
    subprocess.run([sys._base_executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    python = env_dir / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "fullchain-test-deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "corpus.jsonl").write_text('{"text": "The river runs through the old town and past the mill."}\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FULLCHAIN_RUNNERS")}

    def run(*cmd):
        return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)

    assert run(env_dir / "bin" / "fullchain", "--help").returncode == 0
    assert run(python, "-m", "fullchain", "--help").returncode == 0
    imports = run(python, "-c", "import fullchain.pipelines, fullchain.trainers, fullchain.exporters, "
                                "fullchain.deploy, fullchain; print(fullchain.pipelines.__file__)")
    assert imports.returncode == 0 and imports.stdout.startswith(site), imports.stderr[-2000:]
    for other in FOLDERS:
        assert run(python, "-c", f"import {other}").returncode != 0, f"installing fullchain claimed '{other}'"
    clean = run(env_dir / "bin" / "fullchain", "clean", "--input", "corpus.jsonl", "--output", "out",
                "--clean.langid.languages", "en")
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert (work / "out" / "ledger.json").is_file()
