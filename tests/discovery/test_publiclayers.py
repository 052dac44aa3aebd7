"""Layers given by ARN: published ones by their documented contents, others by the config."""

from __future__ import annotations

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.config import LayerSource, parse_config
from reviewbot.discovery import sam
from reviewbot.discovery.publiclayers import published_layer
from reviewbot.tree import Tree

SAM = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"
POWERTOOLS = ("!Sub arn:aws:lambda:${AWS::Region}:017000801446:layer:"
              "AWSLambdaPowertoolsPythonV3-python312-x86_64:7")
INSIGHTS = "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:53"
SECRETS = ("arn:aws:lambda:us-east-2:590474943231:layer:"
           "AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:11")
OTHER = "arn:aws:lambda:us-east-1:123456789012:layer:team-utils:4"


def template(*layers: str) -> str:
    items = "".join(f"        - {layer}\n" for layer in layers)
    return SAM + ("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                  "      CodeUri: fn/\n      Handler: app.handler\n      Runtime: python3.12\n"
                  "      Layers:\n" + items)


def check(code: str, *layers: str, layer_map=None):
    files = {"template.yaml": template(*layers),
             "fn/app.py": code + "\ndef handler(event, context):\n    return 1\n"}
    found = sam.discover(Tree.from_files(files), layer_map)
    [h] = found.handlers
    return h, Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(h)


def test_published_layers_are_matched_by_account_and_name_in_any_region_and_version():
    assert published_layer(POWERTOOLS).modules >= {"aws_lambda_powertools", "pydantic"}
    assert published_layer(INSIGHTS).modules == frozenset()
    assert published_layer(SECRETS).modules == frozenset()  # its account differs per region
    assert published_layer(OTHER) is None
    # the name of a published layer under another account is not that layer
    assert published_layer(INSIGHTS.replace("580247275435", "123456789012")) is None


def test_an_extension_layer_leaves_a_missing_module_an_error():
    h, result = check("import requests\n", INSIGHTS, SECRETS)
    assert h.complete and h.unknown_layers == ()
    assert [e.message for e in result.errors] == [
        "Unable to import module 'app': No module named 'requests'"]


def test_powertools_layer_provides_its_modules_and_nothing_else():
    h, result = check("from aws_lambda_powertools import Logger\n", POWERTOOLS)
    assert h.complete and "aws_lambda_powertools" in h.layer_modules
    assert result.errors == [] and result.warnings == []
    _, result = check("import requests\n", POWERTOOLS)
    assert [e.kind for e in result.errors] == ["missing-module"]


def test_an_unknown_layer_makes_a_warning_that_names_it_and_the_key():
    h, result = check("import requests\n", OTHER)
    assert not h.complete and h.unknown_layers == (OTHER,)
    assert result.errors == []
    [warning] = result.warnings
    assert warning.message == (
        f"Unable to import module 'app': No module named 'requests' (unless layer {OTHER} "
        "provides it: say what it provides under `layers:` in .github/reviewbot.yml)")


def test_the_config_says_what_another_layer_provides():
    layer_map = {"arn:aws:lambda:*:*:layer:team-utils:*": LayerSource(modules=("team_utils",))}
    h, result = check("import team_utils\nimport requests\n", OTHER, layer_map=layer_map)
    assert h.complete and h.layer_modules == ("team_utils",)
    assert [e.message for e in result.errors] == [
        "Unable to import module 'app': No module named 'requests'"]


def test_a_layer_requirements_file_gives_its_distributions_modules():
    files = {"template.yaml": template(OTHER), "layers/team/requirements.txt": "PyYAML\nrequests\n",
             "fn/app.py": "import yaml, requests\ndef handler(e, c):\n    return 1\n"}
    layer_map = {OTHER: LayerSource(requirements="layers/team/requirements.txt")}
    [h] = sam.discover(Tree.from_files(files), layer_map).handlers
    assert h.complete and {"yaml", "requests"} <= set(h.layer_modules)
    assert Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(h).errors == []


def test_config_reads_each_form_of_a_layer_and_refuses_unknown_keys():
    import pytest

    from reviewbot.config import ConfigError

    config = parse_config("layers:\n  a: libs/a\n  b: {modules: [x, y]}\n"
                          "  c: {requirements: layers/c/requirements.txt}\n  d: {folder: libs/d}\n")
    assert config.layers == {"a": "libs/a", "b": LayerSource(modules=("x", "y")),
                             "c": LayerSource(requirements="layers/c/requirements.txt"),
                             "d": "libs/d"}
    with pytest.raises(ConfigError, match=r"reviewbot.yml:2: layers.b.module: unknown key"):
        parse_config("layers:\n  b: {module: [x]}\n")
