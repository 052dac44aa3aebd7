"""Validation of request bodies against GitHub's OpenAPI description, so a body the app
sends to the stand-in is one GitHub would accept."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple


def _nullable_to_union(node):
    """OpenAPI 3.0's `nullable: true` as the JSON Schema that jsonschema understands."""
    if isinstance(node, list):
        return [_nullable_to_union(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable_to_union(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Operation(NamedTuple):
    method: str
    pattern: re.Pattern
    validator: object  # a jsonschema validator of the JSON request body


class OpenAPIValidator:
    def __init__(self, spec_path: Path):
        import jsonschema

        spec = json.loads(spec_path.read_text())
        components = _nullable_to_union(spec.get("components", {}))
        self._ops: list[Operation] = []
        for template, item in spec.get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method, op in item.items():
                body = ((op.get("requestBody") or {}).get("content") or {}).get(
                    "application/json")
                if not body or "schema" not in body:
                    continue
                schema = _nullable_to_union(body["schema"])
                schema = {**schema, "components": components}
                validator = jsonschema.Draft4Validator(schema)
                self._ops.append(Operation(method.upper(), pattern, validator))

    def validate(self, method: str, path: str, body) -> list[str]:
        for op in self._ops:
            if op.method == method and op.pattern.match(path):
                return [f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
                        for e in op.validator.iter_errors(body)]
        return []
