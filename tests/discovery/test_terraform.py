"""Terraform discovery on small repos built in memory: the handlers and why some are skipped."""

from __future__ import annotations

import pytest

from reviewbot.discovery import discover, terraform
from reviewbot.tree import Tree

HANDLERS = ("auth", "create_goal", "list_goals", "health")


def run(files, layer_map=None):
    found = terraform.discover(Tree.from_files(files), layer_map)
    return {h.name: h for h in found.handlers}, found.unresolved, found.warnings


def incident_files(main_tf: str) -> dict[str, str]:
    """The incident repo: four handlers zipped from their folders, goals_common as a layer."""
    files = {
        "backend/src/goals_common/__init__.py": "from .errors import GoalValidationError\n",
        "backend/src/goals_common/errors.py": "class GoalValidationError(Exception): ...\n",
        "backend/layer/python/goals_common/__init__.py": "from .errors import GoalValidationError\n",
        "backend/layer/python/goals_common/errors.py": "class GoalValidationError(Exception): ...\n",
        "infra/main.tf": main_tf,
    }
    for name in HANDLERS:
        files[f"backend/handlers/{name}/main.py"] = "from goals_common import errors\n"
    return files


LAYER_TF = '''
data "archive_file" "goals_common" {
  type        = "zip"
  source_dir  = "${path.module}/../backend/layer"
  output_path = "${path.module}/build/goals_common.zip"
}

resource "aws_lambda_layer_version" "goals_common" {
  layer_name          = "goals-common"
  filename            = data.archive_file.goals_common.output_path
  source_code_hash    = data.archive_file.goals_common.output_base64sha256
  compatible_runtimes = ["python3.12"]
}
'''


def test_incident_repo_one_resource_per_handler():
    blocks = [LAYER_TF]
    for name in HANDLERS:
        blocks.append(f'''
data "archive_file" "{name}" {{
  type        = "zip"
  source_dir  = "${{path.module}}/../backend/handlers/{name}"
  output_path = "${{path.module}}/build/{name}.zip"
}}

resource "aws_lambda_function" "{name}" {{
  function_name    = "goals-{name}"
  role             = aws_iam_role.lambda.arn
  handler          = "main.handler"
  runtime          = "python3.12"
  filename         = data.archive_file.{name}.output_path
  source_code_hash = data.archive_file.{name}.output_base64sha256
  layers           = [aws_lambda_layer_version.goals_common.arn]
}}
''')
    found = discover(Tree.from_files(incident_files("".join(blocks))))
    assert [h.name for h in found.handlers] == [
        "aws_lambda_function.auth", "aws_lambda_function.create_goal",
        "aws_lambda_function.health", "aws_lambda_function.list_goals"]
    for h in found.handlers:
        name = h.name.rpartition(".")[2]
        assert (h.root, h.handler, h.paths) == (
            f"backend/handlers/{name}", "main.handler", ("backend/layer/python",))
        assert (h.runtime, h.source, h.complete) == ("python3.12", "infra/main.tf", True)
    assert found.unresolved == () and found.warnings == ()
    assert found.handlers[0].line == "".join(blocks).splitlines().index(
        'resource "aws_lambda_function" "auth" {') + 1


def test_incident_repo_for_each_over_a_local_map():
    main_tf = LAYER_TF + '''
locals {
  handlers = {
    auth        = "auth"
    create_goal = "create_goal"
    list_goals  = "list_goals"
    health      = "health"
  }
}

data "archive_file" "handler" {
  for_each    = local.handlers
  type        = "zip"
  source_dir  = "${path.module}/../backend/handlers/${each.value}"
  output_path = "${path.module}/build/${each.key}.zip"
}

resource "aws_lambda_function" "handler" {
  for_each      = local.handlers
  function_name = "goals-${each.key}"
  handler       = "main.handler"
  runtime       = "python3.12"
  filename      = data.archive_file.handler[each.key].output_path
  layers        = [aws_lambda_layer_version.goals_common.arn]
}
'''
    handlers, unresolved, warnings = run(incident_files(main_tf))
    assert sorted(handlers) == sorted(f'aws_lambda_function.handler["{n}"]' for n in HANDLERS)
    for name in HANDLERS:
        h = handlers[f'aws_lambda_function.handler["{name}"]']
        assert (h.root, h.handler, h.paths) == (
            f"backend/handlers/{name}", "main.handler", ("backend/layer/python",))
    assert unresolved == [] and warnings == []


def test_archive_link_through_a_local_and_a_literal_output_path():
    files = {
        "infra/lambda.tf": '''
variable "runtime" {
  default = "python3.11"
}

locals {
  src      = "${path.module}/../src"
  auth_zip = data.archive_file.auth.output_path
}

data "archive_file" "auth" {
  type        = "zip"
  source_dir  = "${local.src}/auth"
  output_path = "build/auth.zip"
}

resource "aws_lambda_function" "auth" {
  handler  = "app.handler"
  runtime  = var.runtime
  filename = local.auth_zip
  environment {
    variables = {
      STAGE = "prod"
      TABLE = aws_dynamodb_table.goals.name
    }
  }
}

resource "aws_lambda_function" "by_path" {
  handler  = "app.handler"
  runtime  = "python3.12"
  filename = "build/auth.zip"
}
''',
        "src/auth/app.py": "",
    }
    handlers, unresolved, _ = run(files)
    auth = handlers["aws_lambda_function.auth"]
    assert (auth.root, auth.runtime, auth.line) == ("src/auth", "python3.11", 17)
    assert auth.environment == (("STAGE", "prod"),)
    assert handlers["aws_lambda_function.by_path"].root == "src/auth"
    assert unresolved == []


def test_tf_lambda_module_with_a_prefix_in_zip_python_layer():
    files = {
        "deploy/main.tf": '''
module "shared_layer" {
  source       = "terraform-aws-modules/lambda/aws"
  version      = "~> 7.0"
  create_layer = true
  layer_name   = "shared"
  source_path = [
    {
      path          = "${path.module}/../libs/shared"
      prefix_in_zip = "python"
    }
  ]
}

module "auth" {
  source        = "terraform-aws-modules/lambda/aws"
  function_name = "auth"
  handler       = "handlers/auth.handler"
  runtime       = "python3.12"
  source_path   = "${path.module}/../services/auth"
  layers        = [module.shared_layer.lambda_layer_arn]
  environment_variables = {
    LOG_LEVEL = "INFO"
  }
}

module "prebuilt" {
  source                 = "terraform-aws-modules/lambda/aws"
  handler                = "a.b"
  runtime                = "python3.12"
  create_package         = false
  local_existing_package = "dist/x.zip"
}
''',
        "libs/shared/shared_utils/__init__.py": "",
        "services/auth/handlers/auth.py": "",
    }
    handlers, unresolved, _ = run(files)
    assert list(handlers) == ["module.auth"]
    auth = handlers["module.auth"]
    assert (auth.root, auth.handler, auth.paths) == (
        "services/auth", "handlers/auth.handler", ("libs/shared",))
    assert auth.environment == (("LOG_LEVEL", "INFO"),)
    assert auth.complete is True
    assert [(u.name, u.reason) for u in unresolved] == [
        ("module.prebuilt", "create_package = false: the package is built elsewhere")]


def test_local_child_module_gets_its_inputs_and_for_each_keys():
    files = {
        "infra/main.tf": '''
module "fn" {
  source   = "./modules/fn"
  for_each = { auth = "python3.12", report = "python3.11" }
  name     = each.key
  runtime  = each.value
  code_dir = "${path.module}/../src/${each.key}"
}
''',
        "infra/modules/fn/main.tf": '''
variable "name" {}
variable "runtime" {}
variable "code_dir" {}

data "archive_file" "this" {
  type        = "zip"
  source_dir  = var.code_dir
  output_path = "${path.module}/${var.name}.zip"
}

resource "aws_lambda_function" "this" {
  function_name = var.name
  handler       = "main.handler"
  runtime       = var.runtime
  filename      = data.archive_file.this.output_path
}
''',
        "src/auth/main.py": "",
        "src/report/main.py": "",
    }
    handlers, unresolved, _ = run(files)
    assert sorted(handlers) == ['module.fn["auth"].aws_lambda_function.this',
                                'module.fn["report"].aws_lambda_function.this']
    report = handlers['module.fn["report"].aws_lambda_function.this']
    assert (report.root, report.runtime, report.source) == (
        "src/report", "python3.11", "infra/modules/fn/main.tf")
    assert unresolved == []
    # One call whose function cannot be read: the entry says which call it comes from.
    files["infra/main.tf"] += ('module "other" {\n  source   = "./modules/fn"\n'
                               '  name     = "other"\n  runtime  = var.runtime\n'
                               '  code_dir = "x"\n}\nvariable "runtime" {}\n')
    _, unresolved, _ = run(files)
    assert [(u.name, u.source, u.line, u.reason) for u in unresolved] == [
        ("module.other.aws_lambda_function.this", "infra/modules/fn/main.tf", 12,
         "runtime is computed (in module infra/modules/fn called at infra/main.tf:9)")]


def test_unresolvable_functions_are_listed_with_reasons():
    files = {
        "main.tf": '''
variable "handler" {}

resource "aws_lambda_function" "s3" {
  handler   = "a.b"
  runtime   = "python3.12"
  s3_bucket = "artifacts"
  s3_key    = "a.zip"
}

resource "aws_lambda_function" "image" {
  package_type = "Image"
  image_uri    = "123.dkr.ecr.eu-west-1.amazonaws.com/x:1"
}

resource "aws_lambda_function" "computed" {
  handler  = var.handler
  runtime  = "python3.12"
  filename = "x.zip"
}

resource "aws_lambda_function" "ci_zip" {
  handler  = "a.b"
  runtime  = "python3.12"
  filename = "${path.module}/dist/a.zip"
}

resource "aws_lambda_function" "node" {
  handler  = "index.handler"
  runtime  = "nodejs20.x"
  filename = "x.zip"
}

resource "aws_lambda_function" "dyn" {
  for_each = toset(var.names)
  handler  = "a.b"
}
''',
    }
    _, unresolved, _ = run(files)
    assert {(u.name, u.line, u.reason) for u in unresolved} == {
        ("aws_lambda_function.s3", 4, "code is an S3 artifact"),
        ("aws_lambda_function.image", 11, "container image: the handler is set by the image"),
        ("aws_lambda_function.computed", 16, "handler is computed: ${var.handler}"),
        ("aws_lambda_function.ci_zip", 22,
         "filename dist/a.zip is not built by an archive_file of this module"),
        ("aws_lambda_function.node", 28, "runtime nodejs20.x is not Python"),
        ("aws_lambda_function.dyn", 34, "for_each is computed"),
    }


def test_external_layer_arn_and_layer_map():
    main_tf = '''
variable "insights_arn" {
  default = "arn:aws:lambda:eu-west-1:580247275435:layer:LambdaInsightsExtension:38"
}

data "archive_file" "fn" {
  type        = "zip"
  source_file = "${path.module}/src/app.py"
  output_path = "fn.zip"
}

resource "aws_lambda_function" "fn" {
  handler  = "app.handler"
  runtime  = "python3.12"
  filename = data.archive_file.fn.output_path
  layers   = [var.insights_arn, data.aws_lambda_layer_version.shared.arn]
}
'''
    files = {"main.tf": main_tf, "src/app.py": "", "libs/shared/s.py": "", "libs/ins/i.py": ""}
    handlers, _, _ = run(files)
    fn = handlers["aws_lambda_function.fn"]
    assert (fn.root, fn.paths, fn.complete) == ("src", (), False)
    layer_map = {"arn:aws:lambda:*:*:layer:LambdaInsightsExtension:*": "libs/ins",
                 "data.aws_lambda_layer_version.shared.arn": "libs/shared"}
    handlers, _, _ = run(files, layer_map)
    fn = handlers["aws_lambda_function.fn"]
    assert (fn.paths, fn.complete) == (("libs/ins", "libs/shared"), True)


def test_count_and_tfvars_in_the_root_module():
    files = {
        "env/prod/main.tf": '''
variable "runtime" {
  default = "python3.10"
}
variable "enabled" {
  default = true
}

data "archive_file" "a" {
  type        = "zip"
  source_dir  = "../../src"
  output_path = "a.zip"
}

resource "aws_lambda_function" "a" {
  count    = var.enabled ? 1 : 0
  handler  = "a.h"
  runtime  = var.runtime
  filename = data.archive_file.a.output_path
}

resource "aws_lambda_function" "b" {
  count    = 2
  handler  = "a.h"
  runtime  = var.runtime
  filename = data.archive_file.a.output_path
}
''',
        "env/prod/terraform.tfvars": 'runtime = "python3.13"\n',
        "src/a.py": "",
    }
    handlers, unresolved, _ = run(files)
    assert sorted(handlers) == ["aws_lambda_function.b[0]", "aws_lambda_function.b[1]"]
    assert handlers["aws_lambda_function.b[0]"].runtime == "python3.13"
    assert handlers["aws_lambda_function.b[0]"].root == "src"  # relative to the root module
    assert [(u.name, u.reason) for u in unresolved] == [("aws_lambda_function.a", "count is computed")]


def test_hcl_error_is_a_warning_and_the_rest_goes_on():
    files = {
        "broken/main.tf": 'resource "aws_lambda_function" "x" {\n  handler = \n}\n',
        "ok/main.tf": '''
data "archive_file" "x" {
  type        = "zip"
  source_dir  = "${path.module}/src"
  output_path = "x.zip"
}
resource "aws_lambda_function" "x" {
  handler  = "a.h"
  runtime  = "python3.12"
  filename = data.archive_file.x.output_path
}
''',
        "ok/src/a.py": "",
    }
    handlers, _, warnings = run(files)
    assert handlers["aws_lambda_function.x"].root == "ok/src"
    assert warnings == ["broken/main.tf:2: invalid HCL: unexpected '}' at column 13"]


def test_layer_archive_without_python_folder_warns():
    files = {
        "main.tf": '''
data "archive_file" "layer" {
  type        = "zip"
  source_dir  = "${path.module}/shared"
  output_path = "layer.zip"
}
resource "aws_lambda_layer_version" "shared" {
  layer_name = "shared"
  filename   = data.archive_file.layer.output_path
}
data "archive_file" "fn" {
  type        = "zip"
  source_dir  = "${path.module}/fn"
  output_path = "fn.zip"
}
resource "aws_lambda_function" "fn" {
  handler  = "a.h"
  runtime  = "python3.12"
  filename = data.archive_file.fn.output_path
  layers   = [aws_lambda_layer_version.shared.arn]
}
''',
        "shared/utils.py": "",
        "fn/a.py": "",
    }
    handlers, _, warnings = run(files)
    assert handlers["aws_lambda_function.fn"].paths == ()
    assert warnings == ["main.tf:7: layer aws_lambda_layer_version.shared: shared has no "
                        "python/ folder; nothing in it is importable"]


def test_for_each_over_toset_of_literals():
    files = {
        "main.tf": '''
resource "aws_lambda_function" "fn" {
  for_each = toset(["auth", "list-goals"])
  handler  = "${each.key}.handler"
  runtime  = "python3.12"
  filename = data.archive_file.src.output_path
}
data "archive_file" "src" {
  type        = "zip"
  source_dir  = "${path.module}/src"
  output_path = "src.zip"
}
''',
        "src/auth.py": "",
        "src/list-goals.py": "",
    }
    handlers, unresolved, _ = run(files)
    assert sorted((n, h.handler, h.line) for n, h in handlers.items()) == [
        ('aws_lambda_function.fn["auth"]', "auth.handler", 2),
        ('aws_lambda_function.fn["list-goals"]', "list-goals.handler", 2),
    ]
    assert unresolved == []


TF_LAMBDA_COPY = {
    "variables.tf": (
        'variable "create" {\n  default = true\n}\n'
        'variable "create_function" {\n  default = true\n}\n'
        'variable "create_layer" {\n  default = false\n}\n'
        'variable "create_package" {\n  default = true\n}\n'
        'variable "source_path" {\n  default = null\n}\n'
        'variable "handler" {\n  default = ""\n}\n'
        'variable "runtime" {\n  default = ""\n}\n'),
    "main.tf": (
        'data "external" "archive_prepare" {\n  program = ["python3", "package.py"]\n}\n'
        'resource "aws_lambda_function" "this" {\n'
        '  count    = var.create && var.create_function && !var.create_layer ? 1 : 0\n'
        '  handler  = var.handler\n  runtime  = var.runtime\n'
        '  filename = data.external.archive_prepare.result.filename\n}\n'),
    "package.py": "",
}


@pytest.mark.parametrize("copy, caller", [
    ("modules/lambda", "./modules/lambda"),  # vendored beside the root module
    (".", "../../"),  # the module's own repository: examples/<x> use it by path
])
def test_a_copy_of_the_tf_lambda_module_used_by_path_is_read_like_the_registry_source(
        copy, caller):
    folder = "stacks/api" if copy != "." else "examples/api"
    main = f'''
module "shared_layer" {{
  source       = "{caller}"
  create_layer = true
  source_path  = [{{ path = "${{path.module}}/../../libs/shared", prefix_in_zip = "python" }}]
}}

module "auth" {{
  source      = "{caller}"
  handler     = "auth.handler"
  runtime     = "python3.12"
  source_path = "${{path.module}}/../../services/auth"
  layers      = [module.shared_layer.lambda_layer_arn]
}}
'''
    files = {f"{folder}/main.tf": main,
             "libs/shared/shared_utils/__init__.py": "",
             "services/auth/auth.py": ""}
    if copy == "modules/lambda":
        files = {f"{folder}/main.tf": main.replace("./modules/lambda", "../../modules/lambda"),
                 **{k: v for k, v in files.items() if k != f"{folder}/main.tf"}}
    files.update({f"{copy}/{name}".removeprefix("./"): text
                  for name, text in TF_LAMBDA_COPY.items()})
    handlers, unresolved, _ = run(files)
    assert list(handlers) == ["module.auth"]
    auth = handlers["module.auth"]
    assert (auth.root, auth.handler, auth.paths, auth.runtime) == (
        "services/auth", "auth.handler", ("libs/shared",), "python3.12")
    assert unresolved == []  # the copy's own `aws_lambda_function.this` is no function
