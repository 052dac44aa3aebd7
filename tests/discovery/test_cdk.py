"""CDK apps read statically: constructs, path forms and what cannot be read; judged by
CPython importing each handler from the folders the CDK would package (no `cdk synth`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.config import load_config
from reviewbot.discovery import discover
from reviewbot.review import find_handlers
from reviewbot.tree import Tree
from tests.runtimes import require

H = "def handler(event, context):\n    return 1\n"
HEAD = ("import os\nfrom pathlib import Path\nimport aws_cdk as cdk\n"
        "from aws_cdk import Stack, aws_lambda as _lambda\n"
        "from aws_cdk.aws_lambda_python_alpha import PythonFunction, PythonLayerVersion\n"
        "from constructs import Construct\n")


def app(body: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A Python CDK app in infra/ whose stack `Svc` runs `body` in its __init__."""
    stack = HEAD + ("class Svc(Stack):\n    def __init__(self, scope, construct_id, **kw):\n"
                    "        super().__init__(scope, construct_id, **kw)\n")
    stack += "".join(f"        {line}\n" for line in body.strip("\n").splitlines())
    return {"infra/cdk.json": '{"app": "python3 app.py", "context": {}}',
            "infra/app.py": "import aws_cdk as cdk\nfrom stacks.svc import Svc\n"
                            "app = cdk.App()\nSvc(app, 'Svc')\napp.synth()\n",
            "infra/stacks/__init__.py": "", "infra/stacks/svc.py": stack,
            "infra/lambda/app.py": H, **(extra or {})}


def handlers(files: dict[str, str]):
    found = discover(Tree.from_files(files))
    return {h.name: h for h in found.handlers}, found


FN = ("_lambda.Function(self, 'Fn', runtime=_lambda.Runtime.PYTHON_3_12, "
      "handler='app.handler', code=_lambda.Code.from_asset({}))")


@pytest.mark.parametrize("expr, prelude", [
    ("'lambda'", ""),  # relative to the cdk.json folder, where cdk runs
    ("os.path.join(os.path.dirname(__file__), '..', 'lambda')", ""),
    ("os.path.join(os.getcwd(), 'lambda')", ""),
    ("str(Path(__file__).parent.parent / 'lambda')", ""),
    ("str(Path(__file__).resolve().parent.joinpath('..', 'lambda'))", ""),
    ("CODE", "CODE = 'lambda'"),
    ("f'{BASE}/lambda'", "BASE = os.getcwd()"),
    ("os.path.abspath('lambda')", ""),
])
def test_path_forms_people_write(expr, prelude):
    files = app(prelude + "\n" + FN.format(expr))
    found, _ = handlers(files)
    assert found["Svc/Fn"].root == "infra/lambda"
    assert found["Svc/Fn"].runtime == "python3.12"


WORKERS = HEAD + """
SRC = os.path.join(os.path.dirname(__file__), '..', 'workers')

def make(scope, name):
    return _lambda.Function(scope, f'{name.upper()}Fn', runtime=_lambda.Runtime.PYTHON_3_13,
                            handler=f'{name}.handler', code=_lambda.Code.from_asset(SRC))

class Worker(Construct):
    def __init__(self, scope, cid, *, folder):
        super().__init__(scope, cid)
        self.fn = _lambda.SingletonFunction(self, 'Fn', uuid='u', handler='w.handler',
                                            runtime=_lambda.Runtime.PYTHON_3_12,
                                            code=_lambda.Code.from_asset(folder))

class Svc(Stack):
    def __init__(self, scope, construct_id, **kw):
        super().__init__(scope, construct_id, **kw)
        props = dict(runtime=_lambda.Runtime.PYTHON_3_11, handler='app.handler')
        _lambda.Function(self, 'Kw', code=_lambda.Code.from_asset('lambda'), **props)
        for name in ['a', 'b']:
            make(self, name)
        Worker(self, 'W', folder=SRC)
"""


def test_props_objects_helpers_loops_and_custom_constructs():
    files = app("", {"infra/stacks/svc.py": WORKERS, "infra/workers/a.py": H,
                     "infra/workers/b.py": H, "infra/workers/w.py": H})
    found, _ = handlers(files)
    assert {n: (h.handler, h.root, h.runtime) for n, h in found.items()} == {
        "Svc/Kw": ("app.handler", "infra/lambda", "python3.11"),
        "Svc/AFn": ("a.handler", "infra/workers", "python3.13"),
        "Svc/BFn": ("b.handler", "infra/workers", "python3.13"),
        "Svc/W/Fn": ("w.handler", "infra/workers", "python3.12"),
    }
    line = WORKERS.splitlines().index("    return _lambda.Function(scope, f'{name.upper()}Fn', "
                                      "runtime=_lambda.Runtime.PYTHON_3_13,") + 1
    assert (found["Svc/AFn"].source, found["Svc/AFn"].line) == ("infra/stacks/svc.py", line)


def test_constructs_and_their_packages():
    files = app("""
shared = _lambda.LayerVersion(self, 'Shared', code=_lambda.Code.from_asset('layers/shared'))
pylayer = PythonLayerVersion(self, 'PyLayer', entry='layers/py')
published = _lambda.LayerVersion.from_layer_version_arn(
    self, 'Ext', 'arn:aws:lambda:us-east-1:123456789012:layer:team-utils:4')
_lambda.Function(self, 'Fn', runtime=_lambda.Runtime.PYTHON_3_12, handler='app.handler',
                 code=_lambda.Code.from_asset('lambda'), layers=[shared, pylayer],
                 architecture=_lambda.Architecture.ARM_64)
PythonFunction(self, 'Py', entry='svc', index='handlers/main.py', handler='run',
               runtime=_lambda.Runtime.PYTHON_3_13, layers=[published])
_lambda.DockerImageFunction(self, 'Img', code=_lambda.DockerImageCode.from_image_asset('img'))
_lambda.CfnFunction(self, 'Cfn', runtime='python3.12', handler='x.h',
                    code=_lambda.CfnFunction.CodeProperty(zip_file='x'), role='r')
_lambda.Function(self, 'Node', runtime=_lambda.Runtime.NODEJS_20_X, handler='i.h',
                 code=_lambda.Code.from_asset('lambda'))
""", {"infra/layers/shared/python/shared.py": "", "infra/layers/py/pyl.py": "",
      "infra/svc/handlers/main.py": "def run(e, c):\n    pass\n",
      "infra/img/Dockerfile": "FROM public.ecr.aws/lambda/python:3.11\n"
                              "COPY src/ ${LAMBDA_TASK_ROOT}\nCMD [\"img.handler\"]\n",
      "infra/img/src/img.py": H})
    found, result = handlers(files)
    fn, py, img = found["Svc/Fn"], found["Svc/Py"], found["Svc/Img"]
    # LayerVersion's asset lands in /opt (python/ inside it), PythonLayerVersion's in /opt/python
    assert fn.paths == ("infra/layers/shared/python", "infra/layers/py") and fn.arch == "arm64"
    assert not fn.installs  # Function zips its folder as it is: no requirements installed
    assert (py.handler, py.root, py.runtime, py.installs) == (
        "handlers.main.run", "infra/svc", "python3.13", True)
    assert not py.complete and py.unknown_layers  # a layer known only by its ARN
    assert (img.handler, img.root, img.runtime) == ("img.handler", "infra/img/src", "python3.11")
    reasons = {u.name: u.reason for u in result.unresolved}
    assert reasons["Svc/Node"] == "runtime nodejs20.x is not Python"
    assert "inline or an S3 artifact" in reasons["Svc/Cfn"]


def test_what_only_a_run_knows_is_unresolved_with_file_line_reason_and_settled_by_config():
    files = app("""
folder = self.node.try_get_context('code_dir')
_lambda.Function(self, 'Ctx', runtime=_lambda.Runtime.PYTHON_3_12, handler='app.handler',
                 code=_lambda.Code.from_asset(folder))
_lambda.Function(self, 'Env', runtime=_lambda.Runtime.PYTHON_3_12,
                 handler=os.environ.get('HANDLER'), code=_lambda.Code.from_asset('lambda'))
""")
    found, result = handlers(files)
    assert found == {}
    [ctx, env] = sorted(result.unresolved, key=lambda u: u.line)
    assert (ctx.name, ctx.source, ctx.line) == ("Svc/Ctx", "infra/stacks/svc.py", 11)
    assert ctx.reason == ("the code folder cannot be read statically: a value from the CDK "
                          "context (try_get_context)")
    assert env.reason == "handler cannot be read statically: a value from the environment"
    config = load_config("handlers:\n  - {name: Svc/Ctx, handler: app.handler, "
                         "root: infra/lambda, runtime: python3.12}\n")
    settled = find_handlers(Tree.from_files(files), config)
    assert [h.name for h in settled.handlers] == ["Svc/Ctx"]
    assert [u.name for u in settled.unresolved] == ["Svc/Env"]


def test_an_app_command_that_cannot_be_read_is_unresolved_not_silent():
    files = {"odd/cdk.json": '{"app": "make synth"}',
             "gone/cdk.json": '{"app": "python3 missing.py"}',
             "js/cdk.json": '{"app": "node bin/web.js"}',  # compiled from bin/web.ts
             "js/bin/web.ts": "import * as cdk from 'aws-cdk-lib';\n"
                              "import * as lambda from 'aws-cdk-lib/aws-lambda';\n"
                              "const app = new cdk.App();\nconst s = new cdk.Stack(app, 'S');\n"
                              "new lambda.Function(s, 'F', { runtime: lambda.Runtime.PYTHON_3_12,"
                              " handler: 'a.h', code: lambda.Code.fromAsset('fn') });\n",
             "js/fn/a.py": H}
    found, result = handlers(files)
    assert list(found) == ["S/F"] and found["S/F"].root == "js/fn"
    assert {u.source: u.reason for u in result.unresolved} == {
        "odd/cdk.json": "app command 'make synth' names no Python or TypeScript file",
        "gone/cdk.json": "app file missing.py is not in the repository"}


def test_a_runaway_app_stops_with_a_warning():
    files = app("", {"infra/stacks/svc.py": HEAD + (
        "def spin(x):\n    return x\n"
        "class Svc(Stack):\n    def __init__(self, scope, cid):\n"
        "        for x in range(10000):\n            for y in range(1000):\n"
        "                spin(x)\n")})
    _, result = handlers(files)
    assert any("not read to the end" in w for w in result.warnings)


# -- judged by CPython: the folders the CDK would package, imported for real --------------

JUDGE = r"""
import importlib, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
try:
    module = importlib.import_module(sys.argv[3])
    getattr(module, sys.argv[4])
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
else:
    print("ok")
"""

LAYERED = """
layer = {layer}
_lambda.Function(self, 'Fn', runtime=_lambda.Runtime.PYTHON_3_12, handler='app.handler',
                 code=_lambda.Code.from_asset('lambda'), layers=[layer])
"""
CASES = {
    # the shared module under the layer's python/ folder: /opt/python/shared.py
    "layer-python-folder": (
        "_lambda.LayerVersion(self, 'L', code=_lambda.Code.from_asset('layers/shared'))",
        {"infra/layers/shared/python/shared.py": "X = 1\n"}, ("layers/shared", "opt")),
    # at the layer's top: /opt/shared.py, not importable (the common mistake)
    "layer-flat": (
        "_lambda.LayerVersion(self, 'L', code=_lambda.Code.from_asset('layers/flat'))",
        {"infra/layers/flat/shared.py": "X = 1\n"}, ("layers/flat", "opt")),
    # PythonLayerVersion puts its entry in /opt/python itself
    "python-layer": (
        "PythonLayerVersion(self, 'L', entry='layers/flat')",
        {"infra/layers/flat/shared.py": "X = 1\n"}, ("layers/flat", "opt/python")),
}


def _cpython(tmp: Path, files: dict[str, str], layer: tuple[str, str], module: str) -> str:
    for rel, text in files.items():
        (tmp / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "repo" / rel).write_text(text)
    task, opt = tmp / "var/task", tmp / "opt"
    shutil.copytree(tmp / "repo/infra/lambda", task)  # Code.from_asset('lambda'), as it is
    shutil.copytree(tmp / "repo/infra" / layer[0], tmp / layer[1], dirs_exist_ok=True)
    out = subprocess.run([require("3.12"), "-I", "-S", "-c", JUDGE, str(task),
                          str(opt / "python"), module, "handler"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def _agree(tmp: Path, files: dict[str, str], packaged: dict[str, str],
           layout: tuple[str, str]) -> None:
    """The check of Svc/Fn says what CPython says importing it from the packaged folders
    (`packaged`: the same app's files with the function's code under infra/)."""
    truth = _cpython(tmp, packaged, layout, "app")
    found, _ = handlers(files)
    result = Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(found["Svc/Fn"])
    ours = result.errors[0].message.removeprefix("Unable to import module 'app': ") \
        if result.errors else "ok"
    assert ours == truth.removeprefix("ModuleNotFoundError: ")


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_handler_imports_as_cpython_imports_it_from_the_packaged_folders(tmp_path, case):
    layer, extra, layout = CASES[case]
    files = app(LAYERED.format(layer=layer),
                {"infra/lambda/app.py": "from shared import X\n" + H, **extra})
    _agree(tmp_path, files, files, layout)


def test_a_plain_function_installs_nothing_so_its_requirements_are_missing(tmp_path):
    files = app(FN.format("'lambda'"), {"infra/lambda/app.py": "import requests\n" + H,
                                        "infra/lambda/requirements.txt": "requests\n"})
    truth = _cpython(tmp_path, files, ("lambda", "opt/python"), "app")
    assert truth == "ModuleNotFoundError: No module named 'requests'"
    found, _ = handlers(files)
    result = Analysis(Tree.from_files(files), SummaryCache(disk=False)).check(found["Svc/Fn"])
    assert [e.message for e in result.errors] == [
        "Unable to import module 'app': No module named 'requests'"]


def test_keyword_ids_container_images_and_code_built_elsewhere():
    files = app("""
_lambda.Function(self, id='kw', runtime=_lambda.Runtime.PYTHON_3_9, handler='app.handler',
                 code=_lambda.Code.from_asset(path='lambda'))
_lambda.Function(self, 'FromImage', handler=_lambda.Handler.FROM_IMAGE,
                 runtime=_lambda.Runtime.FROM_IMAGE,
                 code=_lambda.EcrImageCode.from_asset_image(directory='img'))
_lambda.Function(self, 'Inline', runtime=_lambda.Runtime.PYTHON_3_12, handler='index.h',
                 code=_lambda.InlineCode('def h(e, c): pass'))
_lambda.Function(self, 'S3', runtime=_lambda.Runtime.PYTHON_3_12, handler='index.h',
                 code=_lambda.S3Code(bucket, 'key.zip'))
""", {"infra/img/Dockerfile": "FROM public.ecr.aws/lambda/python:3.12\n"
                              "COPY app.py ${LAMBDA_TASK_ROOT}\nCMD [\"app.handler\"]\n",
      "infra/img/app.py": H})
    found, result = handlers(files)
    assert (found["Svc/kw"].root, found["Svc/kw"].runtime) == ("infra/lambda", "python3.9")
    assert (found["Svc/FromImage"].handler, found["Svc/FromImage"].runtime) == (
        "app.handler", "python3.12")
    reasons = {u.name: u.reason for u in result.unresolved}
    assert reasons == {"Svc/Inline": "the code is inline code (InlineCode)",
                       "Svc/S3": "the code is code built elsewhere (S3Code)"}


# -- TypeScript apps (tree-sitter), the same rules -----------------------------------------

TS_HEAD = ("import * as cdk from 'aws-cdk-lib';\nimport { Construct } from 'constructs';\n"
           "import * as lambda from 'aws-cdk-lib/aws-lambda';\nimport * as path from 'path';\n"
           "import { join } from 'path';\n"
           "import { PythonFunction, PythonLayerVersion } from "
           "'@aws-cdk/aws-lambda-python-alpha';\n")


def ts_app(body: str, extra: dict[str, str] | None = None, prelude: str = "") -> dict[str, str]:
    """A TypeScript CDK app in web/ whose stack `Svc` runs `body` in its constructor."""
    stack = TS_HEAD + prelude + (
        "\nexport class Svc extends cdk.Stack {\n"
        "  constructor(scope: Construct, id: string, props?: cdk.StackProps) {\n"
        "    super(scope, id, props);\n")
    stack += "".join(f"    {line}\n" for line in body.strip("\n").splitlines()) + "  }\n}\n"
    return {"web/cdk.json": '{"app": "npx ts-node --prefer-ts-exts bin/web.ts"}',
            "web/bin/web.ts": "#!/usr/bin/env node\nimport 'source-map-support/register';\n"
                              "import * as cdk from 'aws-cdk-lib';\n"
                              "import { Svc } from '../lib/svc';\n"
                              "const app = new cdk.App();\nnew Svc(app, 'Svc', {});\n",
            "web/lib/svc.ts": stack, "web/lambda/app.py": H, **(extra or {})}


TS_FN = ("new lambda.Function(this, 'Fn', {{ runtime: lambda.Runtime.PYTHON_3_12, "
         "handler: 'app.handler', code: lambda.Code.fromAsset({}) }});")


@pytest.mark.parametrize("expr, prelude", [
    ("'lambda'", ""),
    ("path.join(__dirname, '..', 'lambda')", ""),
    ("join(__dirname, '../lambda')", ""),
    ("path.resolve(__dirname, '..', 'lambda')", ""),
    ("process.cwd() + '/lambda'", ""),
    ("CODE", "const CODE = 'lambda';\n"),
    ("`${BASE}/lambda`", "const BASE = path.join(__dirname, '..');\n"),
])
def test_typescript_path_forms(expr, prelude):
    found, _ = handlers(ts_app(TS_FN.format(expr), prelude=prelude))
    assert (found["Svc/Fn"].root, found["Svc/Fn"].runtime) == ("web/lambda", "python3.12")


def test_typescript_props_helpers_loops_classes_and_fields():
    prelude = """
interface WorkerProps { name: string; layer: lambda.ILayerVersion }
function make(scope: Construct, name: string) {
  return new lambda.Function(scope, `${name}Fn`, { ...common, handler: `${name}.handler` });
}
const common = { runtime: lambda.Runtime.PYTHON_3_13, code: lambda.Code.fromAsset('workers') };
class Worker extends Construct {
  readonly prefix = 'W';
  constructor(scope: Construct, id: string, props: WorkerProps) {
    super(scope, id);
    new lambda.Function(this, `${this.prefix}Fn`, { ...common, handler: `${props.name}.handler`,
                                                    layers: [props.layer] });
  }
}
"""
    body = """
const layer = new lambda.LayerVersion(this, 'L', { code: lambda.Code.fromAsset('layers/l') });
for (const name of ['a', 'b']) {
  make(this, name);
}
new Worker(this, 'Work', { name: 'w', layer });
"""
    files = ts_app(body, {"web/workers/a.py": H, "web/workers/b.py": H, "web/workers/w.py": H,
                          "web/layers/l/python/x.py": ""}, prelude)
    found, _ = handlers(files)
    assert {n: (h.handler, h.root, h.runtime, h.paths) for n, h in found.items()} == {
        "Svc/aFn": ("a.handler", "web/workers", "python3.13", ()),
        "Svc/bFn": ("b.handler", "web/workers", "python3.13", ()),
        "Svc/Work/WFn": ("w.handler", "web/workers", "python3.13", ("web/layers/l/python",)),
    }


def test_typescript_constructs_and_unresolved_values():
    body = """
const py = new PythonLayerVersion(this, 'Py', { entry: path.join(__dirname, '../layers/py') });
new PythonFunction(this, 'PyFn', { entry: 'svc', index: 'handlers/main.py', handler: 'run',
                                   runtime: lambda.Runtime.PYTHON_3_11, layers: [py],
                                   architecture: lambda.Architecture.ARM_64 });
new lambda.DockerImageFunction(this, 'Img', {
  code: lambda.DockerImageCode.fromImageAsset('img', { cmd: ['img.handler'] }) });
new lambda.Function(this, 'Ctx', { runtime: lambda.Runtime.PYTHON_3_12, handler: 'app.handler',
                                   code: lambda.Code.fromAsset(this.node.tryGetContext('dir')) });
new lambda.Function(this, 'Inline', { runtime: lambda.Runtime.PYTHON_3_12, handler: 'i.h',
                                      code: lambda.Code.fromInline('x') });
new lambda.Function(this, 'Node', { runtime: lambda.Runtime.NODEJS_20_X, handler: 'i.h',
                                    code: lambda.Code.fromAsset('lambda') });
"""
    files = ts_app(body, {"web/layers/py/pyl.py": "", "web/svc/handlers/main.py": H,
                          "web/img/Dockerfile": "FROM public.ecr.aws/lambda/python:3.12\n"
                                                "COPY . ${LAMBDA_TASK_ROOT}\n",
                          "web/img/img.py": H})
    found, result = handlers(files)
    py = found["Svc/PyFn"]
    assert (py.handler, py.root, py.paths, py.runtime, py.arch, py.installs) == (
        "handlers.main.run", "web/svc", ("web/layers/py",), "python3.11", "arm64", True)
    assert (found["Svc/Img"].handler, found["Svc/Img"].root) == ("img.handler", "web/img")
    reasons = {u.name: (u.source, u.reason) for u in result.unresolved}
    assert reasons == {
        "Svc/Ctx": ("web/lib/svc.ts", "the code folder cannot be read statically: a value "
                                      "from the CDK context (try_get_context)"),
        "Svc/Inline": ("web/lib/svc.ts", "the code is inline code (fromInline)"),
        "Svc/Node": ("web/lib/svc.ts", "runtime nodejs20.x is not Python")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_typescript_handler_imports_as_cpython_imports_it(tmp_path, case):
    layer, extra, layout = CASES[case]
    ts_layer = layer.replace("_lambda.", "lambda.").replace("from_asset", "fromAsset") \
        .replace("(self, 'L', code=", "(this, 'L', { code: ").replace("(self, 'L', entry=",
                                                                       "(this, 'L', { entry: ")
    ts_layer = ts_layer[:-1] + " })"
    body = (f"const layer = new {ts_layer};\n"
            "new lambda.Function(this, 'Fn', { runtime: lambda.Runtime.PYTHON_3_12, handler: "
            "'app.handler', code: lambda.Code.fromAsset('lambda'), layers: [layer] });")
    files = ts_app(body, {"web/lambda/app.py": "from shared import X\n" + H,
                          **{k.replace("infra/", "web/"): v for k, v in extra.items()}})
    _agree(tmp_path, files, {k.replace("web/", "infra/"): v for k, v in files.items()}, layout)


def test_subclasses_of_lambda_constructs_and_bundled_assets():
    prelude = """
class SharedLayer extends lambda.LayerVersion {
  constructor(scope: Construct, id: string) {
    super(scope, id, { code: lambda.Code.fromAsset(path.join(__dirname, '../layers/l')) });
  }
}
class Built extends lambda.LayerVersion {
  constructor(scope: Construct, id: string) {
    super(scope, id, { code: lambda.Code.fromAsset('layers/b', { bundling: { command: [] } }) });
  }
}
class PyLambda extends lambda.Function {
  constructor(scope: Construct, id: string, props: { handler: string, layers: any[] }) {
    super(scope, id, { ...props, runtime: lambda.Runtime.PYTHON_3_12,
                       code: lambda.Code.fromAsset('lambda') });
  }
}
"""
    body = """
const shared = new SharedLayer(this, 'Shared');
new PyLambda(this, 'Fn', { handler: 'app.handler', layers: [shared] });
new PyLambda(this, 'Built', { handler: 'app.handler', layers: [new Built(this, 'B')] });
"""
    files = ts_app(body, {"web/layers/l/python/shared.py": ""}, prelude)
    found, result = handlers(files)
    assert (found["Svc/Fn"].root, found["Svc/Fn"].paths, found["Svc/Fn"].complete) == (
        "web/lambda", ("web/layers/l/python",), True)
    # a bundling command writes that layer: its content is unknown, so the check is lenient
    assert found["Svc/Built"].complete is False
    assert any("code built by a bundling command" in w for w in result.warnings)


def test_a_pull_request_that_edits_the_cdk_app_rereads_its_functions(make_repo):
    from reviewbot.localrun import check_repo

    repo = make_repo()
    repo.commit(app(FN.format("'lambda'")))
    repo.branch("pr")
    stack = repo.path / "infra/stacks/svc.py"
    stack.write_text(stack.read_text().replace("handler='app.handler'", "handler='app.main'"))
    repo.commit()
    report = check_repo(str(repo.path), "main", "pr")
    assert [(e.handler, e.kind, e.message) for e in report.errors] == [
        ("Svc/Fn", "missing-handler", "Handler 'main' missing on module 'app'")]


def test_an_asset_that_excludes_files_says_the_whole_folder_is_checked():
    files = app("_lambda.Function(self, 'Fn', runtime=_lambda.Runtime.PYTHON_3_12, "
                "handler='app.handler', code=_lambda.Code.from_asset('lambda', "
                "exclude=['tests']))")
    found, result = handlers(files)
    assert found["Svc/Fn"].root == "infra/lambda"
    assert result.warnings == (
        "infra/stacks/svc.py:10: Svc/Fn: its code asset excludes files (exclude=); the whole "
        "folder is checked, so an import of an excluded file is not caught",)


SYNTH = """{
  "Resources": {
    "SharedL1": {"Type": "AWS::Lambda::LayerVersion",
                 "Properties": {"Content": {"S3Bucket": "b", "S3Key": "l.zip"}},
                 "Metadata": {"aws:cdk:path": "Svc/Shared/Resource", "aws:asset:path": "asset.l1"}},
    "FnA1": {"Type": "AWS::Lambda::Function",
             "Properties": {"Code": {"S3Bucket": "b", "S3Key": "f.zip"}, "Handler": "app.handler",
                            "Runtime": "python3.11", "Architectures": ["arm64"],
                            "Layers": [{"Ref": "SharedL1"}]},
             "Metadata": {"aws:cdk:path": "Svc/Fn/Resource", "aws:asset:path": "asset.f1"}}
  }
}"""


@pytest.mark.parametrize("cdk_out", [False, True])
def test_a_committed_cdk_out_is_read_only_when_the_config_says_so(cdk_out):
    files = app(FN.format("'lambda'"), {
        "infra/cdk.out/Svc.template.json": SYNTH, "infra/cdk.out/asset.f1/app.py": H,
        "infra/cdk.out/asset.l1/python/shared.py": ""})
    found = discover(Tree.from_files(files), cdk_out=cdk_out)
    [fn] = found.handlers
    assert fn.name == "Svc/Fn"
    if cdk_out:  # the synthesized bundle, its layer from the template
        assert (fn.root, fn.paths, fn.runtime, fn.arch, fn.installs) == (
            "infra/cdk.out/asset.f1", ("infra/cdk.out/asset.l1/python",), "python3.11",
            "arm64", False)
        assert (fn.source, fn.line) == ("infra/cdk.out/Svc.template.json", 6)
    else:  # the app's source; the stale synth output is ignored
        assert (fn.root, fn.runtime, fn.source) == ("infra/lambda", "python3.12",
                                                    "infra/stacks/svc.py")
    config = load_config("cdk_out: true\n")
    assert [h.root for h in find_handlers(Tree.from_files(files), config).handlers] == [
        "infra/cdk.out/asset.f1"]
