"""Serverless Framework discovery on small repos built in memory."""

from __future__ import annotations

from reviewbot.discovery import serverless
from reviewbot.model import DEFAULT_RUNTIME
from reviewbot.tree import Tree


def run(files, layer_map=None):
    found = serverless.discover(Tree.from_files(files), layer_map)
    return {h.name: h for h in found.handlers}, found.unresolved, found.warnings


def test_service_root_slash_handlers_runtimes_and_lines():
    files = {
        "services/goals/serverless.yml": (
            "service: goals\n"
            "provider:\n"
            "  name: aws\n"
            "  runtime: python3.11\n"
            "functions:\n"
            "  auth:\n"
            "    handler: src/handlers/auth.handler\n"
            "  report:\n"
            "    handler: report.main\n"
            "    runtime: python3.12\n"
            "  web:\n"
            "    handler: web.handler\n"
            "    runtime: nodejs18.x\n"
        ),
        "services/goals/src/handlers/auth.py": "",
        "services/goals/report.py": "",
    }
    handlers, unresolved, warnings = run(files)
    auth = handlers["auth"]
    assert (auth.root, auth.handler, auth.module, auth.runtime) == (
        "services/goals", "src/handlers/auth.handler", "src.handlers.auth", "python3.11")
    assert (auth.source, auth.line) == ("services/goals/serverless.yml", 6)
    assert handlers["report"].runtime == "python3.12"
    assert [(u.name, u.line, u.reason) for u in unresolved] == [
        ("web", 11, "runtime nodejs18.x is not Python")]
    assert warnings == []


def test_function_layers_replace_provider_layers():
    files = {
        "serverless.yml": (
            "service: s\n"
            "provider:\n"
            "  name: aws\n"
            "  runtime: python3.12\n"
            "  layers:\n"
            "    - {Ref: CommonDashlibsLambdaLayer}\n"
            "    - arn:aws:lambda:us-east-1:123:layer:insights:3\n"
            "layers:\n"
            "  common-libs:\n"
            "    path: layers/common\n"
            "  tools:\n"
            "    path: layers/tools\n"
            "functions:\n"
            "  inherits:\n"
            "    handler: a.handler\n"
            "  replaces:\n"
            "    handler: a.handler\n"
            "    layers:\n"
            "      - !Ref ToolsLambdaLayer\n"
            "  none:\n"
            "    handler: a.handler\n"
            "    layers: []\n"
        ),
        "a.py": "",
        "layers/common/python/common/__init__.py": "",
        "layers/tools/python/tools.py": "",
        "libs/insights/insights.py": "",
    }
    handlers, _, _ = run(files)
    assert handlers["inherits"].paths == ("layers/common/python",)
    assert handlers["inherits"].complete is False  # the insights ARN is unknown
    assert handlers["replaces"].paths == ("layers/tools/python",)
    assert handlers["replaces"].complete is True
    assert handlers["none"].paths == () and handlers["none"].complete is True

    mapped, _, _ = run(files, {"arn:aws:lambda:*:*:layer:insights:*": "libs/insights"})
    assert mapped["inherits"].paths == ("layers/common/python", "libs/insights")
    assert mapped["inherits"].complete is True


def test_module_trap_with_individually_packaging():
    files = {
        "serverless.yml": (
            "service: s\n"
            "provider: {name: aws, runtime: python3.12}\n"
            "plugins:\n"
            "  - serverless-python-requirements\n"
            "package:\n"
            "  individually: true\n"
            "functions:\n"
            "  auth:\n"
            "    handler: handler.main\n"
            "    module: auth\n"
            "  plain:\n"
            "    handler: common/tool.main\n"
        ),
        "auth/handler.py": "from common import errors\n",
        "common/errors.py": "",
        "common/tool.py": "",
    }
    handlers, _, _ = run(files)
    # Only auth/ ships for `auth`, so the shared common/ folder is not importable there.
    assert handlers["auth"].root == "auth"
    assert handlers["auth"].handler == "handler.main"
    assert handlers["plain"].root == "."


def test_module_without_individually_or_plugin_keeps_the_service_root():
    base = ("service: s\nprovider: {name: aws, runtime: python3.12}\n"
            "functions:\n  auth:\n    handler: auth/handler.main\n    module: auth\n")
    files = {"auth/handler.py": ""}
    handlers, _, _ = run({**files, "serverless.yml": base})
    assert handlers["auth"].root == "."
    with_plugin = base + "plugins: [serverless-python-requirements]\n"
    handlers, _, _ = run({**files, "serverless.yml": with_plugin})
    assert handlers["auth"].root == "."  # not individually: one zip of the whole service


def test_variables_self_opt_defaults_and_file():
    files = {
        "api/serverless.yml": (
            "service: api\n"
            "custom:\n"
            "  stage: ${opt:stage, 'dev'}\n"
            "  py: python3.12\n"
            "  handlers:\n"
            "    dev: app.dev_handler\n"
            "provider:\n"
            "  name: aws\n"
            "  runtime: ${self:custom.py}\n"
            "  stage: ${self:custom.stage}\n"
            "  environment:\n"
            "    STAGE: ${sls:stage}\n"
            "    SECRET: ${ssm:/app/secret}\n"
            "functions:\n"
            "  main:\n"
            "    handler: ${self:custom.handlers.${self:provider.stage}}\n"
            "    environment:\n"
            "      TABLE: goals-${self:custom.stage}\n"
            "  other: ${file(./functions.yml):other}\n"
            "  broken:\n"
            "    handler: ${env:HANDLER}\n"
        ),
        "api/functions.yml": "other:\n  handler: other.handler\n",
        "api/app.py": "",
        "api/other.py": "",
    }
    handlers, unresolved, _ = run(files)
    assert handlers["main"].handler == "app.dev_handler"
    assert handlers["main"].runtime == "python3.12"
    assert handlers["main"].environment == (("STAGE", "dev"), ("TABLE", "goals-dev"))
    assert handlers["other"].handler == "other.handler"
    assert [(u.name, u.reason) for u in unresolved] == [("broken", "handler is computed")]


def test_artifact_image_and_missing_runtime():
    files = {
        "serverless.yml": (
            "service: s\n"
            "provider: {name: aws}\n"
            "functions:\n"
            "  prebuilt:\n"
            "    handler: a.handler\n"
            "    runtime: python3.12\n"
            "    package: {artifact: dist/a.zip}\n"
            "  image:\n"
            "    image: 123.dkr.ecr.us-east-1.amazonaws.com/x:latest\n"
            "  js:\n"
            "    handler: index.handler\n"
            "  py:\n"
            "    handler: a.handler\n"
        ),
        "a.py": "",
        "index.js": "",
    }
    handlers, unresolved, _ = run(files)
    assert list(handlers) == ["py"] and handlers["py"].runtime == DEFAULT_RUNTIME
    assert {u.name: u.reason for u in unresolved} == {
        "prebuilt": "package.artifact: a prebuilt zip",
        "image": "container image: the handler is set by the image",
        "js": "no runtime set (Serverless defaults to Node.js)",
    }


def test_patterns_that_drop_the_handler_file_warn():
    files = {
        "serverless.yml": (
            "service: s\n"
            "provider: {name: aws, runtime: python3.12}\n"
            "package:\n"
            "  patterns: ['!**', 'src/**', '!src/legacy/**']\n"
            "functions:\n"
            "  ok:\n"
            "    handler: src/ok.handler\n"
            "  gone:\n"
            "    handler: src/legacy/old.handler\n"
        ),
        "src/ok.py": "",
        "src/legacy/old.py": "",
    }
    handlers, _, warnings = run(files)
    assert set(handlers) == {"ok", "gone"}
    assert warnings == [
        "serverless.yml:8: gone: package.patterns leave out the handler file src/legacy/old.py"]


def test_malformed_configs_warn_and_others_still_load():
    files = {
        "a/serverless.yml": "service: a\nfunctions:\n  f:\n    handler: [x\n",
        "b/serverless.yml": "- not\n- a mapping\n",
        "c/serverless.yml": "service: c\nprovider: {name: aws, runtime: python3.12}\n"
                            "functions:\n  f:\n    handler: h.handler\n",
        "c/h.py": "",
    }
    handlers, _, warnings = run(files)
    assert [h.source for h in handlers.values()] == ["c/serverless.yml"]
    assert len(warnings) == 2
    assert warnings[0].startswith("a/serverless.yml:5: invalid YAML")
    assert warnings[1] == "b/serverless.yml:1: not a Serverless Framework config: not a mapping"


def test_layer_logical_ids():
    assert serverless.layer_logical_id("commonLibs") == "CommonLibsLambdaLayer"
    assert serverless.layer_logical_id("common-libs") == "CommonDashlibsLambdaLayer"
    assert serverless.layer_logical_id("py_deps") == "Py_depsLambdaLayer".replace("_", "Underscore")


def test_packaged_patterns_in_order():
    patterns = ["!**", "src/**", "!src/tests/**"]
    assert serverless.packaged("src/a.py", patterns)
    assert not serverless.packaged("src/tests/t.py", patterns)
    assert not serverless.packaged("docs/x.md", patterns)
    assert serverless.packaged("anything.py", [])


def test_serverless_wsgi_checks_the_wsgi_app_module():
    files = {
        "api/serverless.yml": (
            "service: api\n"
            "custom:\n  wsgi:\n    app: app.app\n"
            "provider:\n  name: aws\n  runtime: python3.9\n"
            "functions:\n  api:\n    handler: wsgi_handler.handler\n"
            "plugins:\n  - serverless-wsgi\n  - serverless-python-requirements\n"
        ),
        "api/app.py": "app = object()\n",
    }
    handlers, unresolved, _ = run(files)
    assert handlers["api"].handler == "app.app"
    assert handlers["api"].root == "api"
    assert list(unresolved) == []


def test_functions_from_included_files_keep_their_own_file_and_line():
    files = {
        "svc/serverless.yml": (
            "service: s\n"
            "provider:\n"
            "  name: aws\n"
            "  runtime: python3.12\n"
            "  stage: ${opt:stage, 'dev'}\n"
            "custom:\n"
            "  base: src/handlers\n"
            "functions:\n"
            "  - ${file(functions/users.yml)}\n"
            "  - ${file(./functions/orders.yml):functions}\n"
            "  - inline:\n"
            "      handler: inline.handler\n"
            "  - ${file(functions/missing.yml)}\n"
        ),
        "svc/functions/users.yml": (
            "getUser:\n"
            "  handler: ${self:custom.base}/users.get\n"
            "  name: users-${sls:stage}\n"
            "createUser: ${file(functions/create.yml)}\n"
        ),
        "svc/functions/create.yml": "handler: ${self:custom.base}/users.create\n",
        "svc/functions/orders.yml": (
            "other: 1\n"
            "functions:\n"
            "  listOrders:\n"
            "    handler: ${self:custom.base}/orders.main\n"
            "  broken:\n"
            "    handler: ${env:HANDLER}\n"
        ),
        "svc/src/handlers/users.py": "",
        "svc/src/handlers/orders.py": "",
        "svc/inline.py": "",
    }
    handlers, unresolved, warnings = run(files)
    assert sorted(handlers) == ["createUser", "getUser", "inline", "listOrders"]
    assert handlers["getUser"].handler == "src/handlers/users.get"
    assert (handlers["getUser"].source, handlers["getUser"].line) == (
        "svc/functions/users.yml", 1)
    assert handlers["createUser"].handler == "src/handlers/users.create"
    assert (handlers["createUser"].source, handlers["createUser"].line) == (
        "svc/functions/users.yml", 4)
    assert (handlers["listOrders"].source, handlers["listOrders"].line) == (
        "svc/functions/orders.yml", 3)
    assert all(h.root == "svc" for h in handlers.values())
    assert [(u.name, u.source, u.line, u.reason) for u in unresolved] == [
        ("broken", "svc/functions/orders.yml", 5, "handler is computed")]
    assert warnings == ["svc/serverless.yml:8: functions could not be read: "
                        "${file(functions/missing.yml)}"]


def test_functions_as_one_included_file():
    files = {
        "serverless.yml": ("provider: {name: aws, runtime: python3.11}\n"
                           "functions: ${file(fns.yml)}\n"),
        "fns.yml": "a:\n  handler: a.handler\n",
        "a.py": "",
    }
    handlers, unresolved, warnings = run(files)
    assert (handlers["a"].source, handlers["a"].line, handlers["a"].runtime) == (
        "fns.yml", 1, "python3.11")
    assert unresolved == [] and warnings == []
