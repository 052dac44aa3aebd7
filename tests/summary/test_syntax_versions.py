"""Syntax per runtime, judged by the real parser of each version.

reviewbot parses with the Python it runs on (the host). A construct newer than the
function's version is that version's syntax error; one the host cannot parse but the
function's (newer) version may is a warning, never an error.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.model import Handler
from reviewbot.tree import Tree
from tests.runtimes import VERSIONS, require

HOST = sys.version_info[:2]
SOURCES = {
    "match": "import os\n\ndef g(x):\n    match x:\n        case 1:\n            pass\n",
    "except-star": "try:\n    pass\nexcept* ValueError:\n    pass\n",
    "type-alias": "X = 1\ntype Y = int\n",
    "generic-def": "def f[T](x: T) -> T:\n    return x\n",
    "generic-class": "import os\n\n\nclass C[T]:\n    pass\n",
    "pep701-fstring": 'x = 1\ny = f"{x!r:>{10}} {"a"}"\n',
    "walrus-and-parens": "with (open('/dev/null') as a, open('/dev/null') as b):\n    pass\n",
    "plain-error": "def f(:\n    pass\n",
}

JUDGE = r"""
import ast, json, sys
out = {}
for name, text in json.loads(sys.argv[1]).items():
    try:
        ast.parse(text, "app.py")
    except SyntaxError as exc:
        out[name] = [str(exc), exc.lineno]
    else:
        out[name] = None
print(json.dumps(out))
"""


@pytest.fixture(scope="module", params=VERSIONS)
def judged(request):
    python = require(request.param)
    out = subprocess.run([python, "-I", "-c", JUDGE, json.dumps(SOURCES)],
                         capture_output=True, text=True, check=True, timeout=60, cwd="/")
    return tuple(map(int, request.param.split("."))), json.loads(out.stdout)


def host_parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def test_syntax_errors_are_the_function_runtime_s(judged):
    version, truth = judged
    agree = 0
    for name, text in SOURCES.items():
        h = Handler(name="f", handler="app.handler", root="fn",
                    runtime=f"python{version[0]}.{version[1]}")
        files = {"fn/app.py": text + "\ndef handler(event, context):\n    pass\n"}
        result = Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(h)
        errors = [(f.line, f.message) for f in result.errors if f.kind == "syntax-error"]
        if not host_parses(text) and version > HOST and not errors:
            # the host cannot tell: a warning that names the Python needed, never an error
            assert any(f"run reviewbot on Python {version[0]}.{version[1]}" in w.message
                       for w in result.warnings), (name, result)
            continue
        if truth[name] is None:
            assert errors == [], (name, errors)
        else:
            message, line = truth[name]
            assert errors and errors[0][0] == line, (name, errors, truth[name])
            if host_parses(text) or version == HOST:  # else the host's parser words it
                assert errors[0][1] == f"Syntax error in module 'app': {message}", name
        agree += 1
    assert agree >= 3  # judged, not only warned about
