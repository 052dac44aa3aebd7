"""Fetching pinned wheels: once, by hash, bounded, evicted least-recently-used."""

from __future__ import annotations

import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reviewbot.dependencies.lock import IndexConfig, PinnedWheel
from reviewbot.dependencies.wheelstore import FetchError, WheelStore
from tests.dependencies.wheels import build_wheel, sha256


@pytest.fixture
def served(tmp_path):
    """A folder of wheels served over HTTP, with the Authorization headers it saw."""
    folder = tmp_path / "served"
    folder.mkdir()
    seen: list[str | None] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            super().do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def pinned(path, base: str) -> PinnedWheel:
    return PinnedWheel(path.name.split("-")[0], "1.0", f"{base}/{path.name}", sha256(path),
                       path.stat().st_size)


def test_a_wheel_is_fetched_once_and_checked_by_hash(tmp_path, served):
    folder, base, seen = served
    wheel = pinned(build_wheel(folder, "alpha", "1.0", {"alpha.py": "A = 1\n"}), base)
    store = WheelStore(tmp_path / "store")
    first = store.get(wheel)
    assert sha256(first.path) == wheel.sha256 and store.fetched == 1
    again = WheelStore(tmp_path / "store")
    assert again.get(wheel).path == first.path and again.fetched == 0
    assert len(seen) == 1


def test_bytes_that_do_not_match_the_lock_are_refused_and_not_kept(tmp_path, served):
    folder, base, _ = served
    path = build_wheel(folder, "alpha", "1.0", {"alpha.py": "A = 1\n"})
    wheel = pinned(path, base)
    path.write_bytes(path.read_bytes() + b"tampered")
    store = WheelStore(tmp_path / "store")
    with pytest.raises(FetchError, match="is not the locked"):
        store.get(wheel)
    assert list((tmp_path / "store").iterdir()) == []


def test_a_wheel_over_the_cap_is_refused_before_and_while_downloading(tmp_path, served):
    folder, base, seen = served
    wheel = pinned(build_wheel(folder, "big", "1.0", {"big.py": "x = 1\n" * 5000}), base)
    store = WheelStore(tmp_path / "store", max_wheel=100)
    with pytest.raises(FetchError, match="over the 100-byte cap"):
        store.get(wheel)
    assert seen == []  # the lock's size said so: nothing was requested
    unsized = PinnedWheel(wheel.name, wheel.version, wheel.url, wheel.sha256, None)
    with pytest.raises(FetchError, match="over the 100-byte cap"):
        store.get(unsized)
    assert [p.name for p in (tmp_path / "store").iterdir()] == []


def test_an_unreachable_host_is_a_clear_error(tmp_path):
    wheel = PinnedWheel("x", "1", "http://127.0.0.1:9/x-1-py3-none-any.whl", "0" * 64)
    with pytest.raises(FetchError, match="could not be fetched"):
        WheelStore(tmp_path / "store", timeout=2).get(wheel)


def test_credentials_of_the_index_go_to_its_own_host_only(tmp_path, served):
    folder, base, seen = served
    wheel = pinned(build_wheel(folder, "alpha", "1.0", {"alpha.py": ""}), base)
    private = base.replace("http://", "http://aws:s3cr%40t@") + "/simple"
    WheelStore(tmp_path / "a", IndexConfig(default=private)).get(wheel)
    other = "http://aws:nope@elsewhere.example/simple"
    WheelStore(tmp_path / "b", IndexConfig(default=other)).get(wheel)
    assert seen == ["Basic YXdzOnMzY3JAdA==", None]  # aws:s3cr@t


def test_least_recently_used_wheels_are_evicted_beyond_the_cap(tmp_path, served):
    folder, base, _ = served
    wheels = [pinned(build_wheel(folder, f"w{i}", "1.0", {f"w{i}.py": f"X = {'1' * 3000}\n"}),
                     base) for i in range(3)]
    size = max(w.size for w in wheels)
    store = WheelStore(tmp_path / "store", cap=2 * size + 10)
    first = store.get(wheels[0]).path
    os.utime(first, (1, 1))  # long unused
    second = store.get(wheels[1]).path
    os.utime(second, (2, 2))
    store.get(wheels[0])  # used again: now the newest
    store.get(wheels[2])
    assert sorted(p.name for p in (tmp_path / "store").glob("*.whl")) == sorted(
        [f"{wheels[0].sha256}.whl", f"{wheels[2].sha256}.whl"])
