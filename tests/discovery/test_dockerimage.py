"""Container-image functions read from their Dockerfile: runtime, handler and task root."""

from __future__ import annotations

import pytest

from reviewbot.discovery import discover
from reviewbot.discovery.dockerimage import Image, read_image
from reviewbot.tree import Tree

SAM_INIT_DOCKERFILE = (
    "FROM public.ecr.aws/lambda/python:3.12\n"
    "\n"
    "COPY app.py requirements.txt ./\n"
    "\n"
    "RUN python3.12 -m pip install -r requirements.txt -t .\n"
    "\n"
    "# Command can be overwritten by providing a different command in the template directly.\n"
    'CMD ["app.lambda_handler"]\n'
)


def image(dockerfile: str, **files: str) -> Image | str:
    tree = Tree.from_files({"svc/Dockerfile": dockerfile, **{f"svc/{k}": v for k, v in files.items()}})
    return read_image(tree, "svc/Dockerfile", "svc")


def test_the_sam_init_image_template():
    assert image(SAM_INIT_DOCKERFILE, **{"app.py": "", "requirements.txt": ""}) == Image(
        "python3.12", "app.lambda_handler", ("svc",), True)


def test_args_task_root_variable_multi_stage_and_continuations():
    dockerfile = (
        "ARG PY=3.11\n"
        "FROM python:3.11 AS build\n"
        "RUN pip wheel -w /wheels x\n"
        "FROM public.ecr.aws/lambda/python:${PY}-arm64\n"
        "COPY --from=build /wheels /wheels\n"
        "COPY src/ ${LAMBDA_TASK_ROOT}\n"
        "COPY lib ${LAMBDA_TASK_ROOT}/lib\n"
        "CMD [ \\\n  \"handlers.api.handler\" ]\n"
    )
    found = image(dockerfile, **{"src/handlers/api.py": "", "lib/x.py": ""})
    # `--from` brings built files, so the image holds more than the repository shows.
    assert found == Image("python3.11", "handlers.api.handler", ("svc/src", "svc"), False)


@pytest.mark.parametrize("dockerfile, reason", [
    ("FROM python:3.12-slim\nCOPY app.py .\nCMD [\"app.handler\"]\n",
     "container image not built FROM the AWS Lambda Python base image"),
    ("FROM public.ecr.aws/lambda/python:3.12\nCOPY app.py ./\nENTRYPOINT [\"/bin/sh\"]\n",
     "container image with its own ENTRYPOINT"),
    ("FROM public.ecr.aws/lambda/python:3.12\nCMD [\"app.handler\"]\n",
     "container image: no COPY into the task root was read"),
])
def test_images_that_cannot_be_read_say_why(dockerfile, reason):
    assert image(dockerfile, **{"app.py": ""}) == reason


TEMPLATE = (
    "Transform: AWS::Serverless-2016-10-31\n"
    "Resources:\n"
    "  Hello:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties:\n"
    "      PackageType: Image\n"
    "{config}"
    "    Metadata:\n"
    "      Dockerfile: Dockerfile\n"
    "      DockerContext: ./hello_world\n"
    "      DockerTag: python3.12-v1\n"
    "  Remote:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {{PackageType: Image, ImageUri: 123.dkr.ecr/x:1}}\n"
)


def test_sam_image_function_is_checked_like_a_zip_function():
    files = {"template.yaml": TEMPLATE.format(config=""),
             "hello_world/Dockerfile": SAM_INIT_DOCKERFILE, "hello_world/app.py": "",
             "hello_world/requirements.txt": "requests\n"}
    found = discover(Tree.from_files(files))
    [hello] = found.handlers
    assert (hello.name, hello.handler, hello.root, hello.runtime, hello.line) == (
        "Hello", "app.lambda_handler", "hello_world", "python3.12", 3)
    assert [(u.name, u.reason) for u in found.unresolved] == [
        ("Remote", "container image: the handler is set by the image")]


def test_image_config_command_overrides_cmd():
    files = {"template.yaml": TEMPLATE.format(
                 config="      ImageConfig: {Command: [other.handler]}\n"),
             "hello_world/Dockerfile": SAM_INIT_DOCKERFILE, "hello_world/other.py": ""}
    [hello] = discover(Tree.from_files(files)).handlers
    assert hello.handler == "other.handler"
