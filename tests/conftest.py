"""Shared fixtures: an isolated cache dir, no package index, and small git repositories
built by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reviewbot.demo import commit_all, git, write_files


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REVIEWBOT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # Tests never use the package index: a resolution nobody set up fails at once (a closed
    # local port) and falls back; tests of resolution give their own local index.
    monkeypatch.setenv("REVIEWBOT_INDEX_URL", "http://127.0.0.1:9/simple")


class Repo:
    """A throwaway git repository: write files, commit, branch."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q", "-b", "main")

    def write(self, files: dict[str, str]) -> None:
        write_files(self.path, files)

    def remove(self, *paths: str) -> None:
        for p in paths:
            os.remove(self.path / p)

    def commit(self, files: dict[str, str] | None = None, message: str = "change") -> str:
        if files:
            self.write(files)
        return commit_all(self.path, message)

    def branch(self, name: str) -> None:
        git(self.path, "checkout", "-q", "-b", name)

    def checkout(self, name: str) -> None:
        git(self.path, "checkout", "-q", name)


@pytest.fixture
def make_repo(tmp_path):
    count = 0

    def make() -> Repo:
        nonlocal count
        count += 1
        return Repo(tmp_path / f"repo{count}")

    return make
