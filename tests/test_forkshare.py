"""A batch split with a forked child: same results, in order, whatever the child does."""

from __future__ import annotations

import os
import time

import pytest

from reviewbot import forkshare
from reviewbot.forkshare import fork_share

pytestmark = pytest.mark.skipif(not forkshare.available(), reason="needs Linux and 2 CPUs")


def square_with_pid(x: int) -> tuple[int, int]:
    time.sleep(0.01)  # long enough for every process to take chunks
    return x * x, os.getpid()


def test_chunks_are_shared_with_a_child_and_results_keep_their_order():
    items = list(range(40))
    results = fork_share(items, square_with_pid, pack=lambda r: r, unpack=lambda r: r,
                         chunk=3, processes=2)
    assert [value for value, _ in results] == [x * x for x in items]
    pids = [pid for _, pid in results]
    assert os.getpid() in pids and len(set(pids)) == 2  # both did some
    for start in range(0, 40, 3):  # a chunk is done by one process
        assert len(set(pids[start:start + 3])) == 1


def test_results_cross_as_packed_and_are_unpacked():
    parent = os.getpid()

    def run(x):
        time.sleep(0.01)
        return (x, os.getpid() == parent)

    results = fork_share(list(range(20)), run, pack=lambda r: r[0],
                         unpack=lambda x: (x, "unpacked"), chunk=2, processes=2)
    assert [x for x, _ in results] == list(range(20))
    assert {how for _, how in results} == {True, "unpacked"}


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
            time.sleep(30)  # a long share: the child is killed, not waited for
        raise ValueError("bad item")

    with pytest.raises(ValueError, match="bad item"):
        fork_share(list(range(6)), run, pack=lambda r: r, unpack=lambda r: r, chunk=2)
    [pid] = forked
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # killed and reaped: nothing left behind


def test_three_processes_share_the_chunks():
    results = fork_share(list(range(60)), square_with_pid, pack=lambda r: r,
                         unpack=lambda r: r, chunk=2, processes=3)
    assert [value for value, _ in results] == [x * x for x in range(60)]
    assert len({pid for _, pid in results}) == 3
