"""CDK discovery's share of a check, on a real repository.

    python benchmarks/cdk_discovery.py REPO [--repeat 5]

REPO is a git checkout (a clone of a public CDK app, for instance). Prints, in seconds:
- discovery: `discover()` of every deployment file at HEAD (CDK apps read, never run),
  the median of `--repeat` runs over the same tree, its file contents already read;
- of which CDK: the CDK reader alone;
- check --all: the whole `reviewbot check --all` engine with a cold summary cache
  (git reads, discovery, parsing, every handler; third-party packages not read);
and discovery as a fraction of the check.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from reviewbot.cache import SummaryCache
from reviewbot.discovery import cdk, discover
from reviewbot.gitsource import GitRepo
from reviewbot.localrun import check_repo


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    repo = GitRepo(args.repo)
    tree = repo.tree(repo.resolve("HEAD"))
    tree.prefetch(p for p in tree.blobs if p.endswith((".py", ".ts", ".json", ".yml",
                                                      ".yaml", ".tf")))
    found_t, found = median_time(lambda: discover(tree), args.repeat)
    cdk_t, _ = median_time(lambda: cdk.discover(tree), args.repeat)
    with tempfile.TemporaryDirectory() as cache_dir:
        check_t, report = median_time(lambda: check_repo(
            args.repo, "HEAD", "HEAD", check_all=True,
            cache=SummaryCache(Path(cache_dir))), 1)
    print(f"repository: {args.repo}: {len(tree.blobs)} files, {len(found.handlers)} handlers, "
          f"{len(found.unresolved)} unresolved")
    print(f"discovery (all formats): {found_t * 1000:8.1f} ms")
    print(f"  of which CDK apps:     {cdk_t * 1000:8.1f} ms")
    print(f"check --all (cold):      {check_t * 1000:8.1f} ms  "
          f"({len(report.errors)} errors)")
    print(f"discovery / check:       {found_t / check_t:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
