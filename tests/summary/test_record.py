"""The summary record: its interface names, plain (marshal) form and module dunders."""

from __future__ import annotations

import pytest

from reviewbot.summary import ModuleSummary, module_dunders
from tests.summary import summ


def test_public_names():
    assert summ("__all__ = ['a']\na = b = _c = 1\n").public_names() == {"a"}
    assert summ("a = b = _c = 1\nimport os\n").public_names() == {"a", "b", "os"}


def test_plain_roundtrip():
    s = summ("""\
        import os
        __all__ = ['a']
        a = 1
        def f():
            import json
    """)
    assert ModuleSummary.from_plain(s.to_plain()) == s
    with pytest.raises(ValueError):
        ModuleSummary.from_plain(({1: 2}, (), None, False, "", None, False))


def test_module_dunders():
    assert "__path__" in module_dunders(True) and "__path__" not in module_dunders(False)
    namespace = module_dunders(True, namespace=True)
    assert "__cached__" not in namespace and "__file__" in namespace
