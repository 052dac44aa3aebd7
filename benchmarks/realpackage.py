"""Every module of installed packages taken as a Lambda handler: false errors and speed.

    python benchmarks/realpackage.py botocore moto [--verify] [--against-fresh] [--repeat 3]

Builds a tree from the packages' files in site-packages, takes every module as a handler
(the site-packages folder as its code root, every other installed distribution as an
available third-party module), runs the import check over all of them, and prints the
import errors found. With --verify each module with an error is imported for real in a
subprocess, to tell true errors from false alarms. With --against-fresh every handler is
also checked from scratch, without replaying any recorded load, and must come out the same
(errors, warnings and files loaded): the replay's correctness on real code.
"""

from __future__ import annotations

import argparse
import ast
import gc
import importlib.metadata
import resource
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.fssource import directory_tree
from reviewbot.importcheck import check_handler
from reviewbot.model import Handler
from reviewbot.outcomes import Closure


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("packages", nargs="+")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--against-fresh", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
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
    sources = [tree.read(p) for p in tree.blobs if p.endswith(".py")]
    size = sum(map(len, sources))
    grimp_s = None
    try:
        import grimp

        t0 = time.perf_counter()
        grimp.build_graph(*args.packages, cache_dir=None)
        grimp_s = time.perf_counter() - t0
    except ImportError:
        pass
    # The floor and a cold run in alternation, each run's ratio to the floor beside it:
    # this machine's speed drifts by tens of per cent within seconds.
    runs = []
    outcome = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for source in sources:
            ast.parse(source)
        floor = time.perf_counter() - t0
        # Without the cyclic GC, as the `reviewbot` command runs `check`
        # (reviewbot.cli.BATCH_COMMANDS); the floor keeps it on, as a plain script would.
        gc.disable()
        t0 = time.perf_counter()
        analysis = Analysis(tree, SummaryCache(disk=False), tuple(others))
        analysis.prefetch(handlers)
        t1 = time.perf_counter()
        closures = analysis.closures(handlers)  # as `check --all` runs them
        t2 = time.perf_counter()
        gc.enable()
        runs.append((floor, t1 - t0, t2 - t1))
        if len(runs) == 1:  # later runs' parsing workers fork a parent the first one grew
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        errors, warnings = {}, {}
        for h in handlers:
            result = closures[h]
            for f in result.errors:
                if f.kind != "missing-handler":
                    errors.setdefault((f.path, f.line, f.message.split(": ", 1)[-1]), h.name)
            for f in result.warnings:
                warnings.setdefault((f.path, f.line, f.kind), h.name)
        assert outcome is None or outcome == (errors, warnings), "runs disagree"
        if args.against_fresh and outcome is None:
            differ = [h.name for h in handlers if Closure.of(check_handler(
                h, analysis.search(h), analysis.cache.provider(tree), traces=None))
                != closures[h]]
            print(f"checked from scratch, without replays: {len(handlers) - len(differ)} of "
                  f"{len(handlers)} the same; differ: {differ[:10]}")
            assert not differ, "a replay changed an outcome"
        outcome = (errors, warnings)
        del analysis, closures
        gc.collect()  # before the next floor, not in it
    floor, summaries, checks = (statistics.median(r[i] for r in runs) for i in range(3))
    ratio = statistics.median((s + c) / f for f, s, c in runs)
    print(f"modules: {len(modules)}  source: {size / 1e6:.1f} MB")
    print(f"medians of {args.repeat} runs, each against a floor measured beside it")
    print(f"parse floor (ast.parse, 1 process): {floor:.2f} s")
    if grimp_s is not None:
        print(f"grimp build_graph (module graph only, no name checks): {grimp_s:.2f} s")
    print(f"reviewbot: summaries {summaries:.2f} s + checks of {len(handlers)} handlers "
          f"{checks:.2f} s ({ratio:.2f}x the floor; runs: "
          f"{', '.join(f'{(s + c) / f:.2f}x' for f, s, c in runs)})")
    print(f"peak RSS of the first run: {peak:.0f} MB (parsing workers: {peak_children:.0f} MB "
          f"each at most)")
    print(f"distinct import errors: {len(errors)}  warnings: {len(warnings)}")
    confirmed = 0
    for (path, line, message), handler in sorted(errors.items()):
        verdict = ""
        if args.verify and "(raised when" in message:
            verdict = "  [inside a function: importing cannot confirm it]"
        elif args.verify:
            proc = subprocess.run(
                [sys.executable, "-c", f"import importlib; importlib.import_module({handler!r})"],
                capture_output=True, text=True, timeout=120)
            failed = proc.returncode != 0
            confirmed += failed
            verdict = "  [confirmed at runtime]" if failed else "  [FALSE ALARM: imports fine]"
        print(f"  {path}:{line}: {message} (via {handler}){verdict}")
    if args.verify:
        at_call = sum("(raised when" in m for (_, _, m) in errors)
        judged = len(errors) - at_call
        print(f"import-time errors confirmed by a real import: {confirmed}/{judged}; "
              f"false errors: {judged - confirmed}; inside functions (not judged): {at_call}")
    kinds: dict[str, int] = {}
    for (_, _, kind) in warnings:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"warnings by kind: {kinds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
