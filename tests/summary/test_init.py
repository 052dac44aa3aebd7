"""`summarize` on bad input: an error like CPython's, never an exception."""

from __future__ import annotations

import pytest

from reviewbot.summary import ModuleSummary, summarize
from tests.summary import summ


def test_syntax_error_is_reported_like_cpython():
    s = summ("x = 1\n\ndef f(:\n    pass\n", path="fn/util.py")
    assert s.error == ("syntax-error", "invalid syntax (util.py, line 3)", 3)
    assert s.names == {} and s.imports == ()


@pytest.mark.parametrize("data", [
    b"x = 1\n\x00\n",
    b"\x00" * 10,
    b"x = '\xe9'\n",
    b"\xff\xfe\x00\x00garbage",
    b"x = " + b"(" * 201 + b"1" + b")" * 201 + b"\n",
    b"x = 1" + b"+1" * 50_000 + b"\n",
    b"x = " + b"-" * 200_000 + b"1\n",
    b"".join(b"    " * i + b"if a:\n" for i in range(101)) + b" " * 404 + b"pass\n",
    b"def f(\n",
    b"\xef\xbb\xbf# -*- coding: latin-1 -*-\nx = 1\n",  # BOM and a conflicting declaration
    b"# -*- coding: no-such-codec -*-\nx = 1\n",
])
def test_bad_input_gives_an_error_not_an_exception(data):
    s = summarize(data, "fn/bad.py", (3, 12))
    assert isinstance(s, ModuleSummary)
    kind, message, line = s.error
    assert kind == "syntax-error" and message and line >= 1


def test_huge_file_is_an_error_not_a_crash():
    data = b"x = 1\n" * (10 * 1024 * 1024 // 6 + 1)
    assert len(data) > 10 * 1024 * 1024
    s = summarize(data, "fn/huge.py", (3, 12))
    assert s.error is not None and s.error[0] == "syntax-error"


@pytest.mark.parametrize("data", [b"", b"\n", b"# only a comment\n", b"\xef\xbb\xbfx = 1\n",
                                  b"# -*- coding: latin-1 -*-\nx = '\xe9'\n",
                                  b"# caf\xe9 in a comment\nx = 1\n"])
def test_odd_but_valid_files(data):
    s = summarize(data, "fn/ok.py", (3, 12))
    assert s.error is None
