"""Time and memory against repository size: the parse floor, a cold check, a warm PR.

    python benchmarks/scaling.py [--sizes 2000 8000 20000 50000] [--out docs/performance-scaling.png]

For each size, generates one shape of monorepo (see monorepo.py): one Lambda handler per
ten modules, in SAM templates of at most 100 functions, sharing a layer whose packages
import across each other, so a handler's import closure grows with the layer. In the same
run it measures:
- the parse floor: `ast.parse` of every `.py` file, in this process;
- cold: `reviewbot check --all` as a subprocess with an empty cache folder;
- warm PR: `reviewbot check --base main --head pr`, a branch that edits one layer module,
  as a subprocess over the cache the cold run left;
- the peak resident memory of each subprocess's whole process tree, sampled from /proc
  every 50 ms (PSS: a page a forked worker shares with its parent counts once).
Prints a table and writes the plot (needs matplotlib: `pip install '.[bench]'`).
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).parent))

from monorepo import generate

PAGE = os.sysconf("SC_PAGE_SIZE")


class Row(NamedTuple):
    modules: int
    handlers: int
    floor: float
    cold: float
    cold_rss: int
    warm: float
    warm_rss: int
    affected: str


def tree_rss(root: int) -> int:
    """Resident bytes (PSS) of `root` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += resident(pid)
        todo += children.get(pid, [])
    return total


def resident(pid: int) -> int:
    """A process's proportional set size (a page shared by n processes counts 1/n, so
    forked workers' shared pages are not counted twice), else its RSS."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


def run_measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, str]:
    """Wall time, peak tree RSS and stdout of one command."""
    peak = 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{err[-2000:]}")
    return wall, peak, out


def floor_of(repo: Path) -> tuple[int, float]:
    sources = [p.read_bytes() for p in repo.rglob("*.py") if ".git" not in p.parts]
    t0 = time.perf_counter()
    for s in sources:
        ast.parse(s)
    return len(sources), time.perf_counter() - t0


def make_pr(repo: Path) -> None:
    """A branch `pr` that adds a function to one module in the middle of the layer."""
    packages = sorted((repo / "layer/python").iterdir())
    target = sorted(packages[len(packages) // 2].glob("mod_*.py"))[1]
    with target.open("a") as f:
        f.write("\n\ndef added_in_review(value):\n    return value * 2\n")
    git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=b@x"]
    subprocess.run([*git, "checkout", "-q", "-b", "pr"], check=True)
    subprocess.run([*git, "commit", "-q", "-am", "edit one layer module"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)


def measure(modules: int, work: Path) -> Row:
    repo = work / f"repo-{modules}"
    handlers = max(modules // 10, 1)
    generate(repo, modules=modules, handlers=handlers, sam=True)
    n, floor = floor_of(repo)
    make_pr(repo)
    env = {**os.environ, "REVIEWBOT_CACHE_DIR": str(work / f"cache-{modules}")}
    reviewbot = [sys.executable, "-m", "reviewbot", "check"]
    cold, cold_rss, _ = run_measured([*reviewbot, "--all", "--head", "main"], repo, env)
    warm, warm_rss, out = run_measured([*reviewbot, "--base", "main", "--head", "pr"], repo, env)
    affected = next((line.strip() for line in out.splitlines() if "handler" in line), "?")
    shutil.rmtree(repo)
    shutil.rmtree(work / f"cache-{modules}")
    return Row(n, handlers, floor, cold, cold_rss, warm, warm_rss, affected)


def plot(rows: list[Row], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    xs = [r.modules for r in rows]
    time_ax.plot(xs, [r.floor for r in rows], "o--", label="parse floor (ast.parse, 1 process)")
    time_ax.plot(xs, [r.cold for r in rows], "o-", label="check --all, cold cache")
    time_ax.plot(xs, [r.warm for r in rows], "s-", label="one-file PR, warm cache")
    time_ax.set_ylabel("seconds (whole process)")
    mem_ax.plot(xs, [r.cold_rss / 1e6 for r in rows], "o-", label="check --all, cold cache")
    mem_ax.plot(xs, [r.warm_rss / 1e6 for r in rows], "s-", label="one-file PR, warm cache")
    mem_ax.set_ylabel("peak memory of the process tree (PSS), MB")
    for ax in (time_ax, mem_ax):
        ax.set_xlabel("modules (one Lambda handler per ten)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("reviewbot against repository size")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000, 20000, 50000])
    ap.add_argument("--out", type=Path, default=Path("docs/performance-scaling.png"))
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reviewbot-scaling-"))
    rows = []
    print(f"{'modules':>8} {'handlers':>8} {'floor s':>8} {'cold s':>8} {'ratio':>6} "
          f"{'cold MB':>8} {'PR s':>6} {'ratio':>6} {'PR MB':>6}  PR verdict", flush=True)
    try:
        for size in args.sizes:
            r = measure(size, work)
            rows.append(r)
            print(f"{r.modules:8d} {r.handlers:8d} {r.floor:8.2f} {r.cold:8.2f} "
                  f"{r.cold / r.floor:6.2f} {r.cold_rss / 1e6:8.0f} {r.warm:6.2f} "
                  f"{r.warm / r.floor:6.3f} {r.warm_rss / 1e6:6.0f}  {r.affected}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_plot:
        plot(rows, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
