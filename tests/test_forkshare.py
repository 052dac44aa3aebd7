"""A batch split with a forked child: same results, in order, whatever the child does."""

from __future__ import annotations

import os

import pytest

from reviewbot import forkshare
from reviewbot.forkshare import fork_share

pytestmark = pytest.mark.skipif(not forkshare.available(), reason="needs Linux and 2 CPUs")


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def test_every_other_chunk_is_done_by_a_child_and_results_keep_their_order():
    items = list(range(10))
    results = fork_share(items, square_with_pid, pack=lambda r: r, unpack=lambda r: r,
                         chunk=3)
    assert [value for value, _ in results] == [x * x for x in items]
    pids = [pid for _, pid in results]
    assert set(pids[0:3] + pids[6:9]) == {os.getpid()}
    child = set(pids[3:6] + pids[9:])
    assert len(child) == 1 and os.getpid() not in child


def test_results_cross_as_packed_and_are_unpacked():
    results = fork_share(list(range(8)), lambda x: [x] * 3, pack=lambda r: len(r),
                         unpack=lambda n: ["packed"] * n, chunk=2)
    assert results[0:2] == [[0] * 3, [1] * 3]
    assert results[2:4] == [["packed"] * 3, ["packed"] * 3]


def test_a_small_batch_is_not_split():
    results = fork_share([1, 2, 3], square_with_pid, pack=lambda r: r, unpack=lambda r: r,
                         chunk=2)
    assert {pid for _, pid in results} == {os.getpid()}


def test_a_failed_child_leaves_its_share_to_this_process():
    def boom():
        raise RuntimeError("the child cannot start")

    results = fork_share(list(range(6)), square_with_pid, pack=lambda r: r,
                         unpack=lambda r: r, in_child=boom, chunk=2)
    assert [value for value, _ in results] == [x * x for x in range(6)]
    assert {pid for _, pid in results} == {os.getpid()}


def test_a_child_killed_mid_run_leaves_its_share_to_this_process():
    parent = os.getpid()

    def run(x):
        if os.getpid() != parent:
            os._exit(9)  # as if killed: no result is sent
        return x + 1

    assert fork_share(list(range(6)), run, pack=lambda r: r, unpack=lambda r: r,
                      chunk=2) == [1, 2, 3, 4, 5, 6]


def test_an_error_here_stops_the_child_and_propagates(monkeypatch):
    parent = os.getpid()
    forked = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)

    def run(x):
        if os.getpid() != parent:
            import time

            time.sleep(30)  # a long share: the child is killed, not waited for
        if x == 1:
            raise ValueError("bad item")
        return x

    with pytest.raises(ValueError, match="bad item"):
        fork_share(list(range(6)), run, pack=lambda r: r, unpack=lambda r: r, chunk=2)
    [pid] = forked
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # killed and reaped: nothing left behind
