"""Module summaries: what a module binds at module level (and how surely), its imports in
execution order with their guards, and `__all__`."""

from __future__ import annotations

import sys

import pytest

from reviewbot.summary import CALL, CAUGHT, CONDITIONAL, DEFINITE, MAYBE, TOP, UNGUARDED
from tests.summary import cert, summ

# -- bindings: DEFINITE, MAYBE or absent ------------------------------------------------------

@pytest.mark.parametrize("src,expected", [
    ("def f(): pass\nasync def g(): pass\nclass C: pass\n",
     {"f": DEFINITE, "g": DEFINITE, "C": DEFINITE}),
    ("a = b = 1\nc, (d, *e) = 1, (2, 3)\n[f, g] = 1, 2\n",
     {k: DEFINITE for k in "abcdefg"}),
    ("x: int = 1\ny: int\n", {"x": DEFINITE}),
    ("x = 1\nx += 1\n", {"x": DEFINITE}),
    ("obj.attr = 1\nd['k'] = 2\n", {}),
    ("import a.b.c\nimport d.e as f\nfrom g import h as i, j\n",
     {"a": DEFINITE, "f": DEFINITE, "i": DEFINITE, "j": DEFINITE}),
    ("from . import sibling\nfrom .mod import *\n", {"sibling": DEFINITE}),
    ("with open('x') as fh, open('y') as (p, q):\n    inner = 1\n",
     {"fh": DEFINITE, "p": DEFINITE, "q": DEFINITE, "inner": DEFINITE}),
    ("for i in range(3):\n    body = i\nelse:\n    done = 1\n",
     {"i": MAYBE, "body": MAYBE, "done": DEFINITE}),  # no `break`: the else always runs
    ("while cond():\n    w = 1\n", {"w": MAYBE}),
    ("if cond():\n    a = 1\n    both = 1\nelse:\n    both = 2\n",
     {"a": MAYBE, "both": DEFINITE}),
    ("if cond():\n    a = 1\nelif other():\n    a = 2\nelse:\n    a = 3\n", {"a": DEFINITE}),
    ("if cond():\n    raise SystemExit\nelse:\n    a = 1\n", {"a": DEFINITE}),
    ("if cond():\n    a = 1\nelse:\n    import sys\n    sys.exit(1)\n", {"a": DEFINITE, }),
    ("try:\n    from fast import F\nexcept ImportError:\n    F = None\n", {"F": DEFINITE}),
    ("try:\n    from fast import F\nexcept ImportError:\n    pass\n", {"F": MAYBE}),
    ("try:\n    import json\nexcept ImportError:\n    J = None\nelse:\n    J = json\n",
     {"json": MAYBE, "J": DEFINITE}),
    ("try:\n    a = 1\nfinally:\n    b = 2\n", {"a": DEFINITE, "b": DEFINITE}),
    ("try:\n    a = 1\nexcept ValueError as e:\n    kept = e\n",
     {"a": MAYBE, "kept": MAYBE}),
    ("try:\n    pass\nexcept ValueError as e:\n    pass\n", {}),
    ("e = 1\ntry:\n    raise ValueError\nexcept ValueError as e:\n    pass\n", {}),
    ("x = 1\ndel x\n", {}),
    ("x = y = 1\ndel x, y\nx = 2\n", {"x": DEFINITE}),
    ("x = 1\nif cond():\n    del x\n", {"x": MAYBE}),
    ("def init():\n    global G\n    G = 1\n", {"init": DEFINITE, "G": MAYBE}),
    ("if (w := compute()):\n    pass\nv = [y := 1]\n",
     {"w": DEFINITE, "v": DEFINITE, "y": DEFINITE}),
    ("import contextlib\nwith contextlib.suppress(ImportError):\n    from fast import F\n",
     {"contextlib": DEFINITE, "F": MAYBE}),
])
def test_bindings(src, expected):
    assert cert(src) == expected


@pytest.mark.parametrize("src", [
    "globals()['X'] = 1\n",
    "globals().update(X=1)\n",
    "vars()['X'] = 1\n",
    "import sys\nsetattr(sys.modules[__name__], 'X', 1)\n",
    "import sys\nsys.modules[__name__] = object()\n",
    "exec('X = 1')\n",
    "from pkgutil import extend_path\n__path__ = extend_path(__path__, __name__)\n",
])
def test_dynamic_namespace_opens_module(src):
    s = summ(src)
    assert s.error is None and s.open_reason


def test_plain_module_is_closed():
    assert summ("import os\nX = os.getcwd()\n").open_reason == ""


def test_class_attributes_are_not_module_names():
    names = cert("class C:\n    Inner = 1\n    def m(self):\n        local = 1\n")
    assert names == {"C": DEFINITE}


def test_match_captures():
    src = """\
        import os
        match os.name:
            case [a, *rest]:
                both = 1
            case {"k": v, **kw}:
                both = 2
            case str() as s:
                both = 3
            case _:
                both = 4
        match os.sep:
            case "/":
                partial = 1
    """
    names = cert(src)
    assert names["both"] == DEFINITE  # every arm, and `case _` makes the match exhaustive
    for n in ("a", "rest", "v", "kw", "s", "partial"):
        assert names[n] == MAYBE, n


@pytest.mark.skipif(sys.version_info < (3, 12), reason="`type X = ...` needs a 3.12 parser")
def test_type_alias_statement():
    names = cert("type Point = tuple[int, int]\n")
    assert names == {"Point": DEFINITE}


# -- __all__ ----------------------------------------------------------------------------------

@pytest.mark.parametrize("src,expected", [
    ("__all__ = ['a', 'b']\n", ("a", "b")),
    ("__all__ = ('a',)\n", ("a",)),
    ("__all__: list[str] = ['a']\n", ("a",)),
    ("__all__ = ['a'] + ['b']\n", ("a", "b")),
    ("__all__ = ['a']\n__all__ += ['b']\n", ("a", "b")),
    ("__all__ = ['a']\n__all__.extend(['b', 'c'])\n", ("a", "b", "c")),
    ("__all__ = ['a']\n__all__.append('b')\n", ("a", "b")),
    ("__all__ = ['a']\n__all__ += ('b',)\n__all__.append('c')\n", ("a", "b", "c")),
    ("x = 1\n", None),
])
def test_static_all(src, expected):
    s = summ(src)
    assert s.all_names == expected
    assert not s.all_dynamic


@pytest.mark.parametrize("src", [
    "__all__ = [n for n in dir() if not n.startswith('_')]\n",
    "from m import __all__ as _a\n__all__ = list(_a)\n",
    "__all__ = ['a']\n__all__ += other.__all__\n",
    "__all__ = ['a']\n__all__.extend(other)\n",
    "__all__ = ['a']\n__all__.append(name)\n",
    "__all__ = ['a']\n__all__.remove('a')\n",
    "__all__ = ['a', name]\n",
])
def test_dynamic_all(src):
    s = summ(src)
    assert s.all_dynamic
    assert s.all_names is None


# -- imports: order, scope, guard --------------------------------------------------------------

def test_imports_in_execution_order_with_seq():
    src = """\
        import os
        A = 1
        from .core import x as y, z
        if cond():
            import json
        B = 2
        from pkg import *
    """
    s = summ(src)
    assert [(i.line, i.module, i.level, i.names, i.is_from) for i in s.imports] == [
        (1, "os", 0, (), False),
        (3, "core", 1, ("x", "z"), True),
        (5, "json", 0, (), False),
        (7, "pkg", 0, ("*",), True),
    ]
    seqs = [i.seq for i in s.imports]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # names bound before an import have a smaller seq, names bound after a larger one
    assert s.names["A"][1] < s.imports[1].seq < s.names["y"][1] + 1
    assert s.names["B"][1] > s.imports[2].seq
    assert s.names["B"][1] < s.imports[3].seq
    assert s.names["y"][1] == s.imports[1].seq  # bound by that very statement


def test_relative_import_levels():
    s = summ("from . import a\nfrom .. import b\nfrom ...x.y import c\n")
    assert [(i.module, i.level, i.names) for i in s.imports] == [
        ("", 1, ("a",)), ("", 2, ("b",)), ("x.y", 3, ("c",))]


def test_function_level_imports_have_scope_call():
    src = """\
        import os

        def handler(event, context):
            from pkg import thing
            def inner():
                import deep
            return thing

        class Service:
            from pkg import at_class_creation

            def run(self):
                import json

        async def ahandler(event, context):
            import asyncio
    """
    s = summ(src)
    found = {i.module if not i.names else i.names[0]: (i.scope, i.func) for i in s.imports}
    assert found == {
        "os": (TOP, ""),
        "thing": (CALL, "handler"),
        "deep": (CALL, "handler"),
        "at_class_creation": (TOP, ""),
        "json": (CALL, "run"),
        "asyncio": (CALL, "ahandler"),
    }
    assert "thing" not in s.names and "deep" not in s.names


def test_guard_classification():
    src = """\
        import plain
        try:
            import caught
        except ImportError:
            import in_handler
        try:
            import broad
        except Exception:
            pass
        try:
            import reraised
        except ImportError:
            raise
        try:
            import wrong_exception
        except KeyError:
            pass
        try:
            import tuple_caught
        except (KeyError, ModuleNotFoundError):
            pass
        if cond():
            import conditional
        for _ in range(2):
            import looped
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import typing_only
        from contextlib import suppress
        with suppress(ImportError):
            import suppressed
        with suppress(KeyError):
            import not_suppressed
        def f():
            try:
                import fn_caught
            except ImportError:
                pass
            if cond():
                import fn_conditional
    """
    s = summ(src)
    guards = {i.module: i.guard for i in s.imports if not i.is_from}
    assert guards == {
        "plain": UNGUARDED,
        "caught": CAUGHT,
        "in_handler": CONDITIONAL,
        "broad": CAUGHT,
        "reraised": UNGUARDED,
        "wrong_exception": UNGUARDED,
        "tuple_caught": CAUGHT,
        "conditional": CONDITIONAL,
        "looped": CONDITIONAL,
        "suppressed": CAUGHT,
        "not_suppressed": UNGUARDED,
        "fn_caught": CAUGHT,
        "fn_conditional": CONDITIONAL,
    }


def test_guarded_function_level_type_checking_import_skipped():
    src = "from typing import TYPE_CHECKING\ndef f():\n    if TYPE_CHECKING:\n        import x\n"
    assert [i.module for i in summ(src).imports] == ["typing"]


def test_terminal_statements_end_the_module():
    # The module never finishes importing: nothing after the exit runs, and no name can be
    # imported from it.
    s = summ("import sys\nA = 1\nsys.exit(0)\nB = 2\nimport never\n")
    assert s.names == {}
    assert [i.module for i in s.imports] == ["sys"]
    s = summ("A = 1\nif cond():\n    raise RuntimeError\nB = 2\n")
    assert {n: c for n, (c, _) in s.names.items()} == {"A": DEFINITE, "B": DEFINITE}


def _rescues(source: str) -> dict[str, tuple[str, ...]]:
    """module -> the modules whose sure failure makes its `except` arm surely run."""
    imports = summ(source).imports
    by_seq = {i.seq: i.module for i in imports}
    return {i.module: tuple(by_seq[s] for s in i.rescues) for i in imports if i.rescues}


def test_a_fallback_import_names_the_imports_it_backs_up():
    source = ("try:\n    import a\n    if x:\n        import b\n    from c import d\n"
              "except (ValueError, ImportError):\n    import e\n    if y:\n        import f\n"
              "except Exception:\n    import g\n")
    # only the first arm that catches ImportError, only imports directly in the body/arm
    assert _rescues(source) == {"e": ("a", "c")}


@pytest.mark.parametrize("source", [
    "if x:\n    try:\n        import a\n    except ImportError:\n        import b\n",
    "for _ in y:\n    try:\n        import a\n    except ImportError:\n        import b\n",
    "try:\n    import a\nexcept ImportError:\n    import b\n    raise\n",
    "try:\n    try:\n        import a\n    except ImportError:\n        import b\n"
    "except ImportError:\n    pass\n",
    "try:\n    import a\nexcept ValueError:\n    import b\n",
])
def test_no_rescue_where_the_try_itself_may_not_run_or_the_arm_re_raises(source):
    assert _rescues(source) == {}


@pytest.mark.parametrize("src, served", [
    ("def __getattr__(name):\n    raise AttributeError(name)\n", ()),
    ("def __getattr__(name):\n    if name == '__version__':\n        return '3'\n"
     "    raise AttributeError(name)\n", ("__version__",)),
    ("_L = {'a': 1}\n_S = frozenset({'b'})\ndef __getattr__(n):\n"
     "    if n in _L or n in _S:\n        return 1\n    raise AttributeError\n", ("a", "b")),
    ("def __getattr__(name):\n    if name not in ['a', 'b']:\n"
     "        raise AttributeError(name)\n    return 1\n", ("a", "b")),
])
def test_getattr_serving_named_list_keeps_module_closed(src, served):
    s = summ(src)
    assert s.open_reason == "" and s.served == served


@pytest.mark.parametrize("src", [
    "def __getattr__(name):\n    return 1\n",  # every name
    "def __getattr__(name):\n    if name == 'a':\n        return 1\n",  # falls through: None
    "def __getattr__(name):\n    if name.startswith('a'):\n        return 1\n"
    "    raise AttributeError(name)\n",
    "_L = {'a': 1}\n_L = make()\ndef __getattr__(name):\n    if name in _L:\n"
    "        return 1\n    raise AttributeError(name)\n",  # rebound: not a constant
    "def __getattr__(name):\n    if name not in ('a',):\n        log(name)\n"
    "        raise AttributeError(name)\n    return 1\n",
    "if X:\n    def __getattr__(name):\n        raise AttributeError(name)\n",
])
def test_getattr_we_cannot_read_opens_module(src):
    assert "__getattr__" in summ(src).open_reason
