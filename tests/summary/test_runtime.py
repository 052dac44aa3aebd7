"""`if` tests evaluated for the target runtime: Linux, one Python version, imported (not
run as `__main__`), `TYPE_CHECKING` false."""

from __future__ import annotations

import pytest

from reviewbot.summary import CONDITIONAL, DEFINITE, MAYBE, summarize
from tests.summary import cert, summ


@pytest.mark.parametrize("src,expected", [
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    X = 1\n", {}),
    ("import typing\nif typing.TYPE_CHECKING:\n    X = 1\n", {}),
    ("import typing as t\nif t.TYPE_CHECKING:\n    X = 1\n", {}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    X = 1\nelse:\n    Y = 1\n",
     {"Y": DEFINITE}),
    ("from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    Y = 1\n", {"Y": DEFINITE}),
    ("if __name__ == '__main__':\n    X = 1\n", {}),
    ("if __name__ == '__main__':\n    X = 1\nelse:\n    Y = 1\n", {"Y": DEFINITE}),
    ("if '__main__' != __name__:\n    Y = 1\n", {"Y": DEFINITE}),
    ("if sys.platform == 'win32':\n    W = 1\nelse:\n    L = 1\n", {"L": DEFINITE}),
    ("if sys.platform.startswith(('linux', 'darwin')):\n    L = 1\n", {"L": DEFINITE}),
    ("if os.name == 'nt':\n    W = 1\n", {}),
    ("if platform.system() == 'Linux':\n    L = 1\n", {"L": DEFINITE}),
    ("if 0:\n    X = 1\nif True and cond():\n    Y = 1\nif False or 1:\n    Z = 1\n",
     {"Y": MAYBE, "Z": DEFINITE}),
])
def test_guards_evaluated_for_lambda(src, expected):
    names = cert(src)
    for imported in ("TYPE_CHECKING", "typing", "t"):
        names.pop(imported, None)
    assert names == expected


@pytest.mark.parametrize("test,version,bound", [
    ("sys.version_info >= (3, 12)", (3, 12), True),
    ("sys.version_info >= (3, 12)", (3, 11), False),
    ("sys.version_info < (3, 12)", (3, 11), True),
    ("sys.version_info > (3, 12)", (3, 12), True),  # (3, 12, micro, ...) > (3, 12)
    ("sys.version_info == (3, 12)", (3, 12), False),
    ("sys.version_info[:2] == (3, 12)", (3, 12), True),
    ("sys.version_info[:2] >= (3, 13)", (3, 12), False),
    ("sys.version_info[0] == 3", (3, 12), True),
    ("sys.version_info[1] >= 10", (3, 9), False),
    ("sys.version_info.minor >= 10", (3, 10), True),
    ("(3, 10) <= sys.version_info", (3, 10), True),
    ("(3, 10) > sys.version_info", (3, 10), False),
    ("sys.version_info >= (3, 12, 0)", (3, 12), True),
    ("sys.version_info < (3, 12, 0)", (3, 12), False),
    ("version_info >= (3, 11)", (3, 11), True),
    ("sys.version_info >= (3, 12, 4)", (3, 12), None),  # the micro version is unknown
    ("sys.version_info >= (3, 11, 4)", (3, 12), True),
])
def test_version_guards(test, version, bound):
    src = f"import sys\nfrom sys import version_info\nif {test}:\n    X = 1\n"
    names = cert(src, version)
    expected = {None: MAYBE, True: DEFINITE, False: None}[bound]
    assert names.get("X") == expected
    assert summ(src, version).version_dependent


def test_version_independent_flag():
    assert not summ("import os\nX = 1\n").version_dependent


def test_dotted_name_test_is_undecided_not_false():
    """moto's generated ANTLR modules pick a relative import with `if "." in __name__`:
    the module name depends on who imports the file, so both arms may run."""
    src = (b'if "." in __name__:\n    from .P import P\nelse:\n    from P import P\n'
           b'if __name__ == "__main__":\n    import nothing_here\n')
    summary = summarize(src, "m.py")
    assert [(i.module, i.level, i.guard) for i in summary.imports] == [
        ("P", 1, CONDITIONAL), ("P", 0, CONDITIONAL)]
    assert summary.names["P"][0] == DEFINITE
