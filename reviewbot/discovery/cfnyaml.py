"""Safe YAML/JSON loading for CloudFormation-style files, with line numbers.

`yaml.safe_load` rejects CloudFormation short tags (`!Ref`, `!GetAtt`, ...), so a `SafeLoader`
subclass maps every `!Tag` to its long form. Mappings come back as `LineDict`, which remembers
the line of each key so handlers and warnings can point at their definition.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

MAX_BYTES = 5 * 1024 * 1024


class LineDict(dict):
    """A mapping that also records the 1-based line of each of its keys (`lines`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}
        self.line = 0  # where the mapping itself starts

    def line_of(self, key: Any, default: int = 0) -> int:
        return self.lines.get(key, default)


class LoadError(Exception):
    """A file that cannot be parsed; `line` is 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.message = message
        self.line = line


class CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's when built in
    """SafeLoader plus CloudFormation short tags, long form out (`!Ref X` -> {"Ref": "X"})."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


def _construct_map(loader: CfnLoader, node: yaml.MappingNode) -> LineDict:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.update(loader.construct_mapping(node, deep=True))  # flattens `<<` merges in place
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node)
            if key in data:
                data.lines.setdefault(key, key_node.start_mark.line + 1)
    return data


CfnLoader.add_multi_constructor("!", _construct_tag)
CfnLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def decode(data: bytes) -> str:
    return data.decode("utf-8-sig", errors="replace")


def load_yaml(text: str) -> Any:
    """Parse YAML (or JSON, a YAML subset) with CloudFormation tags; raise LoadError."""
    try:
        return yaml.load(text, Loader=CfnLoader)  # CfnLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise LoadError(f"invalid YAML: {exc.problem or exc.context}", line) from exc
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as exc:  # e.g. bad scalars
        raise LoadError(f"invalid YAML: {exc}", 0) from exc


def load_json(text: str) -> Any:
    """Parse JSON strictly, then again through the YAML loader (a superset) for key lines."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LoadError(f"invalid JSON: {exc.msg}", exc.lineno) from exc
    except RecursionError as exc:
        raise LoadError("invalid JSON: nested too deeply", 0) from exc
    try:
        return load_yaml(text)
    except LoadError:  # e.g. tab indentation, which JSON allows and YAML does not
        return data


def load(path: str, text: str) -> Any:
    return load_json(text) if path.endswith(".json") else load_yaml(text)


def line_of(mapping: Any, key: Any, default: int = 0) -> int:
    """Line of `key` in `mapping` if it is a LineDict (JSON via json.loads has none)."""
    return mapping.line_of(key, default) if isinstance(mapping, LineDict) else default


def text_line(text: str, needle: str) -> int:
    """1-based line of the first occurrence of `needle` in `text`, 0 if absent."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 0
