"""Who imports whom (docs/ARCHITECTURE.md): the later stages stand on pipelines' shared floor only,
and pipelines stands on none of them (the front door aside)."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# what trainers/, exporters/ and deploy/ may import from fullchain.pipelines
SHARED_FLOOR = ("fullchain.pipelines.config", "fullchain.pipelines.hf_loading", "fullchain.pipelines.shard.format",
                "fullchain.pipelines.shard.manifest", "fullchain.pipelines.shard.tokenizer_files")
LATER_PACKAGES = ("fullchain.trainers", "fullchain.exporters", "fullchain.deploy")


def _imports(folder: str) -> list[tuple[str, str]]:
    """(file, imported module) for every absolute import in the .py files under `folder`."""
    found = []
    for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                tree = ast.parse(open(path, encoding="utf-8").read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        found.append((os.path.relpath(path, ROOT), node.module))
                    elif isinstance(node, ast.Import):
                        found += [(os.path.relpath(path, ROOT), alias.name) for alias in node.names]
    return found


def test_later_stages_import_only_the_shared_floor_of_pipelines():
    wrong = [(file, module) for folder in ("trainers", "exporters", "deploy") for file, module in _imports(folder)
             if module.startswith("fullchain.pipelines")
             and not any(module == floor or module.startswith(floor + ".") for floor in SHARED_FLOOR)]
    assert wrong == []


def test_pipelines_imports_no_later_stage():
    wrong = [(file, module) for file, module in _imports("pipelines")
             if not file.startswith(os.path.join("pipelines", "front_door"))
             and module.startswith(LATER_PACKAGES)]
    assert wrong == []
