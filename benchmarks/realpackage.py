"""Every module of installed packages taken as a Lambda handler: false errors and speed.

    python benchmarks/realpackage.py botocore moto [--verify]

Builds a tree from the packages' files in site-packages, takes every module as a handler
(the site-packages folder as its code root, every other installed distribution as an
available third-party module), runs the import check over all of them, and prints the
import errors found. With --verify each module with an error is imported for real in a
subprocess, to tell true errors from false alarms.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from reviewbot.cache import SummaryCache
from reviewbot.fssource import directory_tree
from reviewbot.model import Handler
from reviewbot.review import Analysis


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("packages", nargs="+")
    ap.add_argument("--verify", action="store_true")
    args = ap.parse_args()
    site = Path(sysconfig.get_paths()["purelib"])
    tree = directory_tree(site, only=tuple(args.packages))
    modules = []
    for path in sorted(tree.blobs):
        if not path.endswith(".py"):
            continue
        mod = path[:-3].removesuffix("/__init__")
        modules.append(mod)
    others = sorted({m for dists in importlib.metadata.packages_distributions().items()
                     for m in [dists[0]]} - set(args.packages))
    runtime = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    handlers = [Handler(name=m.replace("/", "."), handler=f"{m}.__name__", root=".",
                        runtime=runtime) for m in modules]
    size = sum(len(tree.read(p)) for p in tree.blobs if p.endswith(".py"))
    t0 = time.perf_counter()
    analysis = Analysis(tree, SummaryCache(disk=False), tuple(others))
    analysis.prefetch(handlers)
    t1 = time.perf_counter()
    errors, warnings = {}, {}
    for h in handlers:
        result = analysis.check(h)
        for f in result.errors:
            if f.kind != "missing-handler":
                errors.setdefault((f.path, f.line, f.message.split(": ", 1)[-1]), h.name)
        for f in result.warnings:
            warnings.setdefault((f.path, f.line, f.kind), h.name)
    t2 = time.perf_counter()
    print(f"modules: {len(modules)}  source: {size / 1e6:.1f} MB")
    print(f"summaries: {t1 - t0:.2f} s  checks of {len(handlers)} handlers: {t2 - t1:.2f} s")
    print(f"distinct import errors: {len(errors)}  warnings: {len(warnings)}")
    confirmed = 0
    for (path, line, message), handler in sorted(errors.items()):
        verdict = ""
        if args.verify:
            proc = subprocess.run(
                [sys.executable, "-c", f"import importlib; importlib.import_module({handler!r})"],
                capture_output=True, text=True, timeout=120)
            failed = proc.returncode != 0
            confirmed += failed
            verdict = "  [confirmed at runtime]" if failed else "  [FALSE ALARM: imports fine]"
        print(f"  {path}:{line}: {message} (via {handler}){verdict}")
    if args.verify:
        print(f"confirmed: {confirmed}/{len(errors)}; false errors: {len(errors) - confirmed}")
    kinds: dict[str, int] = {}
    for (_, _, kind) in warnings:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"warnings by kind: {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
