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
from dataclasses import dataclass

import yaml
from cachetools import LRUCache, TTLCache

from reviewbot.app import checks, comment, reviewer
from reviewbot.app.auth import AppJWT, TokenCache, parse_expiry
from reviewbot.app.content import BlobStore, ContentError, RepoContent, changed_files
from reviewbot.app.github import GitHubClient, GitHubUnavailable, Limiters, RateLimited, RetryPolicy
from reviewbot.app.queue import Job
from reviewbot.cache import SummaryCache
from reviewbot.config import Config, ConfigError, parse_config
from reviewbot.model import CONFIG_PATH, Report
from reviewbot.render import to_markdown
from reviewbot.review import review

log = logging.getLogger("reviewbot.jobs")


@dataclass
class _State:
    run: checks.CheckRun | None = None
    name: str = checks.DEFAULT_NAME
    pr: int | None = None
    gh: GitHubClient | None = None


def _lenient_name(raw: bytes | None) -> str:
    """The check name from a config that failed validation, when it can still be read, so
    the failing run lands on the name branch protection requires."""
    try:
        data = yaml.safe_load(raw or b"")
        name = data.get("check_name") if isinstance(data, dict) else None
        return name if isinstance(name, str) and name.strip() else checks.DEFAULT_NAME
    except Exception:
        return checks.DEFAULT_NAME


def _reason(exc: BaseException) -> str:
    if isinstance(exc, GitHubUnavailable | RateLimited | ContentError):
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
                 disk_cache: bool = True, tarball_threshold: int | None = None):
        self.settings = settings
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
        self.tarball_threshold = tarball_threshold
        self.jwt = AppJWT(settings.app_id, settings.private_key)
        self.limiters = Limiters(self.policy)
        self.tokens = TokenCache(self._mint)
        self._etags: dict[int, LRUCache] = {}
        self._sha_pr: TTLCache = TTLCache(maxsize=50_000, ttl=14 * 24 * 3600)
        self._bot_login = settings.bot_login
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="reviewbot-analysis")
        self._summaries: SummaryCache | None = None
        self.outcomes: list[tuple[Job, str]] = []  # recent (job, outcome), newest last

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
        st = _State(pr=job.pr_number)
        ctx = job.log_extra()
        log.info("job started", extra=ctx)
        outcome = "error"
        try:
            outcome = await asyncio.wait_for(self._run(job, st), self.job_timeout)
        except asyncio.CancelledError:
            outcome = "cancelled"
            reason = why_cancelled() if why_cancelled is not None else None
            await self._fail(job, st, reason or "the server shut down before the check "
                                                "finished")
            raise
        except Exception as exc:
            log.warning("job failed", exc_info=not isinstance(
                exc, GitHubUnavailable | RateLimited | ContentError | TimeoutError),
                extra={**ctx, "error": _reason(exc)})
            outcome = "failed"
            await self._fail(job, st, _reason(exc))
        finally:
            took = time.monotonic() - started
            self.metrics.inc("reviewbot_jobs_total", {"kind": job.event, "outcome": outcome})
            self.metrics.observe("reviewbot_job_duration_seconds",
                                 {"kind": job.event, "outcome": outcome}, took)
            self.outcomes.append((job, outcome))
            del self.outcomes[:-200]
            log.info("job finished", extra={**ctx, "outcome": outcome,
                                            "duration": round(took, 3)})
        return outcome

    async def _fail(self, job: Job, st: _State, reason: str) -> None:
        """Complete (creating it if needed) the run as failure: never left hanging."""
        run = st.run
        try:
            if run is None:
                gh = st.gh or self.client(job.installation_id)
                run = checks.CheckRun(gh, job.repo, job.head_sha, name=st.name,
                                      external_id=str(st.pr) if st.pr else None,
                                      app_id=self.settings.app_id)
                await run.start(adopt=True)
            elif run.completed:
                return
            elif run.id is None:
                await run.start(adopt=True)
            await run.fail(reason)
        except Exception as exc:
            log.error("check run could not be completed", extra={
                **job.log_extra(), "error": _reason(exc)})

    async def _run(self, job: Job, st: _State) -> str:
        gh = st.gh = self.client(job.installation_id)
        if job.comment_id is not None:  # a tick in the sticky comment (checklist gate)
            try:
                return await reviewer.on_edit(self, gh, job)
            except Exception as exc:  # there is no import-check run to fail here
                log.warning("checklist edit failed", exc_info=True,
                            extra={**job.log_extra(), "error": _reason(exc)})
                return "failed"
        content = RepoContent(gh, job.repo, self.store, loop=asyncio.get_running_loop(),
                              metrics=self.metrics, commits=self.commits,
                              **({"threshold": self.tarball_threshold}
                                                       if self.tarball_threshold is not None
                                                       else {}))
        pr = job.pr_number
        if pr is None and job.event in ("check_run", "check_suite"):
            pr = await self._find_pr(gh, job)
        st.pr = pr
        comment_ok = pr is not None and job.event != "merge_group"
        draft = False
        base_ref, base_sha = job.base_ref, job.base_sha
        if pr is not None:
            pull = await gh.getitem(f"/repos/{job.repo}/pulls/{pr}")
            if pull["head"]["sha"] != job.head_sha:
                if not job.force:
                    log.info("job dropped: head moved on", extra={
                        **job.log_extra(), "current_head": pull["head"]["sha"]})
                    return "stale"
                comment_ok = False  # an explicit re-run of an old SHA: check run only
            base_ref, base_sha = pull["base"]["ref"], pull["base"]["sha"]
            draft = bool(pull.get("draft"))
            self._sha_pr[(job.repo, job.head_sha)] = pr
        if base_sha is None:
            if base_ref is None:
                base_ref = (await gh.getitem(f"/repos/{job.repo}"))["default_branch"]
            _, base_sha = await content.merge_base(base_ref, job.head_sha)

        raw = await content.config(base_sha, CONFIG_PATH)
        config_error = None
        try:
            config = parse_config(raw, CONFIG_PATH) if raw is not None else Config()
            st.name = config.check_name
        except ConfigError as exc:
            config_error, config = str(exc), Config()
            st.name = _lenient_name(raw)

        run = checks.CheckRun(gh, job.repo, job.head_sha, name=st.name,
                              external_id=str(pr) if pr is not None else None,
                              app_id=self.settings.app_id)
        existing = await run.find()
        # GitHub sends check_suite.requested AND pull_request.synchronize for one push:
        # whichever comes second finds the first one's run and stops there.
        duplicate = job.event == "check_suite" or (
            job.event == "pull_request" and job.action in ("opened", "synchronize", "reconcile")
            and existing is not None and existing.get("external_id") == str(pr))
        # A resumed job (its worker died, the server restarted) adopts a run left in
        # progress instead of taking it for a duplicate.
        abandoned = job.resume and existing is not None and existing.get("status") != "completed"
        if existing is not None and duplicate and not job.force and not abandoned:
            log.info("job skipped: a run already exists", extra=job.log_extra())
            return "exists"
        st.run = run
        if existing is not None and existing.get("status") != "completed":
            await run.start(adopt=True)
        else:
            await run.start(adopt=False)

        if config_error is not None:
            await run.complete(
                "failure", "reviewbot configuration error",
                f"`{CONFIG_PATH}` on the base branch (`{base_ref or base_sha[:12]}`) is "
                f"invalid, so the import check did not run:\n\n```\n{config_error}\n```\n\n"
                "Fix the file on the base branch (a pull request cannot change the "
                "configuration its own check uses), then press **Re-run**.", rerun=True)
            return "config_error"

        merge_base, _ = await content.merge_base(base_sha, job.head_sha)
        if merge_base == job.head_sha:
            head_listing = base_listing = await content.listing(job.head_sha)
        else:
            head_listing, base_listing = await asyncio.gather(
                content.listing(job.head_sha), content.listing(merge_base))
        await content.warm(head_listing, job.head_sha)
        changed = changed_files(base_listing, head_listing)
        base_tree = content.tree(base_listing, merge_base)
        head_tree = content.tree(head_listing, job.head_sha)
        loop = asyncio.get_running_loop()
        report: Report = await loop.run_in_executor(
            self._executor, self._review, base_tree, head_tree, changed, config, merge_base,
            job.head_sha)
        found, owners = await loop.run_in_executor(
            self._executor, reviewer.analyse, report, base_tree, head_tree)
        fix_text, review_outcome = await reviewer.publish_suggestions(
            gh, job.repo, pr if comment_ok else None, job.head_sha, found, self.bot_login)
        await run.report(report, extra=fix_text)
        log.info("check run completed", extra={
            **job.log_extra(), "conclusion": report.conclusion, "check_run": run.id,
            "errors": len(report.errors), "affected": len(report.affected),
            "changed": len(changed), "blob_requests": content.blob_requests,
            "tarballs": content.tarballs, "suggestions": len(found),
            "suggestion_review": review_outcome})

        if comment_ok and not (draft and not config.comment_on_drafts):
            await self._comment(gh, job, pr, report, run, config=config, owners=owners)
        return report.conclusion

    def _review(self, base_tree, head_tree, changed, config, base_name, head_name) -> Report:
        if self._summaries is None:  # created in the analysis thread that uses it
            # resident: parsing workers forked by a forkserver, never by this threaded
            # process, and kept between jobs
            self._summaries = SummaryCache(disk=self.disk_cache, resident=True)
        return review(base=base_tree, head=head_tree, changed=changed, config=config,
                      cache=self._summaries, base_name=base_name, head_name=head_name)

    async def _comment(self, gh, job: Job, pr: int, report: Report, run, *,
                       config: Config | None = None, owners=None) -> None:
        config = config or Config()
        body = to_markdown(report, details_url=run.html_url, limit=comment.SAFE_BODY - 200,
                           owners=owners)

        async def still_head() -> bool:
            pull = await gh.getitem(f"/repos/{job.repo}/pulls/{pr}")
            return pull["head"]["sha"] == job.head_sha

        done = await comment.upsert(
            gh, job.repo, pr, body, bot_login=await self.bot_login(), head_sha=job.head_sha,
            create=bool(report.shared_modules or report.errors), still_head=still_head,
            details_url=run.html_url,
            carry=reviewer.carrier(reviewer.ticks_key(self.settings), job.repo, pr)
            if config.checklist_required else None)
        log.info("sticky comment", extra={**job.log_extra(), "outcome": done})
        if config.checklist_required or config.request_owner_reviews:
            await self._reviewers(gh, job, pr, config, owners)

    async def _reviewers(self, gh, job: Job, pr: int, config: Config, owners) -> None:
        """The checklist gate on this head, and review requests to the handlers' owners."""
        try:
            author = ((await gh.getitem(f"/repos/{job.repo}/pulls/{pr}")).get("user")
                      or {}).get("login") or ""
            if config.checklist_required:
                gate = await reviewer.update_gate(self, gh, job.repo, pr, job.head_sha,
                                                  config, author)
                log.info("checklist gate", extra={**job.log_extra(), "conclusion": gate})
            if config.request_owner_reviews:
                asked = await reviewer.request_owner_reviews(gh, job.repo, pr, owners, author)
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
