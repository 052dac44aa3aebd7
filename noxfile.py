"""The tests whose verdicts depend on the Python reviewbot runs on, under each supported one.

    nox                # every supported version this machine has (others are skipped)
    nox -s tests-3.13  # one

reviewbot parses with its own Python (docs/check.md, "Runtime versions"), so what a summary
says, the stdlib tables' use and the CPython-judged checks are run under 3.11, 3.12 and
3.13. `.ci/run` runs the README's test command first, then this for 3.12 and 3.13 with the
pyenv interpreters on PATH.
"""

import nox

VERSION_SENSITIVE = [
    "tests/summary",
    "tests/discovery",
    "tests/test_stdlib.py",
    "tests/test_importcheck.py",
    "tests/test_package.py",
    "tests/test_localproject.py",
    "tests/test_cache.py",
    "tests/test_replay.py",
    "tests/test_replay_random.py",
    "tests/test_review.py",
]


@nox.session(python=["3.11", "3.12", "3.13"])
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *VERSION_SENSITIVE)
