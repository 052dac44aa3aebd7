"""The CPython of each Lambda runtime on this machine, for tests that it judges.

Found under pyenv (`$PYENV_ROOT`, else ~/.pyenv) or as `python3.X` on PATH. A test that
needs one that is absent skips, unless REVIEWBOT_REQUIRE_SERVICES=1 (as `.ci/run` sets),
where it fails: CI must judge every version.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")


def interpreter(version: str) -> str | None:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for candidate in sorted(root.glob(f"{version}.*"), reverse=True):
        if (candidate / "bin" / "python").exists():
            return str(candidate / "bin" / "python")
    return shutil.which(f"python{version}")


def require(version: str) -> str:
    found = interpreter(version)
    if found is None:
        message = f"no CPython {version} on this machine (pyenv or python{version} on PATH)"
        if os.environ.get("REVIEWBOT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message}; REVIEWBOT_REQUIRE_SERVICES=1 requires it")
        pytest.skip(message)
    return found
