"""A ceiling on a check's resident memory, so that a job that would outgrow its host
stops with a clear message instead of being killed by the kernel's OOM killer.

The limit is the process's resident set (on Linux, /proc/self/statm): the command line's
`--max-memory` or REVIEWBOT_MAX_MEMORY. The analysis asks between handlers, so a check
stops within one handler's worth of the limit. A forked child of `check` holds itself
to the same limit (its pages shared with the parent count for both).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import re
import resource
import sys
from collections.abc import Mapping

ENV = "REVIEWBOT_MAX_MEMORY"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_MINIMUM = 64 << 20  # below this even the interpreter and its imports do not fit


class MemoryLimitExceeded(Exception):
    """The check needed more resident memory than it may use."""

    def __init__(self, limit: int, used: int, during: str):
        self.limit, self.used, self.during = limit, used, during
        super().__init__(
            f"the check stopped at its memory limit: {mib(used)} resident, over "
            f"the {mib(limit)} allowed ({ENV} or --max-memory), while {during}; "
            f"raise the limit (docs/performance.md, \"Size\", has what large monorepos need)")


def mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def parse_size(text: str) -> int:
    """Bytes from "1536M", "2G", "2GiB", "1.5g" or a plain number of bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size (such as 1536M or 2G)")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < _MINIMUM:
        raise ValueError(f"{text!r} is under the {mib(_MINIMUM)} a check needs at least")
    return size


def resident() -> int:
    """This process's resident memory in bytes (its peak where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class MemoryBudget:
    """The limit one analysis holds itself to; `None` is no limit."""

    def __init__(self, limit: int | None = None):
        self.limit = limit

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MemoryBudget:
        """REVIEWBOT_MAX_MEMORY, or no limit. ValueError if it is not a size."""
        text = (os.environ if env is None else env).get(ENV, "").strip()
        return cls(parse_size(text) if text else None)

    def check(self, during: str) -> None:
        if self.limit is None:
            return
        used = resident()
        if used > self.limit:
            raise MemoryLimitExceeded(self.limit, used, during)


def give_back() -> None:
    """Return freed memory to the system after a check stopped (glibc keeps it else)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)
