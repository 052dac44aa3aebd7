"""Resolution for the function's runtime and architecture, wheels only, from a local index."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest

from reviewbot.dependencies.lock import IndexConfig, Resolver, Target
from tests.dependencies.wheels import build_wheel, sha256

X86_312 = Target((3, 12), "x86_64")


@pytest.fixture
def links(tmp_path):
    folder = tmp_path / "links"
    build_wheel(folder, "alpha", "1.0", {"alpha/__init__.py": "A = 1\n"}, ("beta>=1",))
    build_wheel(folder, "beta", "1.0", {"beta_mod/__init__.py": "B = 1\n"})
    build_wheel(folder, "beta", "2.0", {"beta_mod/__init__.py": "B = 2\nC = 3\n"},
                ("gamma; python_version < '3.10'",))
    build_wheel(folder, "gamma", "1.0", {"gamma.py": ""})
    build_wheel(folder, "native", "1.0", {"native/__init__.py": "", "native/_c.abi3.so": b""},
                tag="cp312-abi3-manylinux_2_17_x86_64")
    build_wheel(folder, "cyc-a", "1.0", {"cyc_a.py": ""}, ("cyc-b",))
    build_wheel(folder, "cyc-b", "1.0", {"cyc_b.py": ""}, ("cyc-a",))
    return folder


def resolver(tmp_path, links, **kw) -> Resolver:
    return Resolver(tmp_path / "cache", IndexConfig(find_links=(str(links),), no_index=True),
                    **kw)


def pins(resolution) -> dict[str, str]:
    return {w.name: w.version for w in resolution.wheels}


def test_transitive_dependencies_and_markers_follow_the_runtime(tmp_path, links):
    r = resolver(tmp_path, links)
    assert pins(r.resolve(["alpha"], X86_312)) == {"alpha": "1.0", "beta": "2.0"}
    assert pins(r.resolve(["alpha"], Target((3, 9)))) == {"alpha": "1.0", "beta": "2.0",
                                                           "gamma": "1.0"}


def test_pins_and_constraints_hold(tmp_path, links):
    r = resolver(tmp_path, links)
    assert pins(r.resolve(["alpha", "beta==1.0"], X86_312))["beta"] == "1.0"
    assert pins(r.resolve(["alpha"], X86_312, constraints=["beta<2"]))["beta"] == "1.0"


def test_each_wheel_has_its_url_and_hash(tmp_path, links):
    [wheel] = resolver(tmp_path, links).resolve(["gamma"], X86_312).wheels
    assert wheel.filename == "gamma-1.0-py3-none-any.whl"
    assert wheel.sha256 == sha256(links / wheel.filename)


def test_a_requirement_with_no_wheel_for_the_architecture_is_dropped_and_named(tmp_path, links):
    r = resolver(tmp_path, links)
    assert set(pins(r.resolve(["native", "gamma"], X86_312))) == {"native", "gamma"}
    arm = r.resolve(["native", "gamma"], Target((3, 12), "arm64"))
    assert pins(arm) == {"gamma": "1.0"} and arm.no_wheel == ("native",)
    assert arm.error is None
    assert Target((3, 12), "arm64").label == "python3.12 / aarch64"


def test_a_dependency_cycle_resolves(tmp_path, links):
    assert pins(resolver(tmp_path, links).resolve(["cyc-a"], X86_312)) == {"cyc-a": "1.0",
                                                                           "cyc-b": "1.0"}


def test_an_unchanged_function_makes_no_second_run(tmp_path, links):
    r = resolver(tmp_path, links)
    first = r.resolve(["alpha"], X86_312)
    again = resolver(tmp_path, links)  # a new process: the disk cache answers
    assert again.resolve(["alpha"], X86_312) == first and again.runs == 0
    again.resolve(["alpha"], Target((3, 11)))  # another runtime is another resolution
    assert again.runs == 1


def test_an_unknown_distribution_is_an_error_that_is_not_kept(tmp_path, links):
    r = resolver(tmp_path, links)
    result = r.resolve(["no-such-dist"], X86_312)
    assert result.error and "no-such-dist" in result.error and not result.wheels
    assert not result.unsatisfiable  # another index may have it
    r.resolve(["no-such-dist"], X86_312)
    assert r.runs == 2


def test_conflicting_requirements_are_kept_as_unsatisfiable(tmp_path, links):
    r = resolver(tmp_path, links)
    result = r.resolve(["alpha==1.0", "beta<1"], X86_312)
    assert result.unsatisfiable and "beta" in result.error and not result.wheels
    assert r.resolve(["alpha==1.0", "beta<1"], X86_312) == result
    assert r.runs == 1  # the index gives the same answer: no second run


def test_an_index_that_never_answers_is_a_bounded_error(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []
    stop = threading.Event()

    def accept():  # take connections and say nothing
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/simple"
        r = Resolver(tmp_path / "cache", IndexConfig(default=url), timeout=60,
                     http_timeout="1")
        result = r.resolve(["alpha"], X86_312)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result.error is not None and not result.wheels


def test_the_index_comes_from_the_environment():
    env = {"PIP_INDEX_URL": "https://pip.example/simple", "REVIEWBOT_INDEX_URL":
           "https://user:token@codeartifact.example/simple", "UV_EXTRA_INDEX_URL":
           "https://a.example/simple https://b.example/simple", "PIP_FIND_LINKS": "/wheels"}
    index = IndexConfig.from_env(env)
    assert index.default == "https://user:token@codeartifact.example/simple"
    assert index.extra == ("https://a.example/simple", "https://b.example/simple")
    assert index.arguments()[:2] == ["--default-index", index.default]
    assert "token" not in index.key()
