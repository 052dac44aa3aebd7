"""Local projects the build installs, with CPython as the judge.

Each case is a function `fn/` whose requirements.txt names a shared project in the
repository. The test installs it for real, as the builders do (`pip install --target`
from the function's folder, offline, with the backend already installed), copies the
function's code on top, and imports the handler in a fresh interpreter with that folder
first on `sys.path` and no site-packages. reviewbot reads the same files and must agree:
an error exactly when the import fails, with CPython's message (reviewbot names the
repository's file where CPython names the installed copy).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.model import Handler
from reviewbot.package import deployment_package
from reviewbot.tree import Tree

PY = sys.version_info
RUNTIME = f"python{PY.major}.{PY.minor}"  # the runtime whose interpreter judges

HANDLER = ("from common.errors import GoalValidationError\nfrom common import helper\n\n"
           "def handler(event, context):\n    return helper()\n")
PACKAGE = {
    "__init__.py": "from .errors import GoalValidationError\nfrom .util import helper\n",
    "errors.py": "class GoalValidationError(Exception):\n    pass\n",
    "util.py": "from common.errors import GoalValidationError\n\n"
               "def helper():\n    return GoalValidationError\n",
}
# What pull requests do to the installed package: (file, new content or None to delete).
MUTATIONS = {
    "base": {},
    "rename": {"errors.py": "class GoalError(Exception):\n    pass\n"},
    "delete": {"util.py": None},
    "circular": {"errors.py": "from common.util import helper\n\n"
                              "class GoalValidationError(Exception):\n    pass\n"},
}

SETUPTOOLS = '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
PROJECT = '[project]\nname = "common"\nversion = "0.1"\ndescription = "x"\n'

# Build configurations: (project files, the folder the package sits in, in the project).
BACKENDS: dict[str, tuple[dict[str, str], str]] = {
    "setuptools-pyproject-find": (
        {"pyproject.toml": SETUPTOOLS + PROJECT + '[tool.setuptools.packages.find]\nwhere = ["src"]\n'},
        "src"),
    "setuptools-cfg-src": (
        {"setup.cfg": "[metadata]\nname = common\nversion = 0.1\n[options]\npackage_dir =\n"
                      "    =src\npackages = find:\n[options.packages.find]\nwhere = src\n",
         "setup.py": "from setuptools import setup\nsetup()\n"},
        "src"),
    "setup-py-find-packages": (
        {"setup.py": "from setuptools import setup, find_packages\n"
                     "setup(name='common', version='0.1', package_dir={'': 'lib'},\n"
                     "      packages=find_packages(where='lib', exclude=['tests']))\n"},
        "lib"),
    "setup-py-module-constants": (
        {"setup.py": "from setuptools import setup\n"
                     "PACKAGE_NAME = 'common'\nSOURCES = 'lib'\npackages = [PACKAGE_NAME]\n"
                     "setup(name=PACKAGE_NAME, version='0.1', packages=packages,\n"
                     "      package_dir={'': SOURCES}, install_requires=[] + [])\n"},
        "lib"),
    "setuptools-auto-flat": ({"pyproject.toml": SETUPTOOLS + PROJECT}, "."),
    "hatchling": (
        {"pyproject.toml": '[build-system]\nrequires = ["hatchling"]\n'
                           'build-backend = "hatchling.build"\n' + PROJECT
                           + '[tool.hatch.build.targets.wheel]\npackages = ["src/common"]\n'},
        "src"),
    "flit": ({"pyproject.toml": '[build-system]\nrequires = ["flit_core"]\n'
                                'build-backend = "flit_core.buildapi"\n' + PROJECT}, "."),
    "poetry": (
        {"pyproject.toml": '[build-system]\nrequires = ["poetry-core"]\n'
                           'build-backend = "poetry.core.masonry.api"\n'
                           '[tool.poetry]\nname = "common"\nversion = "0.1"\ndescription = "x"\n'
                           'authors = ["a <a@b.c>"]\npackages = [{include = "common", from = "src"}]\n'},
        "src"),
    "pdm": ({"pyproject.toml": '[build-system]\nrequires = ["pdm-backend"]\n'
                               'build-backend = "pdm.backend"\n' + PROJECT
                               + '[tool.pdm.build]\npackage-dir = "src"\n'}, "src"),
    "uv-build": ({"pyproject.toml": '[build-system]\nrequires = ["uv_build"]\n'
                                    'build-backend = "uv_build"\n' + PROJECT}, "src"),
}

# Ways a requirements file names the project (setuptools-pyproject-find), from fn/.
FORMS = {
    "relative": ("../shared/common\n", {}),
    "trailing-slash": ("requests==2.31  # http\n../shared/common/\n", {}),
    "file-url": ("file:../shared/common\n", {}),
    "direct-reference": ("common @ file:../shared/common\n", {}),
    "include": ("-r base.txt\n", {"fn/base.txt": "../shared/common\n"}),
    "constraint-ignored": ("-c constraints.txt\n../shared/common\n",
                           {"fn/constraints.txt": "common==0.1\n"}),
    "editable": ("-e ../shared/common\n", {}),
}


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]


def _files(backend: str, mutation: str, requirements: str = "../shared/common\n",
           extra: dict[str, str] | None = None) -> dict[str, str]:
    project, where = BACKENDS[backend]
    files = {"fn/app.py": HANDLER, "fn/requirements.txt": requirements, **(extra or {})}
    files.update({f"shared/common/{name}": text for name, text in project.items()})
    package = {**PACKAGE, **MUTATIONS[mutation]}
    prefix = "shared/common/" + ("" if where == "." else where + "/") + "common/"
    files.update({prefix + name: text for name, text in package.items() if text is not None})
    files["shared/common/tests/test_common.py"] = "import common\n"  # never installed
    return files


CASES = [Case(f"{b}-{m}", _files(b, m)) for b in BACKENDS for m in MUTATIONS]
CASES += [Case(f"form-{f}-{m}", _files("setuptools-pyproject-find", m, req, extra))
          for f, (req, extra) in FORMS.items() for m in ("base", "rename")]

def pip_version() -> str:
    from importlib.metadata import version
    return version("pip")


LOADER = r"""
import importlib, sys
sys.path.insert(0, sys.argv[1])
try:
    importlib.import_module("app")
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
else:
    print("ok")
"""


def cpython(root: Path, files: dict[str, str]) -> str:
    """Install fn/requirements.txt as the builders do, then import the handler."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    task = root / "task"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(task),
         "-r", "requirements.txt"], cwd=root / "fn", env=env, capture_output=True, text=True,
        timeout=120)
    if proc.returncode != 0 and "Invalid requirement" in proc.stderr \
            and "@ file:.." in files["fn/requirements.txt"]:
        pytest.skip(f"this pip ({pip_version()}) rejects relative `name @ file:` lines; "
                    "newer pip installs them")
    if proc.returncode != 0 and "requests" not in proc.stderr:
        raise AssertionError(proc.stderr)
    if "requests" in files["fn/requirements.txt"]:  # offline: install the local line alone
        (root / "fn/local.txt").write_text("../shared/common/\n")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                        "--no-deps", "--no-build-isolation", "--target", str(task), "-r",
                        "local.txt"], cwd=root / "fn", env=env, check=True, capture_output=True,
                       timeout=120)
    shutil.copytree(root / "fn", task, dirs_exist_ok=True)  # the source copy, last
    out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", LOADER, str(task)],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip().replace(str(task) + os.sep, "")


@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("installed")
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(lambda c: (c.id, cpython(base / c.id, c.files)), CASES))


def engine(files: dict[str, str]):
    h = Handler(name="auth", handler="app.handler", root="fn", runtime=RUNTIME)
    return Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(h)


def _unpathed(message: str) -> str:
    return re.sub(r" \([^()]*\.py\)", "", message)


def _paths(message: str) -> list[str]:
    return re.findall(r" \(([^()]*\.py)\)", message)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reviewbot_agrees_with_cpython_on_the_installed_package(case: Case, judged):
    verdict = judged[case.id]
    result = engine(case.files)
    if verdict == "ok":
        assert result.errors == [], result.errors
        return
    assert result.errors, (verdict, result.warnings)
    first = result.errors[0]  # the innermost failing statement, where CPython raised
    kind, _, message = verdict.partition(": ")
    assert kind in ("ImportError", "ModuleNotFoundError")
    assert _unpathed(first.message) == "Unable to import module 'app': " + _unpathed(message)
    # CPython names the installed copy, reviewbot the repository's file it came from
    theirs, ours = _paths(message), _paths(first.message)
    assert len(theirs) == len(ours)
    assert all(o.endswith("/" + t) for o, t in zip(ours, theirs, strict=True))
    # where the installed package broke, or the handler's import when nothing was installed
    assert first.path.startswith("shared/common/") or (
        first.path == "fn/app.py" and message == "No module named 'common'")


def test_the_judge_sees_both_outcomes(judged):
    verdicts = list(judged.values())
    assert verdicts.count("ok") >= 10 and len(verdicts) - verdicts.count("ok") >= 20


def test_the_installed_package_is_loaded_from_the_shared_project():
    result = engine(_files("setuptools-cfg-src", "base"))
    assert "shared/common/src/common/util.py" in result.files
    assert "shared/common/tests/test_common.py" not in result.files


def test_only_the_installed_names_are_seen_from_the_project_folder():
    files = _files("hatchling", "base")
    files["shared/common/src/extra.py"] = "X = 1\n"  # beside the package, not packaged
    files["fn/app.py"] = "import extra\n" + HANDLER
    result = engine(files)
    assert [e.message for e in result.errors] == [
        "Unable to import module 'app': No module named 'extra'"]


def test_the_function_own_module_wins_over_an_installed_one():
    files = _files("setuptools-pyproject-find", "rename")  # the installed one is broken
    files.update({f"fn/common/{name}": text for name, text in PACKAGE.items()})
    assert engine(files).errors == []


def test_editable_and_missing_folders_are_warnings_that_say_why():
    files = _files("setuptools-pyproject-find", "base", "-e ../shared/common\n../nowhere\n")
    result = engine(files)
    # `-e` ships no code (the "editable" form above has CPython agree): the import fails.
    assert {e.message for e in result.errors} == {
        "Unable to import module 'app': No module named 'common'"}
    messages = [w.message for w in result.warnings]
    assert any("'-e ../shared/common' installs a link" in m for m in messages)
    assert any("'../nowhere' is not a folder of the repository" in m for m in messages)


def test_a_folder_pip_cannot_build_is_guessed_with_a_warning():
    files = {"fn/app.py": HANDLER, "fn/requirements.txt": "../shared/src/common/\n",
             **{f"shared/src/common/{n}": t for n, t in PACKAGE.items()}}
    result = engine(files)
    assert result.errors == []
    assert any("no pyproject.toml, setup.cfg or setup.py" in w.message
               and w.path == "fn/requirements.txt" and w.line == 1 for w in result.warnings)


def test_local_dependencies_of_an_installed_project_come_along():
    files = {"fn/app.py": "import common\nimport base_lib\n" + HANDLER,
             "fn/requirements.txt": "../shared/common\n",
             "shared/common/pyproject.toml": SETUPTOOLS + PROJECT
             + 'dependencies = ["base-lib", "pydantic>=2"]\n'
               '[tool.uv.sources]\nbase-lib = { path = "../base" }\n',
             **{f"shared/common/common/{n}": t for n, t in PACKAGE.items()},
             "shared/base/pyproject.toml": SETUPTOOLS + PROJECT.replace("common", "base-lib"),
             "shared/base/base_lib/__init__.py": ""}
    tree = Tree.from_files(files)
    pkg = deployment_package(tree, ("fn",))
    assert {i.project for i in pkg.installed} == {"shared/common", "shared/base"}
    assert "pydantic" in pkg.third_party
    assert engine(files).errors == []


def test_an_edit_to_the_installed_package_is_a_shared_module_edit():
    from reviewbot.config import parse_config
    from reviewbot.review import review

    config = parse_config("discover: false\nhandlers:\n"
                          "  - {name: auth, handler: app.handler, root: fn}\n"
                          "  - {name: goals, handler: app.handler, root: fn2}\n"
                          "  - {name: other, handler: app.handler, root: fn3}\n")
    base_files = _files("setuptools-cfg-src", "base")
    base_files.update({"fn2/app.py": HANDLER, "fn2/requirements.txt": "../shared/common\n",
                       "fn3/app.py": "def handler(event, context):\n    return 1\n"})
    head_files = dict(base_files)
    edited = "shared/common/src/common/errors.py"
    head_files[edited] = MUTATIONS["rename"]["errors.py"]
    report = review(base=Tree.from_files(base_files), head=Tree.from_files(head_files),
                    changed={edited: "M"}, config=config, cache=SummaryCache(disk=False))
    affected = {s.handler.name: s.chain for s in report.handlers if s.affected}
    assert affected == {"auth": ("app", "common.errors"), "goals": ("app", "common.errors")}
    [shared] = report.shared_modules
    assert (shared.path, shared.handlers) == (edited, ("auth", "goals"))
    assert shared.removed_names == ("GoalValidationError",)
    assert {e.handler for e in report.errors} == {"auth", "goals"}


def test_a_change_to_the_installed_project_build_file_reaches_its_functions():
    from reviewbot.config import parse_config
    from reviewbot.review import review

    config = parse_config("discover: false\nhandlers:\n"
                          "  - {name: auth, handler: app.handler, root: fn}\n")
    base_files = _files("hatchling", "base")
    head_files = dict(base_files)
    # the wheel now packages another folder: `common` is no longer installed
    build = "shared/common/pyproject.toml"
    head_files[build] = base_files[build].replace('["src/common"]', '["src/other"]')
    head_files["shared/common/src/other/__init__.py"] = ""
    report = review(base=Tree.from_files(base_files), head=Tree.from_files(head_files),
                    changed={build: "M", "shared/common/src/other/__init__.py": "A"},
                    config=config, cache=SummaryCache(disk=False))
    assert [s.handler.name for s in report.handlers if s.affected] == ["auth"]
    assert [e.message for e in report.errors][-1] == (
        "Unable to import module 'app': No module named 'common'")


SERVERLESS = ("service: s\nplugins:\n  - serverless-python-requirements\ncustom:\n"
              "  pythonRequirements:\n    vendor: ../common\nprovider:\n  name: aws\n"
              "  runtime: " + RUNTIME + "\nfunctions:\n  first:\n    handler: src/handler.handler\n")
POETRY = ('[tool.poetry]\nname = "first"\nversion = "0.1.0"\n[tool.poetry.dependencies]\n'
          'python = "^3.9"\nnumpy = "^1.20"\nshared = {path = "../shared"}\n'
          '[tool.poetry.dev-dependencies]\npytest = "*"\n'
          '[build-system]\nrequires = ["poetry-core>=1.0.0"]\n'
          'build-backend = "poetry.core.masonry.api"\n')


def _serverless_files(handler_code: str) -> dict[str, str]:
    return {"svc/first/serverless.yml": SERVERLESS, "svc/first/pyproject.toml": POETRY,
            "svc/first/src/handler.py": handler_code + "\ndef handler(event, context):\n    pass\n",
            "svc/common/lib/__init__.py": "from .logger import get_logger\n",
            "svc/common/lib/logger.py": "def get_logger():\n    return 1\n",
            "svc/shared/pyproject.toml": SETUPTOOLS + PROJECT.replace("common", "shared"),
            "svc/shared/shared_util/__init__.py": "U = 1\n"}


def _missing(result) -> list[str]:
    """The modules reported missing, as errors or (requirements unread) as warnings."""
    return sorted(f.message.split("No module named ")[1].split("'")[1]
                  for f in (*result.errors, *result.warnings) if f.kind == "missing-module")


def _serverless_check(files: dict[str, str]):
    from reviewbot.discovery import discover

    tree = Tree.from_files(files)
    [h] = discover(tree).handlers
    return h, Analysis(tree, SummaryCache(disk=False)).check(h)


def test_serverless_vendor_folder_and_poetry_dependencies_are_in_the_package():
    h, result = _serverless_check(_serverless_files(
        "from lib import get_logger\nimport numpy\nimport shared_util\n"))
    assert (h.vendor, h.exports) == (("svc/common",), ("poetry", "pipenv"))
    assert result.errors == [] and result.warnings == []
    assert "svc/common/lib/logger.py" in result.files


def test_serverless_vendor_edits_break_like_any_shared_code_and_dev_dependencies_do_not_ship():
    files = _serverless_files("from lib import get_logger\nimport pytest\n")
    files["svc/common/lib/logger.py"] = "def make_logger():\n    return 1\n"
    _, result = _serverless_check(files)
    assert [(e.path, e.line, e.message) for e in result.errors] == [
        ("svc/common/lib/__init__.py", 1,
         "Unable to import module 'src/handler': cannot import name 'get_logger' from "
         "'lib.logger' (svc/common/lib/logger.py)")]
    # with no resolver here the requirements' packages are not read: a module that may be
    # theirs is a warning, never a false error (tests/dependencies judge it with them read)
    assert _missing(result) == ["pytest"]


def test_use_poetry_false_leaves_the_poetry_dependencies_out():
    files = _serverless_files("import numpy\n")
    files["svc/first/serverless.yml"] = SERVERLESS.replace(
        "    vendor: ../common\n", "    usePoetry: false\n")
    h, result = _serverless_check(files)
    assert (h.vendor, h.exports) == ((), ("pipenv",))
    assert [e.message for e in result.errors] == [
        "Unable to import module 'src/handler': No module named 'numpy'"]


PIPFILE = ('[[source]]\nurl = "https://pypi.org/simple"\nname = "pypi"\n[packages]\n'
           'numpy = "*"\nrequests = {version = "*"}\nshared = {path = "../shared"}\n'
           'devtools = {path = "../devtools", editable = true}\n'
           '[dev-packages]\npytest = "*"\n')


def test_a_pipfile_replaces_requirements_txt_and_poetry_wins_over_it():
    files = _serverless_files("import numpy\nimport shared_util\nimport devtool\nimport pytest\n"
                              "import requests\nimport simplejson\n")
    del files["svc/first/pyproject.toml"]
    files.update({"svc/first/Pipfile": PIPFILE, "svc/first/requirements.txt": "simplejson\n",
                  "svc/devtools/devtool.py": ""})
    h, result = _serverless_check(files)
    # `pipenv requirements` writes [packages] only, and requirements.txt is not read then;
    # an editable path ships no code.
    assert _missing(result) == ["devtool", "pytest", "simplejson"]
    assert "svc/first/Pipfile" in Analysis(Tree.from_files(files),
                                           SummaryCache(disk=False)).package(h).files
    files["svc/first/pyproject.toml"] = POETRY  # poetry export comes first
    _, result = _serverless_check(files)
    assert _missing(result) == ["devtool", "pytest", "requests", "simplejson"]
