"""Cold analysis time against repository size, with the parse floor, as a PNG plot.

    python benchmarks/scaling.py [--sizes 100 500 1000 2500 5000] [--out docs/performance-scaling.png]

For each size, generates a monorepo (one handler per five modules, see monorepo.py) and
measures the stdlib parse floor (`ast.parse` of every file, one process) and a cold
`check --all` (empty cache). Prints a table and writes the plot (needs matplotlib:
`pip install '.[bench]'`).
"""

from __future__ import annotations

import argparse
import ast
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from monorepo import generate

from reviewbot.cache import SummaryCache
from reviewbot.localrun import check_repo


def measure(modules: int, work: Path) -> tuple[float, float, float]:
    repo = work / f"repo-{modules}"
    files = generate(repo, modules=modules, handlers=max(modules // 5, 1))
    sources = [t.encode() for p, t in files.items() if p.endswith(".py")]
    t0 = time.perf_counter()
    for s in sources:
        ast.parse(s)
    floor = time.perf_counter() - t0
    gc.disable()  # as the `reviewbot` command runs `check`; the floor keeps the GC on
    t0 = time.perf_counter()
    report = check_repo(str(repo), "main", "main", check_all=True,
                        cache=SummaryCache(work / f"cache-{modules}"))
    cold = time.perf_counter() - t0
    gc.enable()
    gc.collect()
    assert not report.errors
    shutil.rmtree(repo)
    return len(sources), floor, cold


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000, 2500, 5000])
    ap.add_argument("--out", type=Path, default=Path("docs/performance-scaling.png"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reviewbot-scaling-"))
    rows = []
    print(f"{'modules':>8} {'floor s':>8} {'cold s':>8} {'ratio':>6}")
    for size in args.sizes:
        n, floor, cold = measure(size, work)
        rows.append((n, floor, cold))
        print(f"{n:8d} {floor:8.2f} {cold:8.2f} {cold / floor:6.2f}")
    shutil.rmtree(work, ignore_errors=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    xs = [r[0] for r in rows]
    ax.plot(xs, [r[1] for r in rows], "o--", label="parse floor (ast.parse, 1 process)")
    ax.plot(xs, [r[2] for r in rows], "o-", label="reviewbot check --all, cold cache")
    ax.set_xlabel("modules in the repository (one Lambda handler per five)")
    ax.set_ylabel("seconds")
    ax.set_title("Cold analysis time against repository size")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
