"""A CPU-bound batch split between this process and one forked copy of it.

The cold checks of a large repository need every module summary in memory; a pool would
have to be sent them all. A forked child already has them: it works through every other
chunk of the batch and sends back compact results through a pipe, while this process does
the rest. Linux only (fork is unsafe in threaded programs elsewhere, and the server, which
is threaded, never calls this). If the child fails in any way, its share is done here.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 32  # consecutive items stay together: they share what they record (traces)


def available() -> bool:
    return sys.platform == "linux" and (os.cpu_count() or 1) >= 2


def fork_share(items: Sequence[T], run: Callable[[T], R], pack: Callable[[R], object],
               unpack: Callable[[object], R], *, in_child: Callable[[], None] = lambda: None,
               chunk: int = CHUNK) -> list[R]:
    """`run(item)` for every item, in order. A forked child runs every other chunk and
    returns `pack(result)` (picklable), which becomes `unpack(packed)` here. `in_child` is
    called first in the child (to drop what it must not touch, such as a database
    connection)."""
    if len(items) < 2 * chunk or not available():
        return [run(item) for item in items]
    mine = [i for i in range(len(items)) if (i // chunk) % 2 == 0]
    theirs = [i for i in range(len(items)) if (i // chunk) % 2 == 1]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 1
        try:
            os.close(read_end)
            in_child()
            data = pickle.dumps([pack(run(items[i])) for i in theirs],
                                protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)  # no atexit handlers, no second flush of inherited buffers
    os.close(write_end)
    results: list = [None] * len(items)
    try:
        for i in mine:
            results[i] = run(items[i])
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.close(read_end)
        os.waitpid(pid, 0)
        raise
    with os.fdopen(read_end, "rb") as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    packed = None
    if status == 0:
        try:
            packed = pickle.loads(data)
        except Exception:  # a truncated or garbled result is a failed child
            packed = None
    if not isinstance(packed, list) or len(packed) != len(theirs):
        for i in theirs:
            results[i] = run(items[i])
    else:
        for i, value in zip(theirs, packed, strict=True):
            results[i] = unpack(value)
    return results
