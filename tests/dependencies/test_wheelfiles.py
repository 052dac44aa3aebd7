"""Reading a wheel: its import names from its files, never guessed; hostile archives refused."""

from __future__ import annotations

import zipfile

import pytest

from reviewbot.dependencies.wheelfiles import WheelError, read_wheel
from tests.dependencies.wheels import build_wheel


def test_import_names_come_from_the_files_not_the_distribution_name(tmp_path):
    wheel = build_wheel(tmp_path, "python-dateutil", "2.9.0", {
        "dateutil/__init__.py": "", "dateutil/tz/__init__.py": "from .tz import *\n",
        "dateutil/tz/tz.py": "UTC = 1\n", "six.py": "X = 1\n",
        "python_dateutil-2.9.0.data/purelib/extra_mod.py": "",
        "python_dateutil-2.9.0.data/scripts/run": "#!/bin/sh\n",
        "google/protobuf/__init__.py": ""})
    contents = read_wheel(wheel)
    assert contents.top_level == {"dateutil", "six", "extra_mod", "google"}
    assert contents.namespaces == {"google"}
    assert contents.sources["dateutil/tz/tz.py"] == b"UTC = 1\n"
    assert "extra_mod.py" in contents.sources  # *.data/purelib is moved up, as builds do


def test_a_compiled_module_is_present_with_no_source(tmp_path):
    wheel = build_wheel(tmp_path, "fastthing", "1.0", {
        "fastthing/__init__.py": "from ._core import run\n",
        "fastthing/_core.cpython-312-x86_64-linux-gnu.so": b"\x7fELF",
        "_speedups.abi3.so": b"\x7fELF"}, tag="cp312-cp312-manylinux_2_17_x86_64")
    contents = read_wheel(wheel)
    assert contents.top_level == {"fastthing", "_speedups"}
    assert set(contents.extensions) == {"fastthing/_core.cpython-312-x86_64-linux-gnu.so",
                                        "_speedups.abi3.so"}


@pytest.mark.parametrize("member", ["../escape.py", "/etc/passwd.py", "pkg/../../x.py",
                                    "C:/windows.py"])
def test_a_path_outside_the_package_is_refused(tmp_path, member):
    wheel = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("evil/__init__.py", "")
        archive.writestr(member, "x = 1\n")
    with pytest.raises(WheelError, match="outside the package"):
        read_wheel(wheel)


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    wheel = tmp_path / "bomb-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/__init__.py", b"\0" * (50 * 1024 * 1024))
    assert wheel.stat().st_size < 1024 * 1024
    with pytest.raises(WheelError, match="zip bomb"):
        read_wheel(wheel)


def test_a_wheel_over_the_cap_is_refused(tmp_path):
    wheel = build_wheel(tmp_path, "big", "1.0", {"big/__init__.py": "x = 1\n" * 1000})
    with pytest.raises(WheelError, match="over the 1000-byte cap"):
        read_wheel(wheel, max_unpacked=1000)


def test_not_a_zip_is_a_clear_error(tmp_path):
    wheel = tmp_path / "junk-1.0-py3-none-any.whl"
    wheel.write_bytes(b"<html>502 Bad Gateway</html>")
    with pytest.raises(WheelError, match="not a readable wheel"):
        read_wheel(wheel)
