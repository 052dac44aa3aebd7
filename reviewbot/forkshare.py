"""A CPU-bound batch split between this process and forked copies of it.

The cold checks of a large repository need every module summary in memory; a pool would
have to be sent them all. A forked child already has them: each takes chunks of the batch
from a shared counter as this process does, and sends back compact results through a
pipe. Linux only (fork is unsafe in threaded programs elsewhere, and the server, which
is threaded, never calls this). If a child fails in any way, its share is done here.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

CHUNK = 16  # consecutive items stay together: they share what they record (traces)


def available() -> bool:
    return sys.platform == "linux" and (os.cpu_count() or 1) >= 2


def fork_share(items: Sequence[T], run: Callable[[T], R], pack: Callable[[R], object],
               unpack: Callable[[object], R], *, in_child: Callable[[], None] = lambda: None,
               chunk: int = CHUNK, processes: int | None = None) -> list[R]:
    """`run(item)` for every item, in order. This process and `processes - 1` forked
    children (default: one per CPU) take chunks of consecutive items from a shared counter
    until none is left, so all finish together; a child returns `pack(result)`
    (picklable), which becomes `unpack(packed)` here. `in_child` is called first in each
    child (to drop what it must not touch, such as a database connection)."""
    processes = processes or os.cpu_count() or 1
    if len(items) < 2 * chunk or processes < 2 or not available():
        return [run(item) for item in items]
    chunks = [range(i, min(i + chunk, len(items))) for i in range(0, len(items), chunk)]
    taken = multiprocessing.get_context("fork").Value("i", 0)  # chunks handed out so far

    def take() -> range | None:
        with taken.get_lock():
            index = taken.value
            taken.value += 1
        return chunks[index] if index < len(chunks) else None

    children = []  # (pid, read end of its pipe)
    for _ in range(min(processes, len(chunks)) - 1):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # a child: never returns
            status = 1
            try:
                os.close(read_end)
                for _, other in children:
                    os.close(other)
                in_child()
                done = []
                while (share := take()) is not None:
                    done.extend((i, pack(run(items[i]))) for i in share)
                data = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_end, "wb") as out:
                    out.write(data)
                status = 0
            finally:
                os._exit(status)  # no atexit handlers, no second flush of inherited buffers
        os.close(write_end)
        children.append((pid, read_end))
    results: list = [None] * len(items)
    todo = [True] * len(items)
    try:
        while (share := take()) is not None:
            for i in share:
                results[i] = run(items[i])
                todo[i] = False
    except BaseException:
        for pid, read_end in children:
            os.kill(pid, signal.SIGKILL)
            os.close(read_end)
            os.waitpid(pid, 0)
        raise
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as inp:
            data = inp.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            continue
        try:
            for i, value in pickle.loads(data):
                if todo[i]:
                    results[i] = unpack(value)
                    todo[i] = False
        except Exception:  # a truncated or garbled result: what is missing is done here
            pass
    for i in range(len(items)):  # the share of a child that failed
        if todo[i]:
            results[i] = run(items[i])
    return results
