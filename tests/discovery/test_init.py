"""`discover` across formats: naming, ordering, skipped folders and the JSON shape."""

from __future__ import annotations

import sys

from reviewbot.discovery import Discovery, discover, discover_cli_json
from reviewbot.model import DEFAULT_RUNTIME, Handler
from reviewbot.tree import Tree

SAM_FN = ("Transform: AWS::Serverless-2016-10-31\n"
          "Resources:\n"
          "  AuthFunction:\n"
          "    Type: AWS::Serverless::Function\n"
          "    Properties: {Handler: app.handler, Runtime: python3.12}\n")


def test_all_formats_together_sorted_with_clashing_names_qualified():
    files = {
        "a/template.yaml": SAM_FN,
        "a/app.py": "",
        "b/template.yaml": SAM_FN,
        "b/app.py": "",
        "svc/serverless.yml": "service: s\nprovider: {name: aws, runtime: python3.12}\n"
                              "functions:\n  zeta:\n    handler: h.main\n"
                              "  js:\n    handler: i.h\n    runtime: nodejs20.x\n",
        "svc/h.py": "",
        "tf/main.tf": 'data "archive_file" "x" {\n  source_dir = "${path.module}/src"\n'
                      '  output_path = "x.zip"\n}\n'
                      'resource "aws_lambda_function" "x" {\n  handler = "m.h"\n'
                      '  filename = data.archive_file.x.output_path\n}\n',
        "tf/src/m.py": "",
    }
    found = discover(Tree.from_files(files))
    assert isinstance(found, Discovery)
    assert [h.name for h in found.handlers] == [
        "a/template.yaml:AuthFunction", "aws_lambda_function.x", "b/template.yaml:AuthFunction",
        "zeta"]
    assert [h.root for h in found.handlers] == ["a", "tf/src", "b", "svc"]
    # Terraform default when none is set: the newest Lambda Python runtime, said so
    assert (found.handlers[1].runtime, found.handlers[1].runtime_default) == (
        DEFAULT_RUNTIME, True)
    assert [(u.name, u.reason) for u in found.unresolved] == [
        ("js", "runtime nodejs20.x is not Python")]


def test_build_output_and_vendored_folders_are_skipped():
    files = {
        ".aws-sam/build/template.yaml": SAM_FN,
        "node_modules/pkg/serverless.yml": "functions: {f: {handler: a.b, runtime: python3.12}}\n",
        ".terraform/modules/x/main.tf": 'resource "aws_lambda_function" "y" {\n  handler = "a.b"\n}\n',
        "cdk.out/Stack.template.json": '{"Resources": {}}',
    }
    found = discover(Tree.from_files(files))
    assert found == Discovery((), (), ())


def test_warnings_are_sorted_by_file_and_line():
    files = {
        "z/template.yaml": "Resources: [\n",
        "a/serverless.yml": "functions:\n  f: [\n",
        "m/main.tf": "resource {\n",
    }
    found = discover(Tree.from_files(files))
    assert [w.split(":")[0] for w in found.warnings] == [
        "a/serverless.yml", "m/main.tf", "z/template.yaml"]


def test_missing_python_hcl2_is_a_warning_not_a_crash(monkeypatch):
    monkeypatch.setitem(sys.modules, "hcl2", None)
    found = discover(Tree.from_files({"infra/main.tf": "", "infra/b.tf": ""}))
    assert found.warnings == ("infra/b.tf:0: python-hcl2 is not installed; Terraform files skipped",)


def test_cli_json_shape():
    d = Discovery(
        handlers=(Handler(name="f", handler="a.b", root="src", paths=("l/python",),
                          source="template.yaml", line=3),),
        unresolved=(),
        warnings=("x:1: y",),
    )
    assert discover_cli_json(d) == {
        "handlers": [{"name": "f", "handler": "a.b", "root": "src", "paths": ["l/python"],
                      "runtime": DEFAULT_RUNTIME, "runtime_default": False, "architecture": "x86_64",
                      "source": "template.yaml", "line": 3,
                      "complete": True, "layer_modules": [], "unknown_layers": []}],
        "unresolved": [],
    }


def test_odd_inputs_never_raise():
    files = {
        "t1/template.yaml": "Transform: AWS::Serverless-2016-10-31\nResources:\n  A: 3\n"
                            "  B: {Type: AWS::Serverless::Function, Properties: [1]}\n"
                            "  C: {Type: AWS::Serverless::Function, Properties: {Handler: 5}}\n",
        "t2/template.yaml": "AWSTemplateFormatVersion: x\nResources:\n"
                            "  N: {Type: AWS::Serverless::Application,"
                            " Properties: {Location: template.yaml}}\n",
        "t3/a.template": "a: &a [*a]\n",
        "s1/serverless.yml": "custom: {a: '${self:custom.b}', b: '${self:custom.a}'}\n"
                             "provider: {runtime: python3.12, layers: 5}\n"
                             "functions:\n  f: ~\n  g: {handler: '${self:custom.a}'}\n"
                             "  h: {handler: a.b}\n",
        "s2/serverless.yml": "service: empty\nfunctions:\n",
        "tf/main.tf": '''
locals {
  a = local.b
  b = local.a
}
module "self" {
  source = "./"
}
resource "aws_lambda_function" "a" {
  handler  = local.a
  filename = local.a
}
''',
    }
    found = discover(Tree.from_files(files))
    assert found.handlers[0].name == "h" and found.handlers[0].complete is False
    assert [(u.source, u.name, u.reason) for u in found.unresolved] == [
        ("s1/serverless.yml", "f", "function definition is not a mapping"),
        ("s1/serverless.yml", "g", "handler is computed"),
        ("t1/template.yaml", "B", "no Handler"),
        ("t1/template.yaml", "C", "Handler is computed"),
        ("tf/main.tf", "aws_lambda_function.a", "handler is computed: ${local.a}"),
    ]
    assert found.warnings == (
        "t1/template.yaml:3: resource A has no Type",
        "t2/template.yaml:0: nested templates form a cycle; stopped here",
        "t3/a.template:1: invalid YAML: found unconstructable recursive node",
    )


def test_files_too_large_to_parse_are_warnings_for_every_reader():
    big = "#" * (5 * 1024 * 1024 + 1)
    found = discover(Tree.from_files({"template.yaml": big, "serverless.yml": big,
                                      "infra/main.tf": big}))
    assert found.handlers == ()
    assert found.warnings == tuple(f"{p}:0: skipped: larger than 5 MB" for p in
                                   ("infra/main.tf", "serverless.yml", "template.yaml"))


def test_functions_that_run_no_python_module_are_listed_not_checked():
    template = (
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Web:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Handler: run.sh\n"
        "      Runtime: python3.12\n"
        "      Environment: {Variables: {AWS_LAMBDA_EXEC_WRAPPER: /opt/bootstrap}}\n"
        "  Wrapped:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Handler: bootstrap.run\n"
        "      Runtime: python3.12\n"
        "      Environment: {Variables: {AWS_LAMBDA_EXEC_WRAPPER: /opt/bootstrap}}\n"
        "  Traced:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Handler: app.handler\n"
        "      Runtime: python3.12\n"
        "      Environment: {Variables: {AWS_LAMBDA_EXEC_WRAPPER: /opt/otel-instrument}}\n"
        "  Plain:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Handler: missing.handler, Runtime: python3.12}\n"
    )
    found = discover(Tree.from_files({"template.yaml": template, "run.sh": "exec uvicorn",
                                      "app.py": ""}))
    # A wrapper that still runs the Python handler (ADOT) keeps it checked, and so does a
    # plain handler whose module is missing: that is the break to report.
    assert [h.name for h in found.handlers] == ["Plain", "Traced"]
    assert [(u.name, u.line, u.reason) for u in found.unresolved] == [
        ("Web", 3, "handler run.sh is a file the function runs, not a Python module"),
        ("Wrapped", 9, "AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap runs the function and handler "
                       "bootstrap.run is no Python module of it"),
    ]
