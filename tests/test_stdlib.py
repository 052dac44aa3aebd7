"""The standard library per runtime, judged by the real CPython of each version."""

from __future__ import annotations

import json
import subprocess

import pytest

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.model import Handler
from reviewbot.stdlib import stdlib_for, table_versions
from reviewbot.tree import Tree
from tests.runtimes import VERSIONS, require

# Statements whose fate changes across 3.9-3.13, and a few that never change.
STATEMENTS = [
    "import imp",  # gone in 3.12
    "import distutils.core",  # gone in 3.12
    "import asynchat",  # gone in 3.12
    "import cgi",  # gone in 3.13 (PEP 594)
    "import telnetlib",  # gone in 3.13
    "import tomllib",  # new in 3.11
    "from collections import Mapping",  # a deprecated alias until 3.10
    "from typing import override",  # new in 3.12
    "from typing import Self",  # new in 3.11
    "from collections.abc import Buffer",  # new in 3.12
    "from json import loadz",  # never
    "from sys import nothing_here",  # a built-in module: (unknown location)
    "from os import path",
    "from os.path import join",
    "import os.nope",
    "import xml.etree.cElementTree",
    "from importlib import metadata",  # a submodule, imported by the from-import
    "from zoneinfo import TZPATH",  # served by a module __getattr__
    "from datetime import UTC",  # new in 3.11
    "from enum import StrEnum",  # new in 3.11
]

JUDGE = r"""
import json, sys, sysconfig
stdlib = sysconfig.get_paths()["stdlib"]
out = {}
for statement in json.loads(sys.argv[1]):
    try:
        exec(statement, {})
    except ImportError as exc:
        out[statement] = str(exc).replace(stdlib, "/var/lang/lib/python%d.%d" % sys.version_info[:2])
    else:
        out[statement] = None
print(json.dumps(out))
"""


# Lambda's deprecated python3.7 and python3.8 are still deployed: their tables are judged too.
STDLIB_VERSIONS = ("3.7", "3.8", *VERSIONS)


@pytest.fixture(scope="module", params=STDLIB_VERSIONS)
def judged(request) -> tuple[str, dict[str, str | None]]:
    python = require(request.param)
    out = subprocess.run([python, "-I", "-W", "ignore", "-c", JUDGE, json.dumps(STATEMENTS)],
                         capture_output=True, text=True, check=True, timeout=120, cwd="/")
    return request.param, json.loads(out.stdout)


def engine(version: str, statement: str) -> str | None:
    h = Handler(name="f", handler="app.handler", root="fn", runtime=f"python{version}")
    files = {"fn/app.py": f"{statement}\n\ndef handler(event, context):\n    pass\n"}
    result = Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(h)
    assert not result.warnings, result.warnings
    if not result.errors:
        return None
    return result.errors[0].message.removeprefix("Unable to import module 'app': ")


def test_the_engine_agrees_with_each_runtime(judged):
    version, truth = judged
    ours = {s: engine(version, s) for s in STATEMENTS}
    assert ours == truth
    # both directions are judged: some statements fail here and pass elsewhere
    assert any(v is None for v in truth.values()) and any(v for v in truth.values())


def test_tables_say_where_they_came_from():
    versions = table_versions()
    assert set(versions) == set(STDLIB_VERSIONS)
    for minor, exact in versions.items():
        assert exact.startswith(minor + ".")
        assert stdlib_for(tuple(map(int, minor.split(".")))).interpreter == exact
    assert stdlib_for((3, 6)) is None  # older than every table: the host's module list


def test_a_runtime_newer_than_the_tables_reads_typeshed_and_only_warns():
    table = stdlib_for((3, 14))
    assert table is not None and not table.exact and table.interpreter == "typeshed stubs"
    h = Handler(name="f", handler="app.handler", root="fn", runtime="python3.14")
    files = {"fn/app.py": "import annotationlib\nfrom json import loads\nfrom json import loadz\n"
                          "\ndef handler(event, context):\n    pass\n"}
    result = Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(h)
    assert result.errors == []
    assert [(w.line, w.kind, w.message) for w in result.warnings] == [
        (3, "unknown", "'loadz' is not in typeshed's stub of 'json' for python3.14 (no table "
                       "of that version): it may be missing")]


def test_a_guessed_import_name_never_hides_the_stdlib():
    """`fastjsonschema` is not in the known-distributions table, so its import name is
    guessed loosely; that guess must not make `json` third-party (unchecked). A
    distribution whose import name is exactly a stdlib module (`typing`) still wins."""
    h = Handler(name="f", handler="app.handler", root="fn", runtime="python3.12")
    app = "from schemas import X\n\ndef handler(event, context):\n    pass\n"
    schemas = "from json import loadz\nfrom typing import Foo\nX = 1\n"
    for requirement, expected in [("fastjsonschema\n", ["loadz", "Foo"]),
                                  ("typing\n", ["loadz"])]:
        files = {"fn/requirements.txt": requirement, "fn/schemas.py": schemas, "fn/app.py": app}
        result = Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(h)
        assert [e.message.split("'")[3] for e in result.errors] == expected, requirement
