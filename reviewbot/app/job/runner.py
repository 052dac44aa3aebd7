"""The job runner: from a queued `Job` (ids only) to a completed check run and the sticky
comment.

Mint a token, resolve the PR (drop work for a SHA that is no longer its head), read the
config at the base (a broken config is a failing run that says why), create the check run,
fetch the trees at exact SHAs, run `review()` in a worker thread (it never executes
repository code), then publish. Every exception path completes the run as `failure` with
the reason and a re-run button.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cachetools import LRUCache, TTLCache

from reviewbot.app.github.auth import AppJWT, TokenCache, parse_expiry
from reviewbot.app.github.client import (
    GitHubClient,
    GitHubUnavailable,
    Limiters,
    RateLimited,
    RetryPolicy,
)
from reviewbot.app.github.content import (
    TARBALL_THRESHOLD,
    BlobStore,
    ContentError,
    RepoContent,
    changed_files,
)
from reviewbot.app.job import checks, comment, reviewer
from reviewbot.app.queue.job import Job, record_run
from reviewbot.app.queue.store import StoreUnavailable
from reviewbot.cache import SummaryCache, default_cache_dir
from reviewbot.config import Config, ConfigError, lenient_check_name, load_config
from reviewbot.dependencies.sites import Installer, default_installer, offline
from reviewbot.memory import MemoryBudget, MemoryLimitExceeded, give_back
from reviewbot.model import CONFIG_PATH, Report
from reviewbot.render import has_checklist, to_markdown
from reviewbot.review import review
from reviewbot.tree import Tree

log = logging.getLogger("reviewbot.jobs")


@dataclass(frozen=True)
class Outcome:
    """How a job ended; `Runner.outcomes` keeps the recent ones."""
    job: Job
    outcome: str


@dataclass
class _Context:
    """One job's state, filled in by its steps in order; `_fail` uses what is known."""
    job: Job
    gh: GitHubClient
    content: RepoContent
    pr: int | None
    name: str = checks.DEFAULT_NAME  # of the check run: the config's, once it is read
    run: checks.CheckRun | None = None
    comment_ok: bool = False  # sticky comment, review suggestions: a PR on its current head
    draft: bool = False
    base_ref: str | None = None
    base_sha: str | None = None
    config: Config = field(default_factory=Config)
    config_error: str | None = None
    merge_base: str | None = None
    base_tree: Tree | None = None
    head_tree: Tree | None = None
    changed: dict[str, str] = field(default_factory=dict)
    report: Report | None = None
    extras: reviewer.Extras | None = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GitHubUnavailable | RateLimited | ContentError | MemoryLimitExceeded):
        return str(exc)
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"GitHub answered {int(status)} ({exc.__class__.__name__}: {exc})"
    if isinstance(exc, TimeoutError):
        return "the check took too long"
    return f"internal error ({exc.__class__.__name__})"


class Runner:
    def __init__(self, settings, session, metrics, *, policy: RetryPolicy | None = None,
                 store: BlobStore | None = None, job_timeout: float = 600.0,
                 disk_cache: bool = True, tarball_threshold: int | None = None,
                 ledger=None):
        self.settings = settings
        # where the runs jobs created are recorded (a Store): a rerequest for a head whose
        # job has created its run becomes a follow-up job instead of being lost
        self.ledger = ledger
        self.session = session
        self.metrics = metrics
        self.policy = policy or RetryPolicy()
        self.store = store or BlobStore()
        # Listings, merge bases and config files by commit sha (they never change),
        # bounded by the number of listed files held.
        self.commits: LRUCache = LRUCache(
            maxsize=2_000_000, getsizeof=lambda v: len(v) if isinstance(v, dict) else 1)
        self.job_timeout = job_timeout
        self.disk_cache = disk_cache
        self.tarball_threshold = (TARBALL_THRESHOLD if tarball_threshold is None
                                  else tarball_threshold)
        self.jwt = AppJWT(settings.app_id, settings.private_key)
        self.limiters = Limiters(self.policy)
        self.tokens = TokenCache(self._mint)
        self._etags: dict[int, LRUCache] = {}
        self._sha_pr: TTLCache = TTLCache(maxsize=50_000, ttl=14 * 24 * 3600)
        self._bot_login = settings.bot_login
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="reviewbot-analysis")
        self._summaries: SummaryCache | None = None
        self._installer: Installer | None = None
        self.outcomes: list[Outcome] = []  # the recent ones, newest last

    # -- clients ----------------------------------------------------------------------------

    def app_client(self) -> GitHubClient:
        return GitHubClient(self.session, base_url=self.settings.api_url, policy=self.policy,
                            limiter=self.limiters.get("app"), metrics=self.metrics)

    def client(self, installation_id: int) -> GitHubClient:
        return GitHubClient(
            self.session, base_url=self.settings.api_url, policy=self.policy,
            limiter=self.limiters.get(installation_id),
            token_provider=self.tokens.provider(installation_id),
            on_unauthorized=lambda: self.tokens.invalidate(installation_id),
            cache=self._etags.setdefault(installation_id, LRUCache(maxsize=512)),
            metrics=self.metrics, installation=installation_id)

    async def _mint(self, installation_id: int) -> tuple[str, float]:
        data = await self.app_client().post(
            f"/app/installations/{installation_id}/access_tokens", data={},
            jwt=self.jwt.get())
        return data["token"], parse_expiry(data["expires_at"])

    async def bot_login(self) -> str:
        if self._bot_login is None:
            data = await self.app_client().getitem("/app", jwt=self.jwt.get())
            self._bot_login = f"{data['slug']}[bot]"
        return self._bot_login

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._summaries is not None:
            self._summaries.close()

    # -- the job ----------------------------------------------------------------------------

    async def run(self, job: Job, *, why_cancelled: Callable[[], str | None] | None = None
                  ) -> str:
        """Run the job; never leave its check run unfinished. `why_cancelled` says why
        the job was cancelled, when the caller knows better than "the server shut down"."""
        started = time.monotonic()
        ctx = self._context(job)
        extra = job.log_extra()
        log.info("job started", extra=extra)
        outcome = "error"
        try:
            outcome = await asyncio.wait_for(self._run(ctx), self.job_timeout)
        except asyncio.CancelledError:
            outcome = "cancelled"
            reason = why_cancelled() if why_cancelled is not None else None
            await self._fail(ctx, reason or "the server shut down before the check finished")
            raise
        except StoreUnavailable as exc:
            # The queue's own store is down (a Redis restart): the verdict is not the
            # change's fault, so the run stays in progress and the queue retries the job;
            # the next attempt resumes the run (or reconciliation does, if it never comes).
            outcome = "interrupted"
            log.warning("job interrupted: store unavailable, the queue retries it",
                        extra={**extra, "error": str(exc)})
            raise
        except Exception as exc:
            log.warning("job failed", exc_info=not isinstance(
                exc, GitHubUnavailable | RateLimited | ContentError | TimeoutError
                | MemoryLimitExceeded), extra={**extra, "error": _reason(exc)})
            outcome = "failed"
            if isinstance(exc, MemoryLimitExceeded):
                outcome = "memory_limit"
            await self._fail(ctx, _reason(exc))
        finally:
            if outcome == "memory_limit":  # the analysis is gone: return its memory
                give_back()
            took = time.monotonic() - started
            self.metrics.inc("reviewbot_jobs_total", {"kind": job.event, "outcome": outcome})
            self.metrics.observe("reviewbot_job_duration_seconds",
                                 {"kind": job.event, "outcome": outcome}, took)
            self.outcomes.append(Outcome(job, outcome))
            del self.outcomes[:-200]
            log.info("job finished", extra={**extra, "outcome": outcome,
                                              "duration": round(took, 3)})
        return outcome

    def _context(self, job: Job) -> _Context:
        gh = self.client(job.installation_id)
        content = RepoContent(gh, job.repo, self.store, loop=asyncio.get_running_loop(),
                              metrics=self.metrics, commits=self.commits,
                              threshold=self.tarball_threshold)
        return _Context(job, gh, content, pr=job.pr_number)

    async def _run(self, ctx: _Context) -> str:
        """The job, step by step; a step that ends it early returns False."""
        if ctx.job.comment_id is not None:  # a tick in the sticky comment (checklist gate)
            return await self._checklist_edit(ctx)
        if not await self._resolve_pr(ctx):
            if ctx.job.resume:  # its earlier attempt may have left a run in progress
                await self._close_stale_run(ctx)
            return "stale"
        await self._load_config(ctx)
        if not await self._start_check(ctx):
            return "exists"
        if ctx.config_error is not None:
            await self._report_config_error(ctx)
            return "config_error"
        await self._fetch_trees(ctx)
        await self._analyse(ctx)
        fixes = await self._publish_suggestions(ctx)
        # The comment before the run completes: a job that dies in between leaves its run
        # in progress, which its resumed attempt (or reconciliation) finishes, comment and
        # all; a completed run never stands without its comment.
        try:
            await self._write_comment(ctx)
        except Exception as exc:  # GitHub refused it after retries: the result still counts
            log.warning("sticky comment failed", exc_info=True,
                        extra={**ctx.job.log_extra(), "error": _reason(exc)})
        await self._complete_check(ctx, fixes)
        return ctx.report.conclusion

    async def _fail(self, ctx: _Context, reason: str) -> None:
        """Complete (creating it if needed) the run as failure: never left hanging. A job
        writes only the run it created, or one it explicitly took over (a resumed job)."""
        job, run = ctx.job, ctx.run
        try:
            if run is None:
                run = checks.CheckRun(ctx.gh, job.repo, job.head_sha, name=ctx.name,
                                      external_id=str(ctx.pr) if ctx.pr else None,
                                      app_id=self.settings.app_id)
            if run.completed:
                return
            if run.id is None:
                await self._create_run(job, run, await run.find() if job.resume else None)
            await run.fail(reason)
        except Exception as exc:
            log.error("check run could not be completed", extra={
                **job.log_extra(), "error": _reason(exc)})

    async def _bot(self) -> reviewer.Bot:
        return reviewer.Bot(await self.bot_login(), self.settings.app_id,
                            reviewer.ticks_key(self.settings))

    # -- the steps ------------------------------------------------------------------------

    async def _checklist_edit(self, ctx: _Context) -> str:
        try:
            return await reviewer.on_edit(ctx.gh, ctx.job, self.store, await self._bot())
        except Exception as exc:  # there is no import-check run to fail here
            log.warning("checklist edit failed", exc_info=True,
                        extra={**ctx.job.log_extra(), "error": _reason(exc)})
            return "failed"

    async def _resolve_pr(self, ctx: _Context) -> bool:
        """The PR and its base; False when the PR's head has moved on from the job's."""
        job = ctx.job
        if ctx.pr is None and job.event in ("check_run", "check_suite"):
            ctx.pr = await self._find_pr(ctx.gh, job)
        ctx.comment_ok = ctx.pr is not None and job.event != "merge_group"
        ctx.base_ref, ctx.base_sha = job.base_ref, job.base_sha
        if ctx.pr is not None:
            pull = await ctx.gh.getitem(f"/repos/{job.repo}/pulls/{ctx.pr}")
            if pull["head"]["sha"] != job.head_sha:
                if not job.force:
                    log.info("job dropped: head moved on", extra={
                        **job.log_extra(), "current_head": pull["head"]["sha"]})
                    return False
                ctx.comment_ok = False  # an explicit re-run of an old SHA: check run only
            ctx.base_ref, ctx.base_sha = pull["base"]["ref"], pull["base"]["sha"]
            ctx.draft = bool(pull.get("draft"))
            self._sha_pr[(job.repo, job.head_sha)] = ctx.pr
        if ctx.base_sha is None:
            if ctx.base_ref is None:
                ctx.base_ref = (await ctx.gh.getitem(f"/repos/{job.repo}"))["default_branch"]
            _, ctx.base_sha = await ctx.content.merge_base(ctx.base_ref, job.head_sha)
        return True

    async def _close_stale_run(self, ctx: _Context) -> None:
        """A resumed job whose PR head moved on: the run its dead attempt left in progress
        on the old head is completed as neutral, not left hanging."""
        job = ctx.job
        for found in await checks.our_runs(ctx.gh, job.repo, job.head_sha,
                                           self.settings.app_id):
            if found.get("status") == "completed":
                continue
            await checks.close_orphan(
                ctx.gh, job.repo, found["id"], "Superseded: the pull request's head moved on",
                "This commit is no longer the pull request's head, so its check was not "
                "finished; the newer head has its own run.")
            log.info("stale check run closed", extra={**job.log_extra(),
                                                      "check_run": found["id"]})

    async def _load_config(self, ctx: _Context) -> None:
        """The config at the base. A broken one is kept for the run to report, under the
        check name it asks for when that can still be read."""
        raw = await ctx.content.config(ctx.base_sha, CONFIG_PATH)
        try:
            ctx.config = load_config(raw)
        except ConfigError as exc:
            ctx.config_error = str(exc)
            ctx.name = lenient_check_name(raw)
        else:
            ctx.name = ctx.config.check_name

    async def _start_check(self, ctx: _Context) -> bool:
        """Create the check run, or adopt ours left in progress; False when a run of ours
        on the head already answers this job."""
        job = ctx.job
        run = checks.CheckRun(ctx.gh, job.repo, job.head_sha, name=ctx.name,
                              external_id=str(ctx.pr) if ctx.pr is not None else None,
                              app_id=self.settings.app_id)
        existing = await run.find()
        if _answered(job, ctx.pr, existing):
            log.info("job skipped: a run already exists", extra=job.log_extra())
            return False
        ctx.run = run
        await self._create_run(job, run, existing)
        return True

    async def _create_run(self, job: Job, run: checks.CheckRun, existing: dict | None) -> None:
        """One job per check run: a job creates its own run. Only a resumed job (its worker
        died, the server restarted, reconciliation found the head unfinished) takes over
        a run of ours left in progress, and says so."""
        if job.resume and existing is not None and existing.get("status") != "completed":
            log.info("check run taken over", extra={
                **job.log_extra(), "check_run": existing.get("id"),
                "run_started_at": existing.get("started_at")})
            await run.start(adopt=True)
        else:
            await run.start(adopt=False)
        if self.ledger is not None and run.id is not None:
            await record_run(self.ledger, job, run.id)

    async def _report_config_error(self, ctx: _Context) -> None:
        await ctx.run.complete(
            "failure", "reviewbot configuration error",
            f"`{CONFIG_PATH}` on the base branch (`{ctx.base_ref or ctx.base_sha[:12]}`) is "
            f"invalid, so the import check did not run:\n\n```\n{ctx.config_error}\n```\n\n"
            "Fix the file on the base branch (a pull request cannot change the "
            "configuration its own check uses), then press **Re-run**.", rerun=True)

    async def _fetch_trees(self, ctx: _Context) -> None:
        """The trees at the merge base and the head, and what changed between them."""
        content, head = ctx.content, ctx.job.head_sha
        ctx.merge_base, _ = await content.merge_base(ctx.base_sha, head)
        if ctx.merge_base == head:
            head_listing = base_listing = await content.listing(head)
        else:
            head_listing, base_listing = await asyncio.gather(
                content.listing(head), content.listing(ctx.merge_base))
        await content.warm(head_listing, head)
        ctx.changed = changed_files(base_listing, head_listing)
        ctx.base_tree = content.tree(base_listing, ctx.merge_base)
        ctx.head_tree = content.tree(head_listing, head)

    async def _analyse(self, ctx: _Context) -> None:
        """`review()`, then fix suggestions and owners, in the analysis thread."""
        loop = asyncio.get_running_loop()
        ctx.report = await loop.run_in_executor(self._executor, self._review, ctx)
        ctx.extras = await loop.run_in_executor(
            self._executor, reviewer.analyse, ctx.report, ctx.base_tree, ctx.head_tree)

    def _review(self, ctx: _Context) -> Report:
        if self._summaries is None:  # created in the analysis thread that uses it
            # resident: parsing workers forked by a forkserver, never by this threaded
            # process, and kept between jobs
            self._summaries = SummaryCache(disk=self.disk_cache, resident=True)
            # third-party packages resolved and read here, in the worker, never in the web
            # process; kept on disk (and the last ones in memory) between jobs
            if self.disk_cache and not offline():
                self._installer = default_installer(default_cache_dir())
        return review(base=ctx.base_tree, head=ctx.head_tree, changed=ctx.changed,
                      config=ctx.config, cache=self._summaries, base_name=ctx.merge_base,
                      head_name=ctx.job.head_sha, installer=self._installer,
                      memory=MemoryBudget(self.settings.max_memory))

    async def _publish_suggestions(self, ctx: _Context) -> tuple[str, str]:
        """The suggestions as a review where they fit the diff; (the rest, as text for
        the check run, and the review's outcome)."""
        job, found = ctx.job, ctx.extras.suggestions
        pr = ctx.pr if ctx.comment_ok else None
        login = await self.bot_login() if pr is not None and found else ""  # for a review
        return await reviewer.publish_suggestions(ctx.gh, job.repo, pr, job.head_sha, found,
                                                  login)

    async def _complete_check(self, ctx: _Context, fixes: tuple[str, str]) -> None:
        job, report = ctx.job, ctx.report
        fix_text, review_outcome = fixes
        await ctx.run.report(report, extra=fix_text)
        log.info("check run completed", extra={
            **job.log_extra(), "conclusion": report.conclusion, "check_run": ctx.run.id,
            "errors": len(report.errors), "affected": len(report.affected),
            "changed": len(ctx.changed), "blob_requests": ctx.content.blob_requests,
            "tarballs": ctx.content.tarballs, "suggestions": len(ctx.extras.suggestions),
            "suggestion_review": review_outcome})

    async def _write_comment(self, ctx: _Context) -> None:
        """The sticky comment on the PR (not on drafts, when so configured), then the
        reviewer aids."""
        config = ctx.config
        if not ctx.comment_ok or (ctx.draft and not config.comment_on_drafts):
            return
        job, pr, run = ctx.job, ctx.pr, ctx.run
        bot = await self._bot()
        body = to_markdown(ctx.report, details_url=checks_page(run.html_url, job.head_sha),
                           limit=comment.SAFE_BODY - 200, owners=ctx.extras.owners)

        async def still_head() -> bool:
            pull = await ctx.gh.getitem(f"/repos/{job.repo}/pulls/{pr}")
            return pull["head"]["sha"] == job.head_sha

        done = await comment.upsert(
            ctx.gh, job.repo, pr, body, bot_login=bot.login, head_sha=job.head_sha,
            create=bool(ctx.report.shared_modules or ctx.report.errors),
            still_head=still_head, details_url=run.html_url,
            carry=reviewer.carrier(bot.ticks_key, job.repo, pr)
            if config.checklist_required else None)
        log.info("sticky comment", extra={**job.log_extra(), "outcome": done})
        if config.checklist_required or config.request_owner_reviews:
            await self._reviewer_aids(ctx, bot)

    async def _reviewer_aids(self, ctx: _Context, bot: reviewer.Bot) -> None:
        """The checklist gate on this head, and review requests to the handlers' owners."""
        job, pr, config = ctx.job, ctx.pr, ctx.config
        try:
            author = ((await ctx.gh.getitem(f"/repos/{job.repo}/pulls/{pr}")).get("user")
                      or {}).get("login") or ""
            if config.checklist_required:
                gate = await reviewer.update_gate(ctx.gh, job.repo, pr, job.head_sha, config,
                                                  author, bot,
                                                  expected=has_checklist(ctx.report))
                log.info("checklist gate", extra={**job.log_extra(), "conclusion": gate})
            if config.request_owner_reviews:
                asked = await reviewer.request_owner_reviews(ctx.gh, job.repo, pr,
                                                             ctx.extras.owners, author)
                log.info("owner reviews", extra={**job.log_extra(), "outcome": asked})
        except Exception as exc:
            log.warning("checklist gate or review requests failed", exc_info=True,
                        extra={**job.log_extra(), "error": _reason(exc)})

    async def _find_pr(self, gh, job: Job) -> int | None:
        """The PR of a check event whose payload lists none (forks): our head-SHA map, then
        the `external_id` of our earlier runs on that SHA."""
        pr = self._sha_pr.get((job.repo, job.head_sha))
        if pr is not None:
            return pr
        data = await gh.getitem(f"/repos/{job.repo}/commits/{job.head_sha}/check-runs"
                                f"?app_id={self.settings.app_id}&per_page=100")
        for run in data.get("check_runs", []):
            ext = str(run.get("external_id") or "")
            if ext.isdigit():
                return int(ext)
        return None


def _answered(job: Job, pr: int | None, existing: dict | None) -> bool:
    """Whether `existing`, our latest run on the head, already answers the job. GitHub
    sends check_suite.requested AND pull_request.synchronize for one push: whichever comes
    second finds the first one's run and stops there. A resumed job (its worker died, the
    server restarted) adopts a run left in progress instead; a forced one always runs."""
    if existing is None or job.force:
        return False
    if job.resume and existing.get("status") != "completed":
        return False
    return job.event == "check_suite" or (
        job.event == "pull_request" and job.action in ("opened", "synchronize", "reconcile")
        and existing.get("external_id") == str(pr))


def checks_page(run_url: str | None, head_sha: str) -> str | None:
    """The head commit's checks page: the comment links there, not to one run, so a
    re-run that finds the same leaves the comment as it is."""
    if not run_url or "/runs/" not in run_url:
        return run_url
    return f"{run_url.rsplit('/runs/', 1)[0]}/commit/{head_sha}/checks"
