"""A generated Lambda monorepo for benchmarks: shared layer packages and many handlers.

    python benchmarks/monorepo.py OUT_DIR [--modules 1500] [--handlers 300]

Layout: `libs/python/<pkg>/` shared packages (each `__init__.py` re-exports from its
modules, modules import across packages in a DAG) and `services/<svc>/<fn>/` handler roots
with a `main.py` and a few local modules. With `installed=N`, the first N shared packages are
local projects instead (`libs/installed/<pkg>/` with a setuptools `pyproject.toml` and a src
layout) that every handler's `requirements.txt` installs by path. Each module is padded with realistic functions
and classes to about 6.5 kB, so 1,500 modules weigh about 10 MB. Deterministic per seed.
"""

from __future__ import annotations

import argparse
import random
import subprocess
from pathlib import Path

BODY = '''

class {cls}(Base{n}):
    """Record type {cls}: validated on construction, serialised to JSON for the API."""

    fields = ("id", "name", "created_at", "updated_at", "owner", "tags", "status")

    def __init__(self, id, name, owner=None, tags=(), status="active"):
        self.id = id
        self.name = name
        self.owner = owner
        self.tags = list(tags)
        self.status = status

    def validate(self):
        if not self.name:
            raise ValueError("{cls} needs a name")
        if self.status not in ("active", "archived", "deleted"):
            raise ValueError(f"bad status {{self.status!r}} for {cls}")
        return True

    def to_dict(self):
        return {{key: getattr(self, key, None) for key in self.fields}}


def {fn}(event, limit=100, *, cursor=None):
    """Page through items of {cls} for one request."""
    items = []
    for index, raw in enumerate(event.get("items", [])[:limit]):
        if cursor is not None and index < cursor:
            continue
        record = {cls}(raw.get("id"), raw.get("name"), raw.get("owner"))
        if record.validate():
            items.append(record.to_dict())
    return {{"items": items, "next": cursor + limit if cursor else limit}}
'''


class Base:
    pass


def module_source(rng: random.Random, imports: list[str], exports: list[str],
                  target_bytes: int) -> str:
    lines = ['"""Generated module."""', "", "import json", "import logging", ""]
    lines += imports
    lines += ["", "logger = logging.getLogger(__name__)", ""]
    lines += [f"class Base{i}:\n    pass\n" for i in range(len(exports))]
    text = "\n".join(lines)
    n = 0
    while len(text) < target_bytes or n < len(exports):
        name = exports[n] if n < len(exports) else f"Extra{n}"
        fn = f"{name.lower()}_page" if n < len(exports) else f"helper_{n}_{rng.randrange(1000)}"
        text += BODY.format(cls=name, fn=fn, n=min(n, len(exports) - 1) if exports else 0)
        n += 1
    if not exports:
        text = text.replace("(Base0)", "").replace("(Base-1)", "")
    return text


PROJECT = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
           '[project]\nname = "{pkg}"\nversion = "1.0"\n')


def generate(out: Path, *, modules: int = 1500, handlers: int = 300, seed: int = 1,
             commit: bool = True, installed: int = 0,
             third_party: tuple[tuple[str, str], ...] = (),
             sam: bool = False) -> dict[str, str]:
    """`third_party`: (requirement, module) pairs every handler requires and imports.

    `sam`: the handlers are functions of SAM templates (`stacks/stack_NN/template.yaml`, at
    most 100 functions each, as CloudFormation's resource limit keeps real stacks) that
    share a layer (`layer/python/<pkg>`), found by discovery rather than listed in config.
    """
    rng = random.Random(seed)
    files: dict[str, str] = {}
    shared_modules = max(modules - handlers * 4, 40)
    n_packages = max(shared_modules // 20, 2)
    per_package = shared_modules // n_packages
    packages = [f"shared_{i:02d}" for i in range(n_packages)]
    exports: dict[str, list[str]] = {}
    layer = "layer/python" if sam else "libs/python"
    homes = {pkg: f"libs/installed/{pkg}/src/{pkg}" if i < installed else f"{layer}/{pkg}"
             for i, pkg in enumerate(packages)}
    for pkg in packages[:installed]:
        files[f"libs/installed/{pkg}/pyproject.toml"] = PROJECT.format(pkg=pkg)
    for pi, pkg in enumerate(packages):
        init_imports = []
        for mi in range(per_package):
            mod = f"mod_{mi:02d}"
            names = [f"P{pi}M{mi}Item{k}" for k in range(2)]
            exports[f"{pkg}.{mod}"] = names
            imports = []
            # depend on a module of an earlier package (a DAG across packages)
            if pi > 0:
                dep_pkg = packages[rng.randrange(pi)]
                dep_mod = f"mod_{rng.randrange(per_package):02d}"
                imports.append(f"from {dep_pkg}.{dep_mod} import "
                               f"{exports[f'{dep_pkg}.{dep_mod}'][0]}")
            if mi > 0:
                imports.append(f"from .mod_{rng.randrange(mi):02d} import *")
            files[f"{homes[pkg]}/{mod}.py"] = module_source(rng, imports, names, 6500)
            init_imports.append(f"from .{mod} import {', '.join(names)}")
        all_names = [n for mi in range(per_package) for n in exports[f"{pkg}.mod_{mi:02d}"]]
        files[f"{homes[pkg]}/__init__.py"] = (
            '"""Shared package."""\n\n' + "\n".join(init_imports) +
            f"\n\n__all__ = {all_names!r}\n")
    config = ["handlers:"]
    for hi in range(handlers):
        svc = f"svc_{hi // 20:02d}"
        root = f"services/{svc}/fn_{hi:03d}"
        local = []
        for li in range(2):
            names = [f"H{hi}L{li}Item"]
            imports = [f"from .l{rng.randrange(li):d} import {f'H{hi}L{0}Item'}"] if li else []
            files[f"{root}/app/l{li}.py"] = module_source(rng, imports, names, 6500)
            local.append(names[0])
        files[f"{root}/app/__init__.py"] = ""
        picks = rng.sample(packages, k=min(3, len(packages)))
        imports = [f"from app.l1 import {local[1]}"]
        for pkg in picks:
            mod = f"{pkg}.mod_{rng.randrange(per_package):02d}"
            imports.append(f"from {pkg} import {exports[mod][1]}")
        imports += [f"import {module}" for _, module in third_party]
        main = module_source(rng, imports, [f"Handler{hi}"], 3000)
        main += "\n\ndef handler(event, context):\n    return {'statusCode': 200}\n"
        files[f"{root}/main.py"] = main
        if installed or third_party:
            files[f"{root}/requirements.txt"] = "".join(
                [f"../../../libs/installed/{pkg}\n" for pkg in packages[:installed]]
                + [f"{requirement}\n" for requirement, _ in third_party])
        config += [f"  - name: fn_{hi:03d}", "    handler: main.handler", f"    root: {root}",
                   "    paths: [libs/python]"]
    if sam:
        files.update(sam_templates(handlers))
        config = ["shared:", "  - layer/**"]
    else:
        config += ["shared:", "  - libs/**", "discover: false"]
    files[".github/reviewbot.yml"] = "\n".join(config) + "\n"
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if commit:
        env_git = ["git", "-C", str(out), "-c", "user.name=bench", "-c", "user.email=b@x"]
        subprocess.run([*env_git[:3], "init", "-q", "-b", "main"], check=True)
        subprocess.run([*env_git, "add", "-A"], check=True)
        subprocess.run([*env_git, "commit", "-q", "-m", "generated monorepo"], check=True)
    return files


def sam_templates(handlers: int) -> dict[str, str]:
    """One template per 100 functions, each declaring the shared layer it attaches."""
    files = {}
    for stack in range((handlers + 99) // 100):
        lines = ["AWSTemplateFormatVersion: '2010-09-09'", "Transform: AWS::Serverless-2016-10-31",
                 "Globals:", "  Function:", "    Runtime: python3.12", "    Timeout: 10",
                 "Resources:", "  SharedLayer:", "    Type: AWS::Serverless::LayerVersion",
                 "    Properties:", "      ContentUri: ../../layer"]
        for hi in range(stack * 100, min(handlers, stack * 100 + 100)):
            lines += [f"  Fn{hi:04d}:", "    Type: AWS::Serverless::Function", "    Properties:",
                      f"      CodeUri: ../../services/svc_{hi // 20:02d}/fn_{hi:03d}",
                      "      Handler: main.handler", "      Layers: [!Ref SharedLayer]"]
        files[f"stacks/stack_{stack:02d}/template.yaml"] = "\n".join(lines) + "\n"
    return files


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--modules", type=int, default=1500)
    ap.add_argument("--handlers", type=int, default=300)
    ap.add_argument("--installed", type=int, default=0,
                    help="shared packages that are local projects the handlers install")
    ap.add_argument("--sam", action="store_true",
                    help="SAM templates of at most 100 functions sharing a layer")
    args = ap.parse_args()
    files = generate(args.out, modules=args.modules, handlers=args.handlers,
                     installed=args.installed, sam=args.sam)
    py = [t for p, t in files.items() if p.endswith(".py")]
    print(f"{len(py)} modules, {sum(map(len, py)) / 1e6:.1f} MB, {args.handlers} handlers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
