"""The import check reads the wheels the build installs: judged by CPython after a real
`pip install --platform ... --only-binary=:all:` of the same requirements."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.dependencies.lock import IndexConfig, Resolver
from reviewbot.dependencies.sites import Installer
from reviewbot.dependencies.wheelstore import WheelStore
from reviewbot.model import Handler
from reviewbot.tree import Tree
from tests.dependencies.wheels import build_wheel
from tests.runtimes import require

H = "\ndef handler(event, context):\n    return 'ok'\n"


def _extension(python: str) -> tuple[str, bytes]:
    """A real compiled module of that CPython (`_bisect`), to ship in a wheel."""
    out = subprocess.run([python, "-c", "import _bisect, sys; print(_bisect.__file__)"],
                         capture_output=True, text=True, check=True)
    path = Path(out.stdout.strip())
    return path.name, path.read_bytes()


@pytest.fixture(scope="module")
def links(tmp_path_factory):
    folder = tmp_path_factory.mktemp("links")
    build_wheel(folder, "py-widgets", "1.0", {"widgets/__init__.py": "W = 1\n"})
    build_wheel(folder, "alpha", "1.0", {"alpha/__init__.py": "from beta_mod import B\n"},
                ("beta>=1",))
    build_wheel(folder, "beta", "1.0", {"beta_mod/__init__.py": "B = 1\n"})
    build_wheel(folder, "beta", "2.0", {"beta_mod/__init__.py": "B = 2\nC = 3\n"},
                ("gamma; python_version < '3.10'",))
    build_wheel(folder, "gamma", "1.0", {"gamma.py": "G = 1\n"})
    build_wheel(folder, "oldweb", "2.0", {"oldweb/__init__.py": "",
                                          "oldweb/urls.py": "def url_quote(s):\n    return s\n"})
    build_wheel(folder, "oldweb", "3.0", {"oldweb/__init__.py": "",
                                          "oldweb/urls.py": "def quote(s):\n    return s\n"})
    build_wheel(folder, "webapp", "1.0", {"webapp/__init__.py":
                                          "from oldweb.urls import url_quote\n"}, ("oldweb",))
    build_wheel(folder, "sixish", "1.0", {"sixish.py": SIXISH})
    build_wheel(folder, "lazyish", "1.0", {"lazyish/__init__.py": LAZYISH,
                                           "lazyish/main.py": "class Model:\n    pass\n"})
    build_wheel(folder, "optdeps", "1.0", {"optdeps/__init__.py":
                                           "def fast():\n    import not_installed_zz\n"})
    name, data = _extension(require("3.12"))
    build_wheel(folder, "fastbisect", "1.0", {"fastbisect/__init__.py": "",
                                              f"fastbisect/{name}": data},
                tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64")
    # Cython's way (pydantic 1): the compiled module ships beside the source it came from
    build_wheel(folder, "cythonish", "1.0", {
        "cythonish/__init__.py": "", f"cythonish/{name}": data,
        "cythonish/_bisect.py": "".join(f"def {f}():\n    pass\n" for f in (
            "bisect_left", "bisect_right", "insort_left", "insort_right"))},
                tag="cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64")
    return folder


# six's way: a meta path hook makes `sixish.moves`, which is no file
SIXISH = """import importlib.abc, importlib.util, sys, types
__path__ = []


class _Hook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == __name__ + ".moves":
            return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.urllib = 1
        return module

    def exec_module(self, module):
        pass


sys.meta_path.append(_Hook())
"""

# pydantic 2's way: names served by a module __getattr__, all listed in __all__
LAZYISH = """import importlib
__all__ = ("Model",)
_where = {"Model": ".main"}


def __getattr__(name):
    if name in _where:
        return getattr(importlib.import_module(_where[name], __name__), name)
    raise AttributeError(name)
"""

# (id, requirements, app source, runtime)
CASES = [
    ("renamed-import-name", "py-widgets\n", "import widgets\n", "3.12"),
    ("guessed-name-is-not-there", "py-widgets\n", "import py_widgets\n", "3.12"),
    ("transitive-dependency", "alpha\n", "import beta_mod\nimport alpha\n", "3.12"),
    ("name-missing-from-pin", "beta==1.0\n", "from beta_mod import C\n", "3.12"),
    ("name-present-in-newer", "beta\n", "from beta_mod import C\n", "3.12"),
    ("marker-includes", "beta\n", "import gamma\n", "3.9"),
    ("marker-excludes", "beta\n", "import gamma\n", "3.12"),
    ("drift-inside-a-dependency", "webapp\n", "import webapp\n", "3.12"),
    ("drift-pinned-away", "webapp\noldweb<3\n", "import webapp\n", "3.12"),
    ("compiled-module", "fastbisect\n", "from fastbisect import _bisect\n", "3.12"),
    ("module-made-by-a-meta-path-hook", "sixish\n", "from sixish.moves import urllib\n",
     "3.12"),
    ("compiled-beside-its-source", "cythonish\n",
     "from cythonish._bisect import bisect_left\n", "3.12"),
    ("compiled-beside-its-source-missing", "cythonish\n",
     "from cythonish._bisect import nothing\n", "3.12"),
    ("lazy-module-name-listed-in-all", "lazyish\n", "from lazyish import Model\n", "3.12"),
    ("optional-import-inside-a-package-function", "optdeps\n", "import optdeps\n", "3.12"),
    ("own-file-wins", "py-widgets\n", "from widgets import MINE\n", "3.12"),
    ("installed-package-beats-own-module", "py-widgets\n", "from widgets import MINE\n", "3.12"),
]
# the build copies the function's files over the installed ones: the same path is the
# function's; but a package folder of a wheel beats a module file of the same name
OWN_FILES = {"own-file-wins": {"fn/widgets/__init__.py": "MINE = 1\n"},
             "installed-package-beats-own-module": {"fn/widgets.py": "MINE = 1\n"}}

JUDGE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
try:
    import app
except Exception as exc:
    print(json.dumps(type(exc).__name__ + ": " + str(exc)))
else:
    print(json.dumps(None))
"""


def cpython(tmp: Path, links: Path, requirements: str, files: dict[str, str],
            version: str) -> str | None:
    python = require(version)
    site = tmp / "site"
    (tmp / "requirements.txt").write_text(requirements)
    # the runtime's own pip, as SAM's builder runs it: markers are judged by that version
    subprocess.run([python, "-m", "pip", "install", "-q", "--target", str(site),
                    "--platform", "manylinux2014_x86_64", "--python-version", version,
                    "--only-binary=:all:", "--no-index", "--find-links", str(links),
                    "-r", str(tmp / "requirements.txt")], check=True, capture_output=True)
    # one folder, as the build makes it: the installed packages, the code copied over them
    task = tmp / "task"
    shutil.copytree(site, task)
    for path, text in files.items():
        (task / path.removeprefix("fn/")).parent.mkdir(parents=True, exist_ok=True)
        (task / path.removeprefix("fn/")).write_text(text)
    out = subprocess.run([python, "-I", "-c", JUDGE, str(task), str(task)],
                         capture_output=True, text=True, check=True, cwd=task)
    return json.loads(out.stdout)


def engine(tmp: Path, links: Path, requirements: str, files: dict[str, str], version: str):
    handler = Handler(name="f", handler="app.handler", root="fn", runtime=f"python{version}")
    tree = Tree.from_files({"fn/requirements.txt": requirements, **files})
    index = IndexConfig(find_links=(str(links),), no_index=True)
    installer = Installer(Resolver(tmp / "cache", index), WheelStore(tmp / "wheels", index))
    placed = installer.install(tree, [handler])
    assert placed.notes == ()
    return Analysis(placed.tree, SummaryCache(disk=False), sites=placed.sites).check(handler)


@pytest.mark.parametrize("case_id, requirements, app, version", CASES, ids=[c[0] for c in CASES])
def test_the_engine_agrees_with_cpython_over_installed_wheels(tmp_path, links, case_id,
                                                               requirements, app, version):
    files = {"fn/app.py": app + H, **OWN_FILES.get(case_id, {})}
    truth = cpython(tmp_path, links, requirements, files, version)
    result = engine(tmp_path, links, requirements, files, version)
    assert result.warnings == []
    ours = result.errors[0].message.removeprefix("Unable to import module 'app': ") \
        if result.errors else None
    if truth is None:
        assert ours is None
    else:
        assert ours is not None, truth
        assert truth.split(": ", 1)[1].split(" (")[0] == ours.split(" (")[0]


def _check(tmp: Path, links: Path, files: dict[str, str], index: IndexConfig | None = None,
           **handler):
    h = Handler(name="f", handler="app.handler", root="fn", **handler)
    index = index or IndexConfig(find_links=(str(links),), no_index=True)
    installer = Installer(Resolver(tmp / "cache", index, http_timeout="1"),
                          WheelStore(tmp / "wheels", index))
    placed = installer.install(Tree.from_files(files), [h])
    return Analysis(placed.tree, SummaryCache(disk=False), sites=placed.sites).check(h), placed


def test_no_wheel_for_the_architecture_is_a_warning_and_the_rest_is_checked(tmp_path, links):
    files = {"fn/requirements.txt": "fastbisect\nbeta==1.0\n",
             "fn/app.py": "import fastbisect\nfrom beta_mod import C\n" + H}
    result, placed = _check(tmp_path, links, files, runtime="python3.12", arch="arm64")
    assert placed.notes == ()
    assert [(w.path, w.message) for w in result.warnings] == [
        ("fn/requirements.txt", "no wheel of fastbisect for python3.12 / aarch64: the build "
                                "must compile it, and its names are not checked")]
    assert [e.message for e in result.errors] == [
        "Unable to import module 'app': cannot import name 'C' from 'beta_mod' "
        "(unknown location)"] or "cannot import name 'C'" in result.errors[0].message


def test_a_url_requirement_is_never_fetched_and_says_so(tmp_path, links):
    files = {"fn/requirements.txt": "evil @ https://unknown-host.invalid/evil-1.0.whl\ngamma\n",
             "fn/app.py": "import evil\nimport gamma\n" + H}
    result, placed = _check(tmp_path, links, files, runtime="python3.12")
    assert placed.notes == () and result.errors == []
    assert [w.message for w in result.warnings] == [
        "evil is a URL requirement: reviewbot reads packages only from the configured index, "
        "so its names are not checked"]


def test_an_unreachable_index_falls_back_to_names_only_with_one_note(tmp_path, links):
    files = {"fn/requirements.txt": "beta==1.0\n",
             "fn/app.py": "from beta_mod import C\nimport beta\n" + H}
    dead = IndexConfig(default="http://127.0.0.1:9/simple")
    result, placed = _check(tmp_path, links, files, dead, runtime="python3.12")
    assert result.errors == []  # never a false error: the old rules, names counted present
    [note] = placed.notes
    assert note.startswith("third-party names were not checked for some functions")


def test_conflicting_requirements_are_a_warning_that_the_build_fails(tmp_path, links):
    # alpha needs beta>=1, the file pins beta below that: pip finds no solution either
    files = {"fn/requirements.txt": "alpha==1.0\nbeta<1\n",
             "fn/app.py": "import alpha\nimport not_there_zz\n" + H}
    pip = subprocess.run([require("3.12"), "-m", "pip", "install", "-q", "--dry-run",
                          "--platform", "manylinux2014_x86_64", "--only-binary=:all:",
                          "--no-index", "--find-links", str(links), "--target",
                          str(tmp_path / "t"), "alpha==1.0", "beta<1"],
                         capture_output=True, text=True)
    assert pip.returncode != 0, pip.stdout
    result, placed = _check(tmp_path, links, files, runtime="python3.12")
    assert placed.notes == () and result.errors == []  # names-only rules: never a false error
    messages = [w.message for w in result.warnings]
    assert messages[-1].startswith("the requirements cannot be installed for python3.12 / "
                                   "x86_64, so the build fails: "), messages
    assert "beta" in messages[-1]
    assert any("not_there_zz" in m for m in messages[:-1])


def test_a_huge_requirements_file_is_not_read_and_never_makes_a_false_error(tmp_path, links):
    huge = "".join(f"package-{i}==1.0\n" for i in range(80_000))  # over a megabyte
    files = {"fn/requirements.txt": huge, "fn/app.py": "import package_7\n" + H}
    result, placed = _check(tmp_path, links, files, runtime="python3.12")
    assert result.errors == [] and placed.notes == ()
    kinds = sorted((w.path, w.kind) for w in result.warnings)
    assert kinds == [("fn/app.py", "missing-module"), ("fn/requirements.txt", "unknown")]
    assert "over the 1048576-byte limit" in next(w.message for w in result.warnings
                                                  if w.kind == "unknown")


def test_a_break_inside_a_package_is_shown_at_the_function_s_own_import(tmp_path, links):
    files = {"fn/requirements.txt": "webapp\n", "fn/app.py": "import json\nimport webapp\n" + H}
    result, _ = _check(tmp_path, links, files, runtime="python3.12")
    [error] = result.errors
    assert (error.path, error.line) == ("fn/app.py", 2)  # a check run annotates repo files
    assert error.message == (
        "Unable to import module 'app': cannot import name 'url_quote' from 'oldweb.urls' "
        "(/var/task/oldweb/urls.py) (in installed webapp/__init__.py, line 1)")


@pytest.mark.parametrize("exporter, manifest, lock", [
    ("pipenv", ("Pipfile", '[packages]\nbeta = "*"\n'),
     ("Pipfile.lock", '{"default": {"beta": {"version": "==1.0"}}, "develop": {}}')),
    ("poetry", ("pyproject.toml", '[build-system]\nrequires = ["poetry-core"]\n'
                                  '[tool.poetry]\nname = "fn"\nversion = "1"\n'
                                  '[tool.poetry.dependencies]\npython = "^3.9"\nbeta = "*"\n'),
     ("poetry.lock", '[[package]]\nname = "beta"\nversion = "1.0"\n')),
    ("uv", ("pyproject.toml", '[project]\nname = "fn"\nversion = "1"\ndependencies = ["beta"]\n'),
     ("uv.lock", '[[package]]\nname = "beta"\nversion = "1.0"\n'
                 '[[package]]\nname = "fn"\nversion = "1"\nsource = { editable = "." }\n')),
])
def test_the_lock_an_exporting_build_reads_wins_over_the_manifest(tmp_path, links, exporter,
                                                                  manifest, lock):
    """The export writes the lock's versions (beta 1.0, without C), though the manifest
    allows beta 2.0: CPython judges what pip installs from the exported `beta==1.0`."""
    app = {"fn/app.py": "from beta_mod import C\n" + H}
    (tmp_path / "judge").mkdir()
    truth = cpython(tmp_path / "judge", links, "beta==1.0\n", app, "3.12")
    files = {f"fn/{manifest[0]}": manifest[1], f"fn/{lock[0]}": lock[1], **app}
    result, placed = _check(tmp_path, links, files, runtime="python3.12", exports=(exporter,))
    assert placed.notes == () and truth is not None
    assert [e.message.split("'app': ")[1].split(" (")[0] for e in result.errors] == [
        truth.split(": ", 1)[1].split(" (")[0]]
    del files[f"fn/{lock[0]}"]  # no lock: the manifest's range, beta 2.0, has C
    result, _ = _check(tmp_path, links, files, runtime="python3.12", exports=(exporter,))
    assert result.errors == []
