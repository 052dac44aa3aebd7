"""A committed `cdk.out/`: the templates `cdk synth` wrote, read when the config says so.

Only with `cdk_out: true` in `.github/reviewbot.yml`: a committed synth output goes stale
as the app changes, so by default the app's source is read instead. Each
`AWS::Lambda::Function` of `cdk.out/*.template.json` names its asset folder in
`Metadata["aws:asset:path"]` (`asset.<hash>`, beside the template) and its construct path
in `Metadata["aws:cdk:path"]` (`Stack/Fn/Resource`); its layers are `Ref`s to
`AWS::Lambda::LayerVersion` resources with asset folders of their own. An asset folder is
the final bundle (a PythonFunction's has its dependencies installed), so nothing more is
installed. The folders must be committed with the templates.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from reviewbot.discovery import cfnyaml
from reviewbot.discovery.cdk.constructs import (
    REPO,
    ArchRef,
    Asset,
    Builder,
    Construct,
    ExternalLayer,
)
from reviewbot.discovery.common import Found
from reviewbot.tree import Tree, join

ASSET = "aws:asset:path"
CDK_PATH = "aws:cdk:path"


def _asset(folder: str, resource: dict) -> Asset | None:
    metadata = resource.get("Metadata")
    where = metadata.get(ASSET) if isinstance(metadata, dict) else None
    if not isinstance(where, str):
        return None
    return Asset(posixpath.normpath(posixpath.join(REPO, folder, where)))


def _name(logical_id: str, resource: dict) -> str:
    metadata = resource.get("Metadata")
    path = metadata.get(CDK_PATH) if isinstance(metadata, dict) else None
    return path.removesuffix("/Resource") if isinstance(path, str) else logical_id


def _read(tree: Tree, path: str, found: Found) -> dict | None:
    try:
        doc = cfnyaml.load_json(cfnyaml.decode(tree.read(path)))
    except cfnyaml.LoadError as exc:
        found.warn(path, exc.line, exc.message)
        return None
    resources = doc.get("Resources") if isinstance(doc, dict) else None
    return resources if isinstance(resources, dict) else None


def read_synth(tree: Tree, app_dir: str, layer_map: Mapping[str, Any] | None,
               found: Found) -> bool:
    """Add the functions of the app's committed cdk.out/; False when there is none."""
    out = join(app_dir, "cdk.out")
    templates = sorted(p for p in tree.blobs if posixpath.dirname(p) == out
                       and p.endswith(".template.json"))
    if not templates:
        return False
    builder = Builder(tree, app_dir, layer_map, found)
    for path in templates:
        resources = _read(tree, path, found)
        if resources is None:
            continue
        layers = {lid: Construct("LayerVersion", _name(lid, r), {"code": _asset(out, r)},
                                 path, cfnyaml.line_of(resources, lid))
                  for lid, r in resources.items()
                  if isinstance(r, dict) and r.get("Type") == "AWS::Lambda::LayerVersion"}
        for lid, r in resources.items():
            if not isinstance(r, dict) or r.get("Type") != "AWS::Lambda::Function":
                continue
            props = r.get("Properties") if isinstance(r.get("Properties"), dict) else {}
            refs = props.get("Layers") if isinstance(props.get("Layers"), list) else []
            arch = props.get("Architectures")
            builder.add(Construct("Function", _name(lid, r), {
                "handler": props.get("Handler"), "runtime": props.get("Runtime"),
                "code": _asset(out, r),
                "layers": [layers.get(ref.get("Ref")) if isinstance(ref, dict)
                           else ExternalLayer(ref) for ref in refs],
                "architecture": ArchRef("arm64" if arch == ["arm64"] else "x86_64"),
            }, path, cfnyaml.line_of(resources, lid)))
    return True
