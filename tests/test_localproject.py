"""What a uv project exports for its build (SAM's python-uv workflow), judged by uv itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reviewbot.localproject import uv_dependencies
from reviewbot.requirements import parse_requirements_file
from reviewbot.tree import Tree, join, normalize

BACKEND = '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
WORKSPACE = {
    "pyproject.toml": ('[project]\nname = "root"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
                       '[tool.uv.workspace]\nmembers = ["packages/*", "functions/*"]\n'
                       'exclude = ["packages/skipped"]\n'),
    "packages/common/pyproject.toml": BACKEND + '[project]\nname = "Common_Lib"\nversion = "0.1"\n',
    "packages/common/common_lib/__init__.py": "",
    "packages/models/pyproject.toml": BACKEND + '[project]\nname = "models"\nversion = "0.1"\n',
    "packages/models/models/__init__.py": "",
    "packages/skipped/pyproject.toml": BACKEND + '[project]\nname = "skipped"\nversion = "0.1"\n',
    "libs/util/pyproject.toml": BACKEND + '[project]\nname = "util"\nversion = "0.1"\n',
    "libs/util/util/__init__.py": "",
    "functions/api/pyproject.toml": (
        '[project]\nname = "api"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
        'dependencies = ["common-lib", "models", "util"]\n'
        '[tool.uv.sources]\ncommon-lib = { workspace = true }\n'
        'models = { workspace = true, editable = false }\nutil = { path = "../../libs/util" }\n'),
    "functions/api/app.py": "import common_lib, models, util\n\ndef handler(e, c):\n    pass\n",
}


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        pytest.skip("uv is not installed (it comes with the test extra)")
    return found


def exported_by_uv(tmp_path: Path) -> set[tuple[str, bool]]:
    """(repository folder, editable) of every local line `uv export` writes for the api."""
    for rel, text in WORKSPACE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    api = tmp_path / "functions/api"
    env = {"UV_OFFLINE": "1", "UV_NO_CACHE": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run([uv(), "lock", "--offline", "--python", sys.executable], cwd=api, env=env,
                   check=True, capture_output=True, timeout=120)
    out = subprocess.run([uv(), "export", "--no-emit-project", "--no-hashes", "--frozen",
                          "--no-dev"], cwd=api, env=env, check=True, capture_output=True,
                         text=True, timeout=120).stdout
    # uv writes the lines relative to the workspace root
    return {(normalize(r.local), r.editable)
            for r in parse_requirements_file("x", out).requirements if r.local}


def test_uv_export_of_a_workspace_member_matches_uv(tmp_path):
    truth = exported_by_uv(tmp_path)
    manifest, specs = uv_dependencies(Tree.from_files(WORKSPACE), "functions/api")
    assert manifest == "functions/api/pyproject.toml"
    ours = {(normalize(join("functions/api", r.local)), r.editable)
            for spec in specs for r in parse_requirements_file("x", spec).requirements
            if r.local}
    assert ours == truth == {("packages/common", True), ("packages/models", False),
                             ("libs/util", False)}


def test_a_project_without_a_project_table_exports_nothing():
    assert uv_dependencies(Tree.from_files({"f/pyproject.toml": "[tool.x]\n"}), "f") is None
    assert uv_dependencies(Tree.from_files({"f/a.py": ""}), "f") is None


SAM_UV = ("Transform: AWS::Serverless-2016-10-31\nResources:\n  Api:\n"
          "    Type: AWS::Serverless::Function\n"
          "    Properties: {CodeUri: functions/api, Handler: app.handler, Runtime: python3.12}\n"
          "    Metadata: {BuildMethod: python-uv}\n")


def test_sam_python_uv_exports_the_pyproject_without_a_requirements_file():
    from reviewbot.analysis import Analysis
    from reviewbot.cache import SummaryCache
    from reviewbot.discovery import discover

    files = {**WORKSPACE, "template.yaml": SAM_UV}
    tree = Tree.from_files(files)
    [h] = discover(tree).handlers
    assert h.exports == ("uv",)
    result = Analysis(tree, SummaryCache(disk=False)).check(h)
    # the editable workspace member ships no code; the others are installed
    assert [e.message for e in result.errors] == [
        "Unable to import module 'app': No module named 'common_lib'"]
    assert any("'-e ../../packages/common' installs a link" in w.message for w in result.warnings)
    # a requirements file comes first: only what it names is installed
    files["functions/api/requirements-prod.txt"] = "../../libs/util\n"
    tree = Tree.from_files(files)
    [h] = discover(tree).handlers
    result = Analysis(tree, SummaryCache(disk=False)).check(h)
    assert [e.message.rpartition(" ")[2] for e in result.errors] == [
        "'common_lib'", "'models'"]
