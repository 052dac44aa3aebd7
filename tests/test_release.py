"""Release hygiene: one version, a changelog entry for it, the license pyproject names."""

import re
import tomllib
from importlib.metadata import metadata
from pathlib import Path

import reviewbot

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_in_one_place():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert metadata("reviewbot")["Version"] == reviewbot.__version__


def test_the_changelog_has_the_version_and_keeps_the_format():
    text = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.M)
    assert headings[0] == ("Unreleased", "")
    assert (reviewbot.__version__, headings[1][1]) == headings[1]  # newest release, dated
    for section in re.findall(r"^### (.+)$", text, re.M):
        assert section in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_the_license_file_is_the_one_pyproject_names():
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    python = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", python)
