"""SAM / CloudFormation discovery on small repos built in memory."""

from __future__ import annotations

import json

from reviewbot.discovery import sam
from reviewbot.tree import Tree

SAM = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"


def run(files, layer_map=None):
    found = sam.discover(Tree.from_files(files), layer_map)
    return {h.name: h for h in found.handlers}, found.unresolved, found.warnings


def test_codeuri_is_relative_to_the_template_folder_and_lines_point_at_the_resource():
    files = {
        "app/template.yaml": SAM + (
            "Resources:\n"
            "  AuthFunction:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties:\n"
            "      CodeUri: src/\n"
            "      Handler: handlers/auth.handler\n"
            "      Runtime: python3.11\n"
            "      Role: !GetAtt Role.Arn\n"
            "  Root:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {Handler: app.handler, Runtime: python3.12}\n"
        ),
        "app/src/handlers/auth.py": "",
        "app/app.py": "",
    }
    handlers, unresolved, warnings = run(files)
    auth = handlers["AuthFunction"]
    assert (auth.root, auth.handler, auth.runtime) == ("app/src", "handlers/auth.handler", "python3.11")
    assert (auth.source, auth.line, auth.paths, auth.complete) == ("app/template.yaml", 4, (), True)
    assert handlers["Root"].root == "app"  # no CodeUri: the template's folder
    assert unresolved == [] and warnings == []


def test_globals_layer_list_comes_first_and_function_scalars_win():
    files = {
        "template.yaml": SAM + (
            "Globals:\n"
            "  Function:\n"
            "    Runtime: python3.11\n"
            "    Handler: main.handler\n"
            "    Layers:\n"
            "      - arn:aws:lambda:us-east-1:123456789012:layer:insights:21\n"
            "    Environment:\n"
            "      Variables: {STAGE: prod, TABLE: goals}\n"
            "Resources:\n"
            "  UtilsLayer:\n"
            "    Type: AWS::Serverless::LayerVersion\n"
            "    Properties:\n"
            "      ContentUri: layers/utils\n"
            "    Metadata:\n"
            "      BuildMethod: python3.12\n"
            "  PlainLayer:\n"
            "    Type: AWS::Serverless::LayerVersion\n"
            "    Properties:\n"
            "      ContentUri: layers/plain\n"
            "  Fn:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties:\n"
            "      CodeUri: fn\n"
            "      Runtime: python3.12\n"
            "      Layers: [!Ref UtilsLayer, !Ref PlainLayer]\n"
            "      Environment:\n"
            "        Variables: {TABLE: !Ref Table, DEBUG: 1}\n"
        ),
        "fn/main.py": "",
        "layers/utils/utils.py": "",
        "layers/plain/python/plain.py": "",
        "layers/plain/python/lib/python3.12/site-packages/dep/__init__.py": "",
        "libs/insights/insights.py": "",
    }
    handlers, _, _ = run(files)
    fn = handlers["Fn"]
    assert (fn.handler, fn.runtime) == ("main.handler", "python3.12")
    # The global ARN layer is unknown: listed first, so the function is incomplete.
    assert fn.paths == ("layers/plain/python/lib/python3.12/site-packages",
                        "layers/utils", "layers/plain/python")
    assert fn.complete is False
    # A local intrinsic replaces the global value, so TABLE is not a literal any more.
    assert fn.environment == (("STAGE", "prod"), ("DEBUG", "1"))

    mapped, _, _ = run(files, {"arn:aws:lambda:*:*:layer:insights:*": "libs/insights"})
    assert mapped["Fn"].paths == ("layers/plain/python/lib/python3.12/site-packages",
                                  "libs/insights", "layers/utils", "layers/plain/python")
    assert mapped["Fn"].complete is True


def test_ignore_globals_and_parameter_defaults():
    files = {
        "template.yaml": SAM + (
            "Parameters:\n"
            "  Code: {Type: String, Default: src}\n"
            "  Py: {Type: String, Default: python3.13}\n"
            "Globals:\n"
            "  Function: {Runtime: nodejs20.x, Layers: [arn:aws:lambda:eu-west-1:1:layer:x:1]}\n"
            "Resources:\n"
            "  Fn:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties:\n"
            "      IgnoreGlobals: '*'\n"
            "      CodeUri: !Ref Code\n"
            "      Runtime: !Ref Py\n"
            "      Handler: app.handler\n"
        ),
        "src/app.py": "",
    }
    handlers, unresolved, _ = run(files)
    assert handlers["Fn"].root == "src"
    assert handlers["Fn"].runtime == "python3.13"
    assert handlers["Fn"].complete is True
    assert unresolved == []


def test_hyphenated_module_names_are_kept_verbatim():
    files = {
        "template.yaml": SAM + (
            "Resources:\n"
            "  CreateUser:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: user-service, Handler: user-management.create_user,"
            " Runtime: python3.12}\n"
        ),
        "user-service/user-management.py": "",
    }
    handlers, _, _ = run(files)
    assert handlers["CreateUser"].handler == "user-management.create_user"
    assert handlers["CreateUser"].root == "user-service"
    assert handlers["CreateUser"].module == "user-management"


def test_nested_template_with_parent_relative_codeuri_is_reported_once():
    files = {
        "template.yaml": SAM + (
            "Resources:\n"
            "  ApiApp:\n"
            "    Type: AWS::Serverless::Application\n"
            "    Properties:\n"
            "      Location: stacks/api/template.yaml\n"
            "      Parameters: {Py: python3.11}\n"
            "  Shared:\n"
            "    Type: AWS::Serverless::Application\n"
            "    Properties:\n"
            "      Location: {ApplicationId: arn:aws:serverlessrepo:x, SemanticVersion: 1.0.0}\n"
        ),
        "stacks/api/template.yaml": SAM + (
            "Parameters:\n"
            "  Py: {Type: String, Default: python3.12}\n"
            "Resources:\n"
            "  ApiFunction:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties:\n"
            "      CodeUri: ../../src/api\n"
            "      Handler: app.handler\n"
            "      Runtime: !Ref Py\n"
        ),
        "src/api/app.py": "",
    }
    handlers, unresolved, warnings = run(files)
    assert list(handlers) == ["ApiApp/ApiFunction"]
    fn = handlers["ApiApp/ApiFunction"]
    assert (fn.root, fn.source, fn.line, fn.runtime) == (
        "src/api", "stacks/api/template.yaml", 6, "python3.11")
    assert unresolved == [] and warnings == []


def test_missing_nested_template_is_a_warning():
    files = {"template.yaml": SAM + (
        "Resources:\n"
        "  App:\n"
        "    Type: AWS::Serverless::Application\n"
        "    Properties: {Location: nested/missing.yaml}\n"
    )}
    _, _, warnings = run(files)
    assert warnings == ["template.yaml:4: App: nested template nested/missing.yaml not found"]


def test_plain_cloudformation_functions_and_unresolvable_code():
    files = {
        "cfn/stack.template": (
            "AWSTemplateFormatVersion: '2010-09-09'\n"
            "Resources:\n"
            "  Local:\n"
            "    Type: AWS::Lambda::Function\n"
            "    Properties: {Code: ../lambda, Handler: index.handler, Runtime: python3.12,"
            " Layers: [!Ref Common]}\n"
            "  Common:\n"
            "    Type: AWS::Lambda::LayerVersion\n"
            "    Properties: {Content: ../layer}\n"
            "  FromS3:\n"
            "    Type: AWS::Lambda::Function\n"
            "    Properties: {Code: {S3Bucket: b, S3Key: k}, Handler: a.b, Runtime: python3.12}\n"
            "  Inline:\n"
            "    Type: AWS::Lambda::Function\n"
            "    Properties: {Code: {ZipFile: 'def h(e, c): pass'}, Handler: index.h,"
            " Runtime: python3.12}\n"
            "  Image:\n"
            "    Type: AWS::Lambda::Function\n"
            "    Properties: {PackageType: Image, Code: {ImageUri: x}}\n"
            "  Node:\n"
            "    Type: AWS::Lambda::Function\n"
            "    Properties: {Code: ../lambda, Handler: index.handler, Runtime: nodejs18.x}\n"
        ),
        "lambda/index.py": "",
        "layer/python/common.py": "",
    }
    handlers, unresolved, _ = run(files)
    assert list(handlers) == ["Local"]
    assert handlers["Local"].root == "lambda"
    assert handlers["Local"].paths == ("layer/python",)
    reasons = {u.name: (u.line, u.reason) for u in unresolved}
    assert reasons == {
        "FromS3": (9, "Code is an S3 artifact"),
        "Inline": (12, "Code.ZipFile: the code is inline in the template"),
        "Image": (15, "container image: the handler is set by the image"),
        "Node": (18, "runtime nodejs18.x is not Python"),
    }


def test_serverless_function_unresolvable_cases():
    files = {
        "template.yaml": SAM + (
            "Resources:\n"
            "  S3Code:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: s3://bucket/key.zip, Handler: a.b, Runtime: python3.12}\n"
            "  Built:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: dist/, Handler: a.b, Runtime: python3.12}\n"
            "  Computed:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: src, Handler: !Sub '${Mod}.handler', Runtime: python3.12}\n"
            "  Outside:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: ../../elsewhere, Handler: a.b, Runtime: python3.12}\n"
            "  Made:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {CodeUri: src, Handler: a.b, Runtime: python3.12}\n"
            "    Metadata: {BuildMethod: makefile}\n"
        ),
        "src/a.py": "",
    }
    handlers, unresolved, _ = run(files)
    reasons = {u.name: u.reason for u in unresolved}
    assert reasons == {
        "S3Code": "CodeUri is an S3 artifact: s3://bucket/key.zip",
        "Built": "CodeUri dist/ is not a folder of the repository",
        "Computed": "Handler is computed",
        "Outside": "CodeUri ../../elsewhere is outside the repository",
    }
    assert handlers["Made"].complete is False  # a Makefile decides what ships


def test_unknown_layer_arn_makes_the_handler_incomplete():
    files = {
        "template.yaml": SAM + (
            "Resources:\n"
            "  Fn:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties:\n"
            "      Handler: app.handler\n"
            "      Runtime: python3.12\n"
            "      Layers:\n"
            "        - !Sub arn:aws:lambda:${AWS::Region}:123:layer:shared-utils:4\n"
        ),
        "app.py": "",
        "libs/shared/utils.py": "",
    }
    handlers, _, _ = run(files)
    assert handlers["Fn"].complete is False and handlers["Fn"].paths == ()
    handlers, _, _ = run(files, {"arn:aws:lambda:*:*:layer:shared-utils:*": "libs/shared"})
    assert handlers["Fn"].complete is True and handlers["Fn"].paths == ("libs/shared",)
    handlers, _, warnings = run(files, {"arn:aws:lambda:*:*:layer:shared-utils:*": "libs/typo"})
    assert handlers["Fn"].paths == ()
    assert warnings == [".github/reviewbot.yml:0: layer arn:aws:lambda:*:*:layer:shared-utils:*: "
                        "libs/typo does not exist; nothing in it is importable"]


def test_layer_without_python_folder_warns():
    files = {
        "template.yaml": SAM + (
            "Resources:\n"
            "  Shared:\n"
            "    Type: AWS::Serverless::LayerVersion\n"
            "    Properties: {ContentUri: shared/}\n"
            "  Fn:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {Handler: app.handler, Runtime: python3.12, Layers: [!Ref Shared]}\n"
        ),
        "app.py": "",
        "shared/utils.py": "",
    }
    handlers, _, warnings = run(files)
    assert handlers["Fn"].paths == ()
    assert warnings == ["template.yaml:4: layer Shared: shared has no python/ folder; "
                        "nothing in it is importable"]


def test_json_template_gets_lines_too():
    doc = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
        "Fn": {"Type": "AWS::Lambda::Function",
               "Properties": {"Code": "src", "Handler": "a.h", "Runtime": "python3.12"}}}}
    files = {"template.json": json.dumps(doc, indent=2), "src/a.py": ""}
    handlers, _, _ = run(files)
    assert handlers["Fn"].root == "src"
    assert handlers["Fn"].line == 4


def test_broken_and_foreign_files():
    files = {
        "broken/template.yaml": SAM + "Resources:\n  Fn:\n    Type: [unclosed\n",
        "notcfn/template.yaml": "- just\n- a list\n",
        ".github/workflows/ci.yml": "on: push\njobs: {test: {runs-on: ubuntu-latest}}\n",
        ".github/reviewbot.yml": "layers: {}\n",
        "package.json": '{"name": "x", "scripts": {"deploy": "sam deploy"}}',
        "ok/template.yaml": SAM + (
            "Resources:\n"
            "  Fn:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties: {Handler: a.b, Runtime: python3.12}\n"
        ),
        "ok/a.py": "",
    }
    handlers, _, warnings = run(files)
    assert list(handlers) == ["Fn"]
    assert len(warnings) == 2
    assert warnings[0].startswith("broken/template.yaml:6: invalid YAML")
    assert warnings[1] == "notcfn/template.yaml:1: not a CloudFormation template: no Resources mapping"


def test_oversized_template_is_skipped_with_a_warning():
    big = SAM + "Resources: {}\n" + "#" * (5 * 1024 * 1024)
    _, _, warnings = run({"template.yaml": big})
    assert warnings == ["template.yaml:0: skipped: larger than 5 MB"]


def test_merge_globals_rules():
    assert sam.merge_globals({"a": [1], "b": {"x": 1, "y": 2}, "c": 1},
                             {"a": [2], "b": {"y": 3}, "c": 2}) == \
        {"a": [1, 2], "b": {"x": 1, "y": 3}, "c": 2}
    assert sam.merge_globals({"Ref": "A"}, {"k": 1}) == {"k": 1}  # intrinsics are scalars
