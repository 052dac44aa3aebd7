"""Each function's architecture decides which wheels its build installs."""

from __future__ import annotations

from reviewbot.discovery import discover
from reviewbot.tree import Tree

APP = "def handler(event, context):\n    pass\n"


def archs(files: dict[str, str]) -> dict[str, str]:
    return {h.name: h.arch for h in discover(Tree.from_files(files)).handlers}


def test_sam_architectures_with_globals():
    template = ("Transform: AWS::Serverless-2016-10-31\nGlobals:\n  Function:\n"
                "    Architectures: [arm64]\nResources:\n"
                "  Own:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                "      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: a/\n"
                "      Architectures: [x86_64]\n"
                "  FromGlobals:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                "      Runtime: python3.12\n      Handler: app.handler\n      CodeUri: a/\n")
    assert archs({"template.yaml": template, "a/app.py": APP}) == {"Own": "x86_64",
                                                                  "FromGlobals": "arm64"}


def test_serverless_provider_and_function_architecture():
    config = ("service: s\nprovider:\n  name: aws\n  runtime: python3.12\n"
              "  architecture: arm64\nfunctions:\n  f:\n    handler: app.handler\n"
              "  g:\n    handler: app.handler\n    architecture: x86_64\n")
    assert archs({"serverless.yml": config, "app.py": APP}) == {"f": "arm64", "g": "x86_64"}


def test_terraform_architectures_and_the_default():
    main = ('resource "aws_lambda_function" "arm" {\n  function_name = "arm"\n'
            '  handler = "app.handler"\n  runtime = "python3.12"\n'
            '  filename = data.archive_file.z.output_path\n  architectures = ["arm64"]\n}\n'
            'resource "aws_lambda_function" "plain" {\n  function_name = "plain"\n'
            '  handler = "app.handler"\n  runtime = "python3.12"\n'
            '  filename = data.archive_file.z.output_path\n}\n'
            'data "archive_file" "z" {\n  type = "zip"\n'
            '  source_dir = "${path.module}/src"\n  output_path = "z.zip"\n}\n')
    assert archs({"main.tf": main, "src/app.py": APP}) == {"aws_lambda_function.arm": "arm64",
                                                           "aws_lambda_function.plain": "x86_64"}
