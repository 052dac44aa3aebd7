"""The lines of a requirements file that say what a build installs.

pip reads a distribution name (`requests==2.31`), a URL with `#egg=name`, or a local
directory in any of the forms people write: `../shared/common`, `./libs/x`, `-e ../x`,
`file:../x`, `name @ file:../x`, `name @ file:///${PROJECT_ROOT}/x`. `-r other.txt`
includes another file (relative to this one); `-c` constraints only pin versions, so their
paths install nothing. A local directory is the repository's own code: the build installs
what that project packages (see `reviewbot.localproject`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_DIRECT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")
_HASH = re.compile(r"\s--hash[=\s]\S+")
_OPTION = re.compile(r"^(-r|--requirement|-c|--constraint|-e|--editable)(?:\s*=\s*|\s+|(?=\S))(.*)$")


@dataclass(frozen=True)
class RequirementLine:
    """One requirement of a requirements file: a distribution, a local directory, or both
    (`name @ file:../x`)."""

    source: str  # the requirements file
    line: int
    dist: str | None = None
    local: str | None = None  # the path as written, `file:` taken off
    editable: bool = False
    spec: str = ""  # the requirement as a resolver reads it (`--hash` options taken off)


@dataclass(frozen=True)
class RequirementsFile:
    requirements: tuple[RequirementLine, ...]
    includes: tuple[str, ...]  # `-r` targets as written, relative to this file
    constraints: tuple[str, ...] = ()  # `-c` targets as written, relative to this file


def local_target(spec: str) -> str | None:
    """The directory a requirement names, or None when it names none in the repository
    (a distribution, a remote URL, an absolute path of the build machine)."""
    spec = spec.split("#", 1)[0].strip()
    if spec.startswith("file:"):
        spec = spec.removeprefix("file:")
        spec = spec.removeprefix("//")
        for var in ("${PROJECT_ROOT}", "$PROJECT_ROOT"):  # PDM's relative form
            if spec.startswith("/" + var):
                spec = "." + spec[len(var) + 1:]
        if spec.startswith("/"):
            return None
        return spec or "."
    if "://" in spec or spec.startswith("/"):
        return None
    if spec in (".", "..") or spec.startswith(("./", "../")):
        return spec
    return None


def _requirement(source: str, number: int, spec: str, editable: bool) -> RequirementLine | None:
    direct = _DIRECT.match(spec)
    if direct:
        return RequirementLine(source, number, direct.group(1), local_target(direct.group(2)),
                               editable)
    local = local_target(spec)
    egg = re.search(r"#egg=([A-Za-z0-9._-]+)", spec)
    if local is not None:
        return RequirementLine(source, number, egg.group(1) if egg else None, local, editable)
    if egg:
        return RequirementLine(source, number, egg.group(1), None, editable)
    if "://" in spec:
        return None
    name = _NAME.match(spec)
    if not name:
        return None
    return RequirementLine(source, number, name.group(1), None, editable,
                           _HASH.sub("", spec).strip())


def parse_requirements_file(source: str, text: str) -> RequirementsFile:
    """The requirements and `-r` includes of one requirements file."""
    requirements: list[RequirementLine] = []
    includes: list[str] = []
    constraints: list[str] = []
    for number, raw in enumerate(_logical_lines(text), start=1):
        line = re.split(r"(?:^|\s)#", raw, maxsplit=1)[0].strip()  # pip's comment rule
        if not line:
            continue
        option = _OPTION.match(line)
        editable = False
        if option:
            flag, value = option.group(1), option.group(2).strip()
            if flag in ("-r", "--requirement"):
                includes.append(value)
                continue
            if flag in ("-c", "--constraint"):
                constraints.append(value)
                continue
            line, editable = value, True
        elif line.startswith("-"):
            continue  # --index-url, --find-links, --hash and the like
        req = _requirement(source, number, line, editable)
        if req is not None:
            requirements.append(req)
    return RequirementsFile(tuple(requirements), tuple(includes), tuple(constraints))


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined, numbered as their first physical line
    (continued lines leave an empty line so the numbers stay those of the file)."""
    out: list[str] = []
    pending = ""
    held = 0
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            held += 1
            continue
        out.append(pending + raw)
        out.extend([""] * held)
        pending, held = "", 0
    if pending:
        out.append(pending)
    return out
