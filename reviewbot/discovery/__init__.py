"""Find Lambda handlers in the deployment files of a repository, as the runtime will see them.

Reads SAM/CloudFormation templates, Serverless Framework configs, Terraform modules and CDK
apps from a
`Tree` only (no network, no subprocess), so the same answer comes from a checkout, a tarball
or a test dict. What cannot be read statically is reported, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reviewbot.discovery import cdk, sam, serverless, terraform
from reviewbot.discovery.common import Found, not_python, unique_names
from reviewbot.model import Handler, Unresolved
from reviewbot.tree import Tree

__all__ = ["Discovery", "discover", "discover_cli_json"]


@dataclass(frozen=True)
class Discovery:
    handlers: tuple[Handler, ...]
    unresolved: tuple[Unresolved, ...]
    warnings: tuple[str, ...]


def _warning_key(text: str) -> tuple[str, int, str]:
    path, _, rest = text.partition(":")
    line, _, message = rest.partition(":")
    return (path, int(line) if line.isdigit() else 0, message)


def discover(tree: Tree, layer_map: Mapping[str, str] | None = None, *,
             cdk_out: bool = False) -> Discovery:
    """Every handler of every deployment file in `tree`.

    `layer_map` maps layer references that cannot be read from the repo (ARNs, `*` globs
    allowed, or logical names) to the repo folder whose contents land in /opt/python.
    With `cdk_out`, a CDK app's committed cdk.out/ is read instead of its source.
    """
    found = Found()
    for reader in (sam.discover, serverless.discover, terraform.discover):
        found.extend(reader(tree, layer_map))
    found.extend(cdk.discover(tree, layer_map, cdk_out=cdk_out))
    python = []
    for handler in found.handlers:
        reason = not_python(tree, handler)
        if reason is None:
            python.append(handler)
        else:
            found.skip(handler.name, handler.source, handler.line, reason)
    handlers = sorted(unique_names(python), key=lambda h: h.name)
    unresolved = sorted(found.unresolved, key=lambda u: (u.source, u.line, u.name))
    warnings = sorted(found.warnings, key=_warning_key)
    return Discovery(tuple(handlers), tuple(unresolved), tuple(warnings))


def discover_cli_json(discovery) -> dict:
    """The `reviewbot handlers --format json` shape, of a Discovery or of the handlers
    merged with the config (anything with `handlers` and `unresolved`)."""
    return {
        "handlers": [h.to_json() for h in discovery.handlers],
        "unresolved": [u.to_json() for u in discovery.unresolved],
    }
