"""The job record and the interfaces between the web front and whatever runs jobs.

Jobs carry ids only (no token crosses the queue): the worker mints its own installation
token. `JobQueue` is the interface of both backends: `embedded.py` runs asyncio worker
tasks in the server process; `distributed.py` (SAQ on Redis or PostgreSQL) is shared by
`reviewbot serve` and `reviewbot worker` processes.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class Job:
    installation_id: int
    repo: str  # owner/name
    head_sha: str
    pr_number: int | None
    base_ref: str | None
    base_sha: str | None
    event: str  # pull_request, check_run, check_suite, merge_group
    delivery_id: str
    action: str = ""
    force: bool = False  # a user asked for this run (re-run): run even if one exists
    # An earlier attempt may have left our run in progress (its worker died, the server
    # restarted): adopt and finish that run instead of treating it as a duplicate.
    resume: bool = False
    # issue_comment jobs: the comment's command-like lines, matched in the worker against
    # `recheck_command` from the base branch's config. head_sha is "" until resolved.
    command: str = ""
    # issue_comment.edited on our sticky comment (the checklist gate,
    # docs/reviewer-workflow.md): the comment, who edited it, the boxes the edit changed
    # [(item id, ticked)], and the body before the edit when the edit changed the bot's
    # text (to restore it). Such a job is one per delivery: it never supersedes, nor is
    # superseded by, another job of the PR.
    comment_id: int | None = None
    sender: str = ""
    ticks: tuple = ()
    restore: str = ""
    # a follow-up rerequest: the queue key of the job it waits for (distributed queue)
    after: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Idempotency key: (repo, pr_or_sha, head_sha)."""
        target = f"#{self.pr_number}" if self.pr_number is not None else self.head_sha
        if self.comment_id is not None:
            return (self.repo, target, f"edit:{self.delivery_id}")
        return (self.repo, target, self.head_sha)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Job:
        # JSON (the distributed queue) turns tuples into lists: turn them back.
        def tuples(v):
            return tuple(tuples(x) for x in v) if isinstance(v, list) else v

        known = set(cls.__dataclass_fields__)
        return cls(**{k: tuples(v) for k, v in data.items() if k in known})

    def log_extra(self) -> dict:
        return {"delivery": self.delivery_id, "installation": self.installation_id,
                "repo": self.repo, "pr": self.pr_number, "head_sha": self.head_sha,
                "event": self.event}


RUN_TTL = 3600.0  # how long the ledger remembers that a job created its run


async def record_run(ledger, job: Job, run_id: int) -> None:
    """The runner, once it has created (or taken over) the job's check run."""
    await ledger.set(f"run:{job.delivery_id}", str(run_id), RUN_TTL)


async def run_created(ledger, job: Job) -> bool:
    return await ledger.get(f"run:{job.delivery_id}") is not None


async def maybe_await(value):
    """The value, awaited when it is awaitable (delivery logs may be sync or async)."""
    if value is None or value is True or value is False:  # without isawaitable's ABC checks
        return value
    if inspect.isawaitable(value):
        return await value
    return value


class JobQueue(Protocol):
    async def enqueue(self, job: Job) -> bool:
        """Queue `job`; False when the same job is already queued or running."""
        ...


class DeliveryLog(Protocol):
    """Delivery GUIDs already accepted (marked only once their job is queued)."""

    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...
