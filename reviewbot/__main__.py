"""`python -m reviewbot` is the same as the `reviewbot` command."""

from reviewbot.cli import run

run()
