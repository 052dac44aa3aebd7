"""Layers AWS and vendors publish, known by ARN: which Python modules each puts on the path.

A layer given by ARN cannot be read from the repository. For the published ones, what they
contain is documented, so a function that uses one is still judged completely: Powertools
adds `aws_lambda_powertools`, while an extension layer (Parameters and Secrets, Lambda
Insights) adds a binary under /opt/extensions and no Python module at all. Matched on the
account and the layer's name, whatever the region and version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# arn:aws:lambda:<region>:<account>:layer:<name>[:<version>]; a region may be `${AWS::Region}`
_ARN = re.compile(r"arn:aws[\w-]*:lambda:.*?:(\d{12}|\$\{[^}]*\}):layer:([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class PublishedLayer:
    title: str
    accounts: frozenset[str]  # empty: published from a different account in each region
    name: re.Pattern[str]
    modules: frozenset[str]  # top-level import names it provides; empty for an extension
    source: str  # where its contents are documented


def _layer(title: str, accounts: str, name: str, modules: str, source: str) -> PublishedLayer:
    return PublishedLayer(title, frozenset(accounts.split()), re.compile(name + r"\Z"),
                          frozenset(modules.split()), source)


POWERTOOLS = "https://docs.powertools.aws.dev/lambda/python/latest/#lambda-layer"
PUBLISHED = (
    _layer("Powertools for AWS Lambda (Python) v3", "017000801446 498634801083",
           r"AWSLambdaPowertoolsPythonV3-python3\d+-(x86_64|arm64)",
           # built with the [all] extra (layer_v3/layer_constructors/helpers.py)
           "aws_lambda_powertools pydantic pydantic_core aws_xray_sdk fastjsonschema "
           "typing_extensions annotated_types", POWERTOOLS),
    _layer("Powertools for AWS Lambda (Python) v2", "017000801446 498634801083",
           r"AWSLambdaPowertoolsPythonV2(-Arm64)?", "aws_lambda_powertools", POWERTOOLS),
    _layer("Powertools for AWS Lambda (Python) v1", "017000801446",
           r"AWSLambdaPowertoolsPython", "aws_lambda_powertools", POWERTOOLS),
    _layer("AWS Parameters and Secrets Lambda Extension", "",
           r"AWS-Parameters-and-Secrets-Lambda-Extension(-Arm64)?", "",
           "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
           "ps-integration-lambda-extensions.html"),
    _layer("Lambda Insights extension", "580247275435",
           r"LambdaInsightsExtension(-Arm64)?", "",
           "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/"
           "Lambda-Insights-extension-versions.html"),
    _layer("AWS Distro for OpenTelemetry, Python (legacy)", "901920570463",
           r"aws-otel-python-(amd64|arm64)-ver-[0-9-]+", "opentelemetry",
           "https://aws-otel.github.io/docs/getting-started/lambda/lambda-python"),
    _layer("AWS Distro for OpenTelemetry, Python", "",
           r"AWSOpenTelemetryDistroPython", "opentelemetry amazon",
           "https://aws-otel.github.io/docs/getting-started/lambda/lambda-python"),
    _layer("Datadog Python", "464622532012 002406178527",
           r"Datadog-Python3\d+(-ARM)?", "datadog_lambda ddtrace",
           "https://docs.datadoghq.com/serverless/aws_lambda/installation/python/"),
    _layer("Datadog extension", "464622532012 002406178527", r"Datadog-Extension(-ARM)?", "",
           "https://docs.datadoghq.com/serverless/libraries_integrations/extension/"),
    _layer("New Relic Python", "451483290750", r"NewRelicPython3\d+(ARM64)?",
           "newrelic newrelic_lambda",
           "https://layers.newrelic-external.com/"),
    _layer("Sentry Python SDK", "943013980633", r"SentryPythonServerlessSDK", "sentry_sdk",
           "https://docs.sentry.io/platforms/python/integrations/aws-lambda/"),
    _layer("AWS SDK for pandas", "336392948345", r"AWSSDKPandas-Python3\d+(-Arm64)?",
           "awswrangler pandas numpy pyarrow pytz tzdata",
           "https://aws-sdk-pandas.readthedocs.io/en/stable/layers.html"),
)


def published_layer(ref: str) -> PublishedLayer | None:
    """The published layer an ARN names, or None."""
    m = _ARN.search(ref)
    if m is None:
        return None
    account, name = m.groups()
    for layer in PUBLISHED:
        if layer.name.match(name) and (not layer.accounts or account in layer.accounts):
            return layer
    return None
