"""Resolving a function's requirements the way its build would, wheels only.

AWS builds Python functions with `pip install --platform manylinux… --only-binary=:all:
--python-version 3.X`: the wheels of the function's runtime and architecture, never an
sdist. uv resolves the same way across platforms (`--python-platform`, `--no-build`) and
writes the pinned wheels, URL and hash, as a PEP 751 lock (`pylock.toml`). Nothing from a
package is built or run. A requirement with no wheel for the target is dropped with a
warning and the rest resolved again; an unreachable index is an error the caller falls
back from (see docs/check.md, "Third-party packages").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from reviewbot.package import target_label

RESOLVE_TIMEOUT = 120  # seconds for one uv run, network included
HTTP_TIMEOUT = "20"  # seconds per request (UV_HTTP_TIMEOUT)
_NO_WHEEL = re.compile(r"Because ([A-Za-z0-9._-]+)(?:[=<>!~]=?[^ ]*)? has no (?:usable wheels|"
                       r"wheels with a matching)")
_GLIBC = re.compile(r"manylinux_(\d+)_(\d+)|manylinux(2014|2010|1)")


@dataclass(frozen=True)
class Target:
    """The runtime a function's package is built for."""

    python: tuple[int, int]
    arch: str = "x86_64"  # the function's Architectures: x86_64 or arm64

    @property
    def machine(self) -> str:
        return "aarch64" if self.arch == "arm64" else "x86_64"

    @property
    def platform(self) -> str:
        """uv's `--python-platform`: the glibc AWS's builders assume (2.26 up to
        python3.11, 2.34 from 3.12); uv's nearest below 2.26 is 2.17."""
        glibc = "2_34" if self.python >= (3, 12) else "2_17"
        return f"{self.machine}-manylinux_{glibc}"

    @property
    def label(self) -> str:
        return target_label(self.python, self.arch)


@dataclass(frozen=True)
class IndexConfig:
    """Where packages come from: REVIEWBOT_INDEX_URL, else uv's and pip's variables."""

    default: str | None = None
    extra: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IndexConfig:
        def first(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        def many(*names: str) -> tuple[str, ...]:
            return tuple(u for n in names for u in env.get(n, "").split())

        return cls(
            default=first("REVIEWBOT_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX_URL",
                          "PIP_INDEX_URL"),
            extra=many("UV_INDEX", "UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL"),
            find_links=many("UV_FIND_LINKS", "PIP_FIND_LINKS"),
            no_index=any(env.get(n, "").lower() in ("1", "true", "yes")
                         for n in ("UV_NO_INDEX", "PIP_NO_INDEX")))

    def arguments(self) -> list[str]:
        args = ["--no-index"] if self.no_index else []
        if self.default and not self.no_index:
            args += ["--default-index", self.default]
        for url in self.extra if not self.no_index else ():
            args += ["--index", url]
        for link in self.find_links:
            args += ["--find-links", link]
        return args

    def key(self) -> str:
        """Identifies the configuration in cache keys without storing its credentials."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PinnedWheel:
    name: str
    version: str
    url: str
    sha256: str
    size: int | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1].split("#", 1)[0]


@dataclass(frozen=True)
class Resolution:
    """The wheels a build installs, and what kept some out."""

    wheels: tuple[PinnedWheel, ...] = ()
    no_wheel: tuple[str, ...] = ()  # distributions with no wheel for the target
    error: str | None = None  # resolution failed: nothing is known
    # the requirements conflict (uv found no solution): the build fails the same way
    unsatisfiable: bool = False

    def to_plain(self) -> dict:
        return asdict(self)

    @classmethod
    def from_plain(cls, plain: dict) -> Resolution:
        return cls(tuple(PinnedWheel(**w) for w in plain["wheels"]), tuple(plain["no_wheel"]),
                   plain["error"], bool(plain.get("unsatisfiable")))


def _conflict(error: str) -> bool:
    """uv found the requirements conflict among what the index has. A distribution the
    index lacks is not that: another index (a private one) may have it."""
    return "No solution found" in error and not re.search(
        r"not found in the (package registry|provided package locations)", error)


def uv_binary() -> str | None:
    """The uv that ships with reviewbot (the `uv` package), else one on PATH."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


def _best(wheels: list[dict]) -> dict:
    """Of the wheels uv lists for the target, the one pip would pick: the newest glibc."""
    def glibc(wheel: dict) -> tuple[int, int]:
        m = _GLIBC.search(wheel.get("url", ""))
        if not m:
            return (0, 0)
        if m.group(3):
            return {"2014": (2, 17), "2010": (2, 12), "1": (2, 5)}[m.group(3)]
        return (int(m.group(1)), int(m.group(2)))
    return max(wheels, key=glibc)


def parse_pylock(text: str) -> tuple[PinnedWheel, ...]:
    data = tomllib.loads(text)
    out = []
    for package in data.get("packages", ()):
        wheels = package.get("wheels") or []
        if not wheels:
            continue
        wheel = _best(wheels)
        out.append(PinnedWheel(package["name"], str(package.get("version", "")), wheel["url"],
                               wheel.get("hashes", {}).get("sha256", ""), wheel.get("size")))
    return tuple(out)


def _name(requirement: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", m.group(1)).lower() if m else ""


class Resolver:
    """Runs uv for one index configuration; results are kept on disk by what decides them
    (requirements, constraints, target, index, uv's version), so an unchanged function
    makes no index request."""

    def __init__(self, cache_dir: Path | None, index: IndexConfig | None = None, *,
                 uv: str | None = None, timeout: float = RESOLVE_TIMEOUT,
                 http_timeout: str = HTTP_TIMEOUT):
        self.cache_dir = cache_dir
        self.index = index if index is not None else IndexConfig.from_env()
        self.uv = uv if uv is not None else uv_binary()
        self.timeout = timeout
        self.http_timeout = http_timeout
        self.runs = 0  # uv invocations (each may query the index)
        self._version: str | None = None

    def _key(self, requirements: Sequence[str], constraints: Sequence[str],
             target: Target) -> str:
        if self._version is None:
            self._version = "none"
            if self.uv is not None:
                try:
                    self._version = subprocess.run([self.uv, "--version"], capture_output=True,
                                                   text=True, timeout=30).stdout.strip()
                except (OSError, subprocess.TimeoutExpired):
                    self._version = self.uv
        blob = json.dumps([list(requirements), list(constraints), target.python, target.arch,
                           self.index.key(), self._version])
        return hashlib.sha256(blob.encode()).hexdigest()

    def resolve(self, requirements: Sequence[str], target: Target,
                constraints: Sequence[str] = ()) -> Resolution:
        if not requirements:
            return Resolution()
        key = self._key(requirements, constraints, target)
        cached = self._load(key)
        if cached is not None:
            return cached
        result = self._resolve(list(requirements), constraints, target)
        if result.error is None or result.unsatisfiable:  # others may pass (network)
            self._save(key, result)
        return result

    def _resolve(self, requirements: list[str], constraints: Sequence[str],
                 target: Target) -> Resolution:
        if self.uv is None:
            return Resolution(error="uv is not installed (pip install uv)")
        dropped: list[str] = []
        while True:
            wheels, error = self._run(requirements, constraints, target)
            if error is None:
                return Resolution(wheels, tuple(dropped))
            m = _NO_WHEEL.search(error)
            direct = {_name(r): r for r in requirements}
            if m is None or _name(m.group(1)) not in direct:
                first = next((ln.strip() for ln in error.splitlines() if ln.strip()),
                             error).removeprefix("error: ")
                cause = next((ln.strip() for ln in error.splitlines()
                              if ln.strip().startswith("cause:")), "")
                return Resolution(no_wheel=tuple(dropped),
                                  error=" ".join(x for x in (first, cause) if x)[:500],
                                  unsatisfiable=_conflict(error))
            name = _name(m.group(1))
            dropped.append(name)
            requirements = [r for r in requirements if _name(r) != name]
            if not requirements:
                return Resolution(no_wheel=tuple(dropped))

    def _run(self, requirements: list[str], constraints: Sequence[str],
             target: Target) -> tuple[tuple[PinnedWheel, ...], str | None]:
        self.runs += 1
        with tempfile.TemporaryDirectory(prefix="reviewbot-resolve-") as scratch:
            folder = Path(scratch)
            (folder / "requirements.in").write_text("\n".join(requirements) + "\n")
            args = [self.uv, "pip", "compile", "requirements.in", "--format", "pylock.toml",
                    "--output-file", "pylock.toml", "--python-version",
                    f"{target.python[0]}.{target.python[1]}", "--python-platform",
                    target.platform, "--no-build", "--no-config", "--quiet", "--no-header",
                    # the target is given above: no interpreter is looked for or downloaded
                    "--python", sys.executable, "--no-python-downloads",
                    *self.index.arguments()]
            if constraints:
                (folder / "constraints.txt").write_text("\n".join(constraints) + "\n")
                args += ["--constraint", "constraints.txt"]
            env = dict(os.environ, UV_HTTP_TIMEOUT=self.http_timeout, UV_HTTP_RETRIES="1",
                       NO_COLOR="1")
            if self.cache_dir is not None:
                env["UV_CACHE_DIR"] = str(self.cache_dir / "uv")
            try:
                done = subprocess.run(args, cwd=folder, env=env, capture_output=True,
                                      text=True, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                return (), f"the index did not answer within {self.timeout:.0f} s"
            if done.returncode != 0:
                return (), done.stderr.strip() or f"uv exited {done.returncode}"
            return parse_pylock((folder / "pylock.toml").read_text()), None

    def _path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / "resolutions" / f"{key}.json"

    def _load(self, key: str) -> Resolution | None:
        path = self._path(key)
        if path is None or not path.exists():
            return None
        try:
            return Resolution.from_plain(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save(self, key: str, result: Resolution) -> None:
        path = self._path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result.to_plain()))
        os.replace(tmp, path)
