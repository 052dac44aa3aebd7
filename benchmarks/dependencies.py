"""Third-party packages against the real index: resolve, fetch, read and check a function.

    python benchmarks/dependencies.py [--runtime python3.12] [--arch x86_64]

A realistic function (boto3, requests, pydantic 2, aws-lambda-powertools, and Flask 2.2.2 with
Werkzeug 3 pinned: the drift that breaks `import flask` at cold start) is checked twice
with `reviewbot check`'s engine and a fresh cache folder:
- first run: resolution with uv, wheel downloads, reading, checking;
- warm run: a new Installer and a new summary cache over the same folder, as a second CLI
  run would be.
Prints both times, the errors found, and the index requests of the warm run (uv runs and
wheel downloads), which must be 0. Needs the network (PyPI, or REVIEWBOT_INDEX_URL).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from reviewbot.analysis import Analysis
from reviewbot.cache import SummaryCache
from reviewbot.dependencies.sites import default_installer
from reviewbot.model import Handler
from reviewbot.tree import Tree

REQUIREMENTS = """boto3==1.35.36
requests>=2.31
pydantic>=2,<3
aws-lambda-powertools==3.2.0
flask==2.2.2
werkzeug==3.0.1
"""

APP = """import json

import boto3
import requests
from aws_lambda_powertools import Logger
from pydantic import BaseModel, field_validator

import flask

logger = Logger()


class Order(BaseModel):
    id: int

    @field_validator("id")
    @classmethod
    def positive(cls, value):
        return value


def handler(event, context):
    return json.dumps({"ok": True})
"""


def run(cache_dir: Path, handler: Handler, files: dict[str, str]):
    installer = default_installer(cache_dir)
    start = time.perf_counter()
    placed = installer.install(Tree.from_files(files), [handler])
    installed = time.perf_counter() - start
    result = Analysis(placed.tree, SummaryCache(cache_dir), sites=placed.sites).check(handler)
    total = time.perf_counter() - start
    requests = installer.resolver.runs + installer.store.fetched
    return total, installed, result, placed, requests


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--arch", default="x86_64", choices=("x86_64", "arm64"))
    args = parser.parse_args()
    handler = Handler(name="orders", handler="app.handler", root="fn", runtime=args.runtime,
                      arch=args.arch)
    files = {"fn/requirements.txt": REQUIREMENTS, "fn/app.py": APP}
    with tempfile.TemporaryDirectory(prefix="reviewbot-deps-bench-") as scratch:
        cache = Path(scratch)
        first, first_install, result, placed, first_requests = run(cache, handler, files)
        warm, warm_install, again, _, warm_requests = run(cache, handler, files)
        wheels = sorted((cache / "dependencies" / "wheels").glob("*.whl"))
        size = sum(w.stat().st_size for w in wheels)
    print(f"function: {args.runtime} / {args.arch}, {len(REQUIREMENTS.split())} requirements")
    for note in placed.notes:
        print(f"note: {note}")
    print(f"wheels: {len(wheels)} ({size / 1e6:.1f} MB)")
    print(f"first run: {first:.2f} s (resolve + fetch + read {first_install:.2f} s), "
          f"index requests: {first_requests}")
    print(f"warm run:  {warm:.2f} s (resolve + fetch + read {warm_install:.2f} s), "
          f"index requests: {warm_requests}")
    for f in result.errors:
        print(f"error: {f.path}:{f.line}: {f.message}")
    for f in result.warnings:
        print(f"warning: {f.path}:{f.line}: {f.message}")
    same = [(f.path, f.message) for f in again.errors] == [(f.path, f.message)
                                                            for f in result.errors]
    print(f"warm findings equal the first run's: {same}")
    return 0 if warm_requests == 0 and same else 1


if __name__ == "__main__":
    sys.exit(main())
