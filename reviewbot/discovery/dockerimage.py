"""A container-image function read from its Dockerfile, without building it.

An image built FROM the AWS Lambda Python base image (`public.ecr.aws/lambda/python:3.12`)
runs the same runtime as a zip function: `CMD ["app.handler"]` is the handler, and what
`COPY` puts into `${LAMBDA_TASK_ROOT}` (`/var/task`, the base image's working directory) is
the code root. Anything else (another base image, an `ENTRYPOINT`, a computed `CMD`) cannot
be read statically and is reported with the reason.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass

from reviewbot.tree import Tree, join, normalize

BASE = re.compile(r"^(?:public\.ecr\.aws/lambda/python|amazon/aws-lambda-python):(\d+\.\d+)")
TASK_ROOT = "/var/task"


@dataclass(frozen=True)
class Image:
    """What a Lambda Python image runs: its runtime, handler and the repository folders
    whose contents land in the task root."""

    runtime: str
    handler: str | None
    roots: tuple[str, ...]
    complete: bool  # every COPY into the task root was read


@dataclass
class _Stage:
    runtime: str | None = None
    handler: str | None = None
    entrypoint: bool = False
    workdir: str = TASK_ROOT
    roots: list[str] | None = None
    complete: bool = True


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def _expand(value: str, args: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        return args.get(name, m.group(0))
    return re.sub(r"\$\{(\w+)(?::-[^}]*)?\}|\$(\w+)", sub, value)


def _words(value: str) -> list[str] | None:
    """The words of an exec-form (`["a", "b"]`) or shell-form argument list."""
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return [str(w) for w in parsed] if isinstance(parsed, list) else None
    try:
        return shlex.split(value)
    except ValueError:
        return None


def read_image(tree: Tree, dockerfile: str, context: str) -> Image | str:
    """The image the Dockerfile at `dockerfile` builds from `context`, or why it is unknown."""
    if dockerfile not in tree:
        return f"Dockerfile {dockerfile} is not in the repository"
    text = tree.read(dockerfile).decode("utf-8", "replace")
    args: dict[str, str] = {"LAMBDA_TASK_ROOT": TASK_ROOT}
    stage = _Stage()
    for word, rest in instructions(text):
        rest = _expand(rest, args)
        if word == "ARG" or word == "ENV":
            name, sep, default = rest.partition("=")
            if not sep and word == "ENV":
                name, _, default = rest.partition(" ")
            if name.strip() and (default or name.strip() not in args):
                args[name.strip()] = default.strip().strip("'\"")
        elif word == "FROM":
            image = rest.split()[0] if rest.split() else ""
            m = BASE.match(image.removeprefix("docker.io/"))
            stage = _Stage(runtime=f"python{m.group(1)}" if m else None)
        elif word == "WORKDIR":
            stage.workdir = posixpath.normpath(posixpath.join(stage.workdir, rest))
        elif word == "ENTRYPOINT":
            stage.entrypoint = True
        elif word == "CMD":
            words = _words(rest)
            stage.handler = words[0] if words and len(words) == 1 else None
        elif word in ("COPY", "ADD"):
            _copy(tree, stage, rest, context)
    if stage.runtime is None:
        return "container image not built FROM the AWS Lambda Python base image"
    if stage.entrypoint:
        return "container image with its own ENTRYPOINT"
    if not stage.roots:
        return "container image: no COPY into the task root was read"
    return Image(stage.runtime, stage.handler, tuple(dict.fromkeys(stage.roots)), stage.complete)


def _copy(tree: Tree, stage: _Stage, rest: str, context: str) -> None:
    """Note the repository folder a COPY into the task root brings (its contents, or the
    folder holding the files it copies)."""
    words = _words(rest)
    if words is None:
        stage.complete = False
        return
    if any(w.startswith("--from") for w in words):
        stage.complete = False  # from another stage: built, not a repository folder
        return
    words = [w for w in words if not w.startswith("--")]
    if len(words) < 2:
        stage.complete = False
        return
    *sources, dest = words
    dest = posixpath.normpath(posixpath.join(stage.workdir, dest))
    roots = stage.roots if stage.roots is not None else []
    for source in sources:
        path = normalize(join(context, source.rstrip("/") or "."))
        if path == ".." or path.startswith("../") or any(c in source for c in "*?["):
            stage.complete = False
            continue
        if dest == TASK_ROOT and tree.isdir(path):
            roots.append(path)  # the folder's contents land in the task root
        elif dest == TASK_ROOT:  # a file (or one missing: the build fails, and so the check)
            roots.append(posixpath.dirname(path) or ".")
        elif dest.startswith(TASK_ROOT + "/") and posixpath.basename(path) == \
                dest.rsplit("/", 1)[1] and dest.count("/") == TASK_ROOT.count("/") + 1:
            roots.append(posixpath.dirname(path) or ".")  # `COPY lib ./lib`
        elif dest.startswith(TASK_ROOT):
            stage.complete = False
    stage.roots = roots
