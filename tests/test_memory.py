"""The memory ceiling: sizes as people write them, and a check that stops at the limit
with a clear error instead of growing until the kernel kills it."""

from __future__ import annotations

import pytest

from reviewbot.cli import main
from reviewbot.demo import write_incident_repo
from reviewbot.memory import MemoryBudget, MemoryLimitExceeded, parse_size, resident


@pytest.mark.parametrize(("text", "size"), [
    ("1536M", 1536 << 20), ("2G", 2 << 30), ("2GiB", 2 << 30), ("2gb", 2 << 30),
    ("1.5G", 3 << 29), ("512 MiB", 512 << 20), ("1T", 1 << 40), (str(100 << 20), 100 << 20),
])
def test_sizes_as_written(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "why"), [
    ("lots", "is not a size"), ("2X", "is not a size"), ("-1G", "is not a size"),
    ("", "is not a size"), ("10M", "under the 64 MiB"),
])
def test_a_size_that_is_not_one_says_so(text, why):
    with pytest.raises(ValueError, match=why):
        parse_size(text)


def test_the_budget_reads_the_environment():
    assert MemoryBudget.from_env({}).limit is None
    assert MemoryBudget.from_env({"REVIEWBOT_MAX_MEMORY": " 2G "}).limit == 2 << 30
    with pytest.raises(ValueError, match="is not a size"):
        MemoryBudget.from_env({"REVIEWBOT_MAX_MEMORY": "two gigs"})


def test_a_budget_stops_only_past_its_limit():
    used = resident()
    assert used > 10 << 20  # an interpreter with pytest loaded
    MemoryBudget(None).check("checking a")
    MemoryBudget(used * 4).check("checking a")
    with pytest.raises(MemoryLimitExceeded) as raised:
        MemoryBudget(used // 2).check("checking fn_042")
    message = str(raised.value)
    assert "stopped at its memory limit" in message and "checking fn_042" in message
    assert "REVIEWBOT_MAX_MEMORY or --max-memory" in message


@pytest.fixture
def incident(tmp_path):
    repo = tmp_path / "goals"
    return repo, write_incident_repo(repo)


@pytest.fixture
def big(monkeypatch):
    """The process as a check of a large monorepo finds it: 3 GiB resident."""
    monkeypatch.setattr("reviewbot.memory.resident", lambda: 3 << 30)


def test_check_stops_at_max_memory_with_exit_2(incident, capsys, big):
    repo, commits = incident
    code = main(["check", "--repo", str(repo), "--base", "main", "--head", commits["pr"],
                 "--max-memory", "64M"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("reviewbot: error: the check stopped at its memory limit")
    assert "3,072 MiB resident, over the 64 MiB allowed" in err and "while checking" in err


def test_check_takes_the_limit_from_the_environment(incident, capsys, monkeypatch, big):
    repo, commits = incident
    monkeypatch.setenv("REVIEWBOT_MAX_MEMORY", "64M")
    args = ["check", "--repo", str(repo), "--base", "main", "--head", commits["pr"]]
    assert main(args) == 2
    assert "stopped at its memory limit" in capsys.readouterr().err
    monkeypatch.setenv("REVIEWBOT_MAX_MEMORY", "64 furlongs")
    assert main(args) == 2
    assert "REVIEWBOT_MAX_MEMORY: '64 furlongs' is not a size" in capsys.readouterr().err
    monkeypatch.setenv("REVIEWBOT_MAX_MEMORY", "4G")  # room enough: the check runs
    assert main(args) == 1
    assert "GoalValidationError" in capsys.readouterr().out


def test_a_bad_max_memory_is_a_usage_error(incident, capsys):
    repo, _ = incident
    assert main(["check", "--repo", str(repo), "--max-memory", "plenty"]) == 2
    err = capsys.readouterr().err
    assert "argument --max-memory: 'plenty' is not a size (such as 1536M or 2G)" in err
