"""The module model: the python-hcl2 shape it relies on, and block lines."""

from __future__ import annotations

from importlib.metadata import version

import hcl2

from reviewbot.discovery.terraform import modules


def test_pinned_python_hcl2_output_shape():
    """The reader relies on python-hcl2 8.1.4 with the options restoring the 7.x shape:
    bare literal strings, expressions as "${...}" that keep their inner quotes (7.x dropped
    them inside tuples: `toset([a, b])`), blocks as lists of dicts, no line keys."""
    assert version("python-hcl2") == "8.1.4"
    text = ('resource "aws_lambda_function" "f" {\n'
            '  for_each = toset(["a", "b-c"])\n'
            '  handler  = "a.b"\n'
            '  filename = data.archive_file.f[each.key].output_path\n'
            '  count    = 2\n'
            '  # a comment\n'
            '  environment {\n    variables = { A = "1" }\n  }\n}\n')
    doc = hcl2.loads(text, serialization_options=modules.hcl2_options(hcl2))
    assert doc == {"resource": [{"aws_lambda_function": {"f": {
        "for_each": '${toset(["a", "b-c"])}',
        "handler": "a.b",
        "filename": "${data.archive_file.f[each.key].output_path}",
        "count": 2,
        "environment": [{"variables": {"A": "1"}}],
    }}}]}
    # Without the options, 8.x keeps quotes on literals and labels.
    raw = hcl2.loads('locals {\n  a = "x"\n}\n')
    assert raw["locals"][0]["a"] == '"x"'


def test_block_lines_come_from_the_header_text():
    text = 'variable "x" {}\n\n  resource "aws_lambda_function"   "auth" {\n}\nmodule api {\n}\n'
    assert modules.block_line(text, "resource", "aws_lambda_function", "auth") == 3
    assert modules.block_line(text, "module", "api") == 5
    assert modules.block_line(text, "module", "nope") == 0
