"""Module resolution along one function's import roots, as CPython's path finder does it."""

from __future__ import annotations

import pytest

from reviewbot.resolve import (
    EXTENSION,
    EXTERNAL,
    NAMESPACE,
    SOURCE,
    ExtensionIndex,
    ModuleRef,
    NotFound,
    SearchPath,
)
from reviewbot.tree import Tree


def search(files: dict[str, str], roots=("fn", "layer"), third_party=()) -> SearchPath:
    tree = Tree.from_files(files)
    return SearchPath(tree, tuple(roots), frozenset(third_party), ExtensionIndex(tree))


def find(sp: SearchPath, dotted: str) -> ModuleRef | NotFound:
    """Resolve like the import system: every ancestor first."""
    parent = None
    parts = dotted.split(".")
    for i in range(1, len(parts) + 1):
        ref = sp.find(".".join(parts[:i]), parent)
        if isinstance(ref, NotFound):
            return ref
        parent = ref
    return parent


def test_module_and_package():
    sp = search({"fn/m.py": "", "fn/pkg/__init__.py": "", "fn/pkg/sub.py": ""})
    m = find(sp, "m")
    assert (m.name, m.kind, m.path, m.is_package) == ("m", SOURCE, "fn/m.py", False)
    pkg = find(sp, "pkg")
    assert (pkg.kind, pkg.path, pkg.is_package, pkg.search) == (
        SOURCE, "fn/pkg/__init__.py", True, ("fn/pkg",))
    sub = find(sp, "pkg.sub")
    assert (sub.name, sub.path) == ("pkg.sub", "fn/pkg/sub.py")


def test_package_beats_module_beats_namespace_in_one_folder():
    sp = search({"fn/x/__init__.py": "", "fn/x.py": "", "fn/y.py": "", "fn/y/z.py": ""})
    assert find(sp, "x").path == "fn/x/__init__.py"
    assert find(sp, "y").path == "fn/y.py"
    assert find(sp, "y.z") == NotFound("No module named 'y.z'; 'y' is not a package", False)


def test_first_root_wins():
    sp = search({"fn/shared.py": "", "layer/shared/__init__.py": "",
                 "layer/shared/util.py": ""})
    assert find(sp, "shared").path == "fn/shared.py"
    assert find(sp, "shared.util") == NotFound(
        "No module named 'shared.util'; 'shared' is not a package", False)


def test_regular_package_in_later_root_beats_namespace_dir():
    sp = search({"fn/shared/notes.py": "", "layer/shared/__init__.py": ""})
    ref = find(sp, "shared")
    assert (ref.kind, ref.path, ref.search) == (SOURCE, "layer/shared/__init__.py",
                                                ("layer/shared",))
    assert isinstance(find(sp, "shared.notes"), NotFound)


def test_namespace_portions_merge_across_roots():
    sp = search({"fn/nsp/a.py": "", "layer/nsp/b.py": "", "layer/nsp/sub/c.py": "",
                 "fn/nsp/sub/d.py": ""})
    ref = find(sp, "nsp")
    assert (ref.kind, ref.path, ref.is_package, ref.search) == (
        NAMESPACE, None, True, ("fn/nsp", "layer/nsp"))
    assert find(sp, "nsp.a").path == "fn/nsp/a.py"
    assert find(sp, "nsp.b").path == "layer/nsp/b.py"
    assert find(sp, "nsp.sub").search == ("fn/nsp/sub", "layer/nsp/sub")
    assert find(sp, "nsp.sub.c").path == "layer/nsp/sub/c.py"
    assert find(sp, "nsp.sub.d").path == "fn/nsp/sub/d.py"
    assert find(sp, "nsp.missing") == NotFound("No module named 'nsp.missing'", False)


def test_namespace_dir_inside_regular_package():
    sp = search({"fn/pkg/__init__.py": "", "fn/pkg/nsdir/mod.py": ""})
    ref = find(sp, "pkg.nsdir")
    assert (ref.kind, ref.search) == (NAMESPACE, ("fn/pkg/nsdir",))
    assert find(sp, "pkg.nsdir.mod").path == "fn/pkg/nsdir/mod.py"


def test_regular_package_does_not_merge_with_layer():
    sp = search({"fn/shared/__init__.py": "", "layer/shared/__init__.py": "",
                 "layer/shared/util.py": ""})
    assert find(sp, "shared").path == "fn/shared/__init__.py"
    assert find(sp, "shared.util") == NotFound("No module named 'shared.util'", False)


@pytest.mark.parametrize("name", ["json", "os", "collections", "sys", "_thread"])
def test_stdlib_is_external(name):
    ref = find(search({"fn/main.py": ""}), name)
    assert ref.kind == EXTERNAL


def test_stdlib_submodules_are_external():
    ref = find(search({"fn/main.py": ""}), "os.path")
    assert ref.kind == EXTERNAL and ref.name == "os.path"
    assert find(search({"fn/main.py": ""}), "xml.etree.ElementTree").kind == EXTERNAL


@pytest.mark.parametrize("name", ["boto3", "botocore", "s3transfer", "jmespath", "dateutil"])
def test_bundled_sdk_is_external(name):
    assert find(search({"fn/main.py": ""}), name).kind == EXTERNAL


def test_requirements_are_external():
    sp = search({"fn/main.py": ""}, third_party={"yaml"})
    assert find(sp, "yaml").kind == EXTERNAL
    assert find(sp, "yaml.constructor").kind == EXTERNAL


def test_missing_top_level_is_external_missing_submodule_is_not():
    sp = search({"fn/pkg/__init__.py": ""})
    assert find(sp, "requests") == NotFound("No module named 'requests'", True)
    assert find(sp, "pkg.gone") == NotFound("No module named 'pkg.gone'", False)


def test_local_module_shadowing_stdlib_is_flagged():
    sp = search({"fn/logging.py": "", "fn/mylib.py": ""})
    ref = find(sp, "logging")
    assert (ref.kind, ref.path, ref.shadows_stdlib) == (SOURCE, "fn/logging.py", True)
    assert not find(sp, "mylib").shadows_stdlib


def test_namespace_named_like_an_installed_package_stays_open():
    sp = search({"fn/google/mything.py": ""}, third_party={"google"})
    ref = find(sp, "google")
    assert ref.kind == NAMESPACE and ref.also_external
    assert find(sp, "google.mything").path == "fn/google/mything.py"
    assert find(sp, "google.protobuf").kind == EXTERNAL


def test_extensions():
    sp = search({"fn/fast.cpython-311-x86_64-linux-gnu.so": "", "fn/pkg/__init__.py": "",
                 "fn/pkg/_speed.pyd": "", "fn/compiled.pyc": "", "fn/both.pyc": "",
                 "fn/both.py": "", "fn/__pycache__/cached.cpython-311.pyc": ""})
    assert (find(sp, "fast").kind, find(sp, "fast").path) == (
        EXTENSION, "fn/fast.cpython-311-x86_64-linux-gnu.so")
    assert find(sp, "pkg._speed").kind == EXTENSION
    assert find(sp, "compiled").kind == EXTENSION
    assert find(sp, "both").kind == SOURCE  # source beats a stray .pyc
    assert isinstance(find(sp, "cached"), NotFound)  # __pycache__ is never on the path


def test_missing_roots_are_dropped_and_repo_root_works():
    sp = search({"main.py": "", "pkg/__init__.py": ""}, roots=(".", "nowhere"))
    assert sp.roots == (".",)
    assert find(sp, "main").path == "main.py"
    assert find(sp, "pkg").search == ("pkg",)


def test_builtin_module_is_external_even_when_shadowed():
    sp = search({"fn/sys.py": ""})
    assert find(sp, "sys").kind == EXTERNAL


def test_lookups_are_cached():
    sp = search({"fn/m.py": ""})
    assert sp.find("m") is sp.find("m")


def test_unlisted_distribution_names_provide_the_modules_they_contain():
    """python-telegram-bot provides `telegram`, line-bot-sdk `linebot`: not in the table,
    but a missing module whose name is part of a listed distribution's must not fail."""
    from reviewbot.package import deployment_package

    tree = Tree.from_files({"fn/requirements.txt": "python-telegram-bot==13.11\n"
                                                   "line-bot-sdk==1.12.1\nPyYAML\n",
                            "fn/main.py": ""})
    third = deployment_package(tree, ("fn",)).third_party
    assert "telegram" in third and "linebot" in third and "yaml" in third
    assert "requests" not in third and "bot" in third
    assert "ab" not in third  # too short to guess from


# -- layers are merged into one /opt/python, a later layer winning on the same file ----

MERGE_CASES = {
    # a package split across two layers: both halves importable
    "split-package": ({"l1/python/pkg/__init__.py": "A = 1\n",
                       "l2/python/pkg/extra.py": "B = 2\n"},
                      "from pkg import A\nfrom pkg.extra import B\n"),
    # the same module in both layers: the later layer's file is the one that runs
    "later-wins": ({"l1/python/m.py": "OLD = 1\n", "l2/python/m.py": "NEW = 1\n"},
                   "from m import OLD\n"),
    "later-wins-ok": ({"l1/python/m.py": "OLD = 1\n", "l2/python/m.py": "NEW = 1\n"},
                      "from m import NEW\n"),
    # a package in an earlier layer beats a module of that name in a later one
    "package-beats-module": ({"l1/python/p/__init__.py": "P = 1\n",
                              "l2/python/p.py": "Q = 1\n"},
                             "from p import P\n"),
    # the function's own code still shadows every layer
    "code-root-first": ({"l1/python/c/__init__.py": "X = 1\n", "fn/c.py": "Y = 1\n"},
                        "from c import X\n"),
}


@pytest.mark.parametrize("case", sorted(MERGE_CASES))
def test_layers_merge_as_lambda_extracts_them(case, tmp_path):
    """CPython is the judge: the layers are extracted, in order, into one folder."""
    import json
    import shutil
    import subprocess
    import sys

    from reviewbot.analysis import Analysis
    from reviewbot.cache import SummaryCache
    from reviewbot.model import Handler

    files, main = MERGE_CASES[case]
    files = {**files, "fn/main.py": main + "def handler(e, c): pass\n"}
    for rel, text in files.items():
        (tmp_path / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / rel).write_text(text)
    opt = tmp_path / "opt"
    for layer in ("l1", "l2"):
        if (tmp_path / "repo" / layer).exists():
            shutil.copytree(tmp_path / "repo" / layer, opt, dirs_exist_ok=True)
    code = ("import importlib, json, sys\nsys.path[:0] = sys.argv[1:3]\n"
            "try:\n    importlib.import_module('main')\n    print(json.dumps('ok'))\n"
            "except Exception as e:\n    print(json.dumps(str(e)))\n")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "repo" / "fn"),
                          str(opt / "python")], capture_output=True, text=True, check=True)
    verdict = json.loads(out.stdout)
    handler = Handler("h", "main.handler", root="fn", paths=("l1/python", "l2/python"),
                      runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}")
    result = Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(handler)
    if verdict == "ok":
        assert result.errors == [], result.errors
    else:
        assert result.errors, f"CPython fails ({verdict}), the engine does not"
        opt_path = str(opt / "python") + "/"
        expected = verdict.replace(opt_path + "m.py", "l2/python/m.py").replace(
            str(tmp_path / "repo") + "/", "")
        assert result.errors[0].message == f"Unable to import module 'main': {expected}"


def test_search_paths_share_submodule_resolutions_by_parent():
    """Search paths over one tree share what a package's submodules resolve to: the
    answer depends on the parent package's folders, not on the roots that found it."""
    tree = Tree.from_files({
        "fa/pkg/__init__.py": "", "fa/pkg/x.py": "",
        "fb/pkg/__init__.py": "",
        "layer/lib/__init__.py": "", "layer/lib/y.py": "",
    })
    extensions, probes, shared = ExtensionIndex(tree), {}, {}
    a = SearchPath(tree, ("fa", "layer"), frozenset(), extensions, probes, shared)
    b = SearchPath(tree, ("fb", "layer"), frozenset(), extensions, probes, shared)
    assert find(a, "pkg.x").path == "fa/pkg/x.py"
    assert isinstance(find(b, "pkg.x"), NotFound)  # another `pkg`: its own answer
    first = find(a, "lib.y")
    assert find(b, "lib.y") is first  # the same `lib`: the same answer, found once
    assert {name for name, _ in shared} == {"pkg.x", "lib.y"}
