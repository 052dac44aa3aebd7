"""What a worker does with a dequeued `Job` before the runner sees it.

Shared by the embedded queue (in `serve`) and `reviewbot worker`:

- a comment command (`@reviewbot recheck`, the name is `recheck_command` in the base
  branch's config) is matched here, and becomes a forced run on the PR's current head;
  anything else in the comment is ignored;
- everything else goes straight to `Runner.run`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from reviewbot.app.github.content import RepoContent
from reviewbot.app.queue.job import Job
from reviewbot.config import Config, ConfigError, load_config
from reviewbot.model import CONFIG_PATH

log = logging.getLogger("reviewbot.process")


class Processor:
    def __init__(self, runner):
        self.runner = runner

    async def __call__(self, job: Job, **options) -> str:
        """`options` go to `Runner.run`."""
        if not job.head_sha and job.pr_number is not None and job.comment_id is None:
            resolved = await self.resolve_command(job)
            if resolved is None:
                return "ignored"
            job = resolved
        return await self.runner.run(job, **options)

    async def resolve_command(self, job: Job) -> Job | None:
        """The forced job on the PR's current head, or None when the comment holds no
        command of ours (or the PR is closed). A job without a command (our sticky
        comment was deleted) needs no command."""
        runner = self.runner
        gh = runner.client(job.installation_id)
        pull = await gh.getitem(f"/repos/{job.repo}/pulls/{job.pr_number}")
        if pull.get("state") != "open":
            log.info("command ignored: pull request is not open", extra=job.log_extra())
            return None
        base_sha = pull["base"]["sha"]
        content = RepoContent(gh, job.repo, runner.store, loop=asyncio.get_running_loop(),
                              metrics=runner.metrics)
        raw = await content.config(base_sha, CONFIG_PATH)
        try:
            config = load_config(raw)
        except ConfigError:
            config = Config()  # the run itself reports the broken config
        wanted = " ".join(config.recheck_command.lower().split())
        if job.command and not any(wanted in " ".join(line.lower().split())
                                   for line in job.command.splitlines()):
            log.info("comment ignored: no command of ours", extra=job.log_extra())
            return None
        resolved = replace(job, head_sha=str(pull["head"]["sha"]),
                           base_ref=str(pull["base"]["ref"]), base_sha=str(base_sha),
                           command="", force=True)
        log.info("recheck requested", extra=resolved.log_extra())
        return resolved
