"""`POST /webhook`: check size and content type, verify the SHA-256 signature over the raw
body in constant time, parse, route to a `Job`, enqueue, acknowledge.

Nothing a client sends can produce a 5xx: every rejection is a 4xx with a short reason.
gidgethub.sansio is not used here because it accepts SHA-1-only signatures and raises a raw
KeyError for missing headers; the rules below are stricter.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from reviewbot.app import logs
from reviewbot.app.queue.job import DeliveryLog, Job, JobQueue, maybe_await
from reviewbot.app.web import keys
from reviewbot.app.web import payload as payload_shapes

log = logging.getLogger("reviewbot.webhook")
delivery_lines = logs.LineLogger("reviewbot.webhook")  # a line per delivery (not the dedupe)


MAX_BODY = 25 * 1024 * 1024  # GitHub never sends more; bigger is not from GitHub
PR_ACTIONS = {"opened", "reopened", "synchronize", "ready_for_review", "edited"}
RERUN_ACTION = "rerun"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.digest(secret, body, "sha256").hex()  # one-shot, in C


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = signature(secret, body).encode()
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


def parse(body: bytes) -> dict[str, Any]:
    """What `route` reads of the body, typed (payload.py). Raises BadPayload (a ValueError)
    with the reason when the body is not JSON or not of that shape."""
    return payload_shapes.decode(body)


class Malformed(Exception):
    """The payload of an event we handle lacks a field we need."""


@dataclass(frozen=True)
class Route:
    job: Job | None
    reason: str  # why nothing is done, or what is done


def route(event: str, payload: dict, delivery: str, app_id: str) -> Route:
    """Map an event to a job, or say why it is ignored. Raises Malformed."""
    if event not in ("pull_request", "check_run", "check_suite", "merge_group",
                     "issue_comment"):
        return Route(None, f"event {event!r} is not handled")
    if not isinstance(payload, dict):
        raise Malformed("payload is not an object")
    action = payload.get("action") or ""
    try:
        installation = int(payload["installation"]["id"])
    except (KeyError, TypeError, ValueError):
        return Route(None, "no installation in the payload")
    try:
        repo = str(payload["repository"]["full_name"])
        common = {"installation_id": installation, "repo": repo, "delivery_id": delivery,
                  "event": event, "action": action}
        if event == "pull_request":
            return _pull_request(payload, action, common)
        if event == "check_run":
            return _check_run(payload, action, common, app_id)
        if event == "check_suite":
            return _check_suite(payload, action, common, app_id)
        if event == "issue_comment":
            return _issue_comment(payload, action, common)
        return _merge_group(payload, action, common)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise Malformed(f"{event}.{action}: missing or invalid field {exc}") from None


def _pull_request(payload: dict, action: str, common: dict) -> Route:
    if action not in PR_ACTIONS:
        return Route(None, f"pull_request.{action} is not handled")
    if action == "edited" and "base" not in (payload.get("changes") or {}):
        return Route(None, "pull_request.edited without a base change")
    pr = payload["pull_request"]
    return Route(Job(head_sha=str(pr["head"]["sha"]), pr_number=int(pr["number"]),
                     base_ref=str(pr["base"]["ref"]), base_sha=str(pr["base"]["sha"]),
                     **common), "queued")


def _first_pr(prs: list, repo: str) -> dict | None:
    for pr in prs or ():
        base_repo = ((pr.get("base") or {}).get("repo") or {}).get("url", "")
        if not base_repo or base_repo.endswith("/repos/" + repo):
            return pr
    return None


def _check_run(payload: dict, action: str, common: dict, app_id: str) -> Route:
    if action not in ("rerequested", "requested_action"):
        return Route(None, f"check_run.{action} is not handled")
    run = payload["check_run"]
    if str((run.get("app") or {}).get("id")) != str(app_id):
        return Route(None, "check run belongs to another app")
    if action == "requested_action":
        ident = (payload.get("requested_action") or {}).get("identifier")
        if ident != RERUN_ACTION:
            return Route(None, f"unknown requested action {ident!r}")
    pr = _first_pr(run.get("pull_requests") or [], common["repo"])
    number = pr["number"] if pr else None
    if number is None and str(run.get("external_id") or "").isdigit():
        number = int(run["external_id"])
    return Route(Job(head_sha=str(run["head_sha"]), pr_number=number,
                     base_ref=pr["base"]["ref"] if pr else None,
                     base_sha=pr["base"]["sha"] if pr else None, force=True, **common), "queued")


def _check_suite(payload: dict, action: str, common: dict, app_id: str) -> Route:
    if action not in ("requested", "rerequested"):
        return Route(None, f"check_suite.{action} is not handled")
    suite = payload["check_suite"]
    suite_app = (suite.get("app") or {}).get("id")
    if suite_app is not None and str(suite_app) != str(app_id):
        return Route(None, "check suite belongs to another app")
    pr = _first_pr(suite.get("pull_requests") or [], common["repo"])
    return Route(Job(head_sha=str(suite["head_sha"]), pr_number=pr["number"] if pr else None,
                     base_ref=pr["base"]["ref"] if pr else None,
                     base_sha=pr["base"]["sha"] if pr else None,
                     force=action == "rerequested", **common), "queued")


def command_lines(body: str) -> str:
    """The command-like lines of a comment (starting with `@` or `/`), at most 5."""
    lines = [line.strip()[:200] for line in body.splitlines()
             if line.strip().startswith(("@", "/"))]
    return "\n".join(lines[:5])


def _issue_comment(payload: dict, action: str, common: dict) -> Route:
    """`@reviewbot recheck` (the name is `recheck_command` in the base branch's config,
    compared by the worker): a forced run on the PR's current head, resolved by the worker."""
    if action == "edited":
        return _comment_edited(payload, common)
    if action == "deleted":
        return _comment_deleted(payload, common)
    if action != "created":
        return Route(None, f"issue_comment.{action} is not handled")
    issue = payload["issue"]
    if not issue.get("pull_request"):
        return Route(None, "comment on an issue, not a pull request")
    user = payload["comment"].get("user") or {}
    if user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]"):
        return Route(None, "comment by a bot")
    if str(issue.get("state", "open")) != "open":
        return Route(None, "comment on a closed pull request")
    command = command_lines(str(payload["comment"].get("body") or ""))
    if not command:
        return Route(None, "comment holds no command")
    return Route(Job(head_sha="", pr_number=int(issue["number"]), base_ref=None,
                     base_sha=None, force=True, command=command, **common), "queued")


def _comment_edited(payload: dict, common: dict) -> Route:
    """A box of our sticky comment's checklist ticked or unticked, or its text edited (the
    checklist gate, docs/reviewer-workflow.md). The worker checks that the comment is ours
    (bot login) and attributes the changed boxes to `sender`; edits by bots (our own
    included) never count."""
    from reviewbot.checklist import box_changes, outside_boxes
    from reviewbot.render import COMMENT_MARKER

    issue = payload["issue"]
    if not issue.get("pull_request"):
        return Route(None, "comment on an issue, not a pull request")
    comment = payload["comment"]
    author = comment.get("user") or {}
    body = str(comment.get("body") or "")
    if author.get("type") != "Bot" or COMMENT_MARKER not in body:
        return Route(None, "edit of a comment that is not reviewbot's")
    sender = payload.get("sender") or {}
    if sender.get("type") == "Bot" or str(sender.get("login", "")).endswith("[bot]"):
        return Route(None, "edit by a bot")
    before = ((payload.get("changes") or {}).get("body") or {}).get("from")
    if not isinstance(before, str):
        return Route(None, "edit without a body change")
    ticks = tuple(box_changes(before, body))
    restore = before if outside_boxes(before) != outside_boxes(body) else ""
    if not ticks and not restore:
        return Route(None, "edit changed no box and no text")
    return Route(Job(head_sha="", pr_number=int(issue["number"]), base_ref=None,
                     base_sha=None, comment_id=int(comment["id"]),
                     sender=str(sender["login"]), ticks=ticks, restore=restore, **common),
                 "queued")


def _comment_deleted(payload: dict, common: dict) -> Route:
    """Our sticky comment was deleted: a forced run on the PR's head posts it again (its
    checklist unticked), so the gate fails until reviewers tick it anew."""
    from reviewbot.render import COMMENT_MARKER

    issue = payload["issue"]
    comment = payload["comment"]
    author = comment.get("user") or {}
    if not issue.get("pull_request") or str(issue.get("state", "open")) != "open":
        return Route(None, "comment deleted elsewhere than on an open pull request")
    if author.get("type") != "Bot" or COMMENT_MARKER not in str(comment.get("body") or ""):
        return Route(None, "deleted comment is not reviewbot's")
    return Route(Job(head_sha="", pr_number=int(issue["number"]), base_ref=None,
                     base_sha=None, force=True, **common), "queued")


def _merge_group(payload: dict, action: str, common: dict) -> Route:
    if action != "checks_requested":
        return Route(None, f"merge_group.{action} is not handled")
    group = payload["merge_group"]
    base_ref = str(group["base_ref"]).removeprefix("refs/heads/")
    return Route(Job(head_sha=str(group["head_sha"]), pr_number=None, base_ref=base_ref,
                     base_sha=str(group["base_sha"]), force=True, **common), "queued")


def _reply(status: int, outcome: str, event: str, metrics, **extra) -> tuple[int, bytes]:
    metrics.inc("reviewbot_webhook_deliveries_total", {"event": event or "-", "outcome": outcome})
    return status, orjson.dumps({"outcome": outcome, **extra})


async def handle(request: web.Request) -> web.Response:
    """The route's handler: a thin aiohttp adapter over `accept`."""
    status, body = await _receive(request)
    return web.Response(body=body, status=status, content_type="application/json")


async def _receive(request: web.Request) -> tuple[int, bytes]:
    """Size and content type from the head (an oversized Content-Length is answered before
    any of the body is read), then the body, then `accept`."""
    app = request.app
    headers = request.headers
    event = headers.get("X-GitHub-Event", "")
    ctx = {"delivery": headers.get("X-GitHub-Delivery") or None, "event": event or None}
    metrics = app[keys.METRICS]
    if request.content_length is not None and request.content_length > MAX_BODY:
        log.info("webhook rejected: body too large", extra={**ctx, "size": request.content_length})
        return _reply(413, "too_large", event, metrics)
    ctype = request.content_type
    if ctype != "application/json":
        log.info("webhook rejected: content type", extra={**ctx, "content_type": ctype})
        return _reply(415, "unsupported_media_type", event, metrics,
                      reason="content type must be application/json")
    try:
        body = await request.read()  # the app's client_max_size is MAX_BODY
    except web.HTTPRequestEntityTooLarge:
        log.info("webhook rejected: body too large", extra=ctx)
        return _reply(413, "too_large", event, metrics)
    return await accept(app, headers, body)


async def accept(app: web.Application, headers: Mapping[str, str],
                 body: bytes) -> tuple[int, bytes]:
    """A delivery's whole body, of the right size and content type, to the reply's status and
    JSON body: signature, headers, parse, dedupe, route, enqueue. Case-insensitive `headers`."""
    settings = app[keys.SETTINGS]
    metrics = app[keys.METRICS]
    queue: JobQueue | None = app.get(keys.QUEUE)
    deliveries: DeliveryLog = app[keys.DELIVERIES]
    event = headers.get("X-GitHub-Event", "")
    delivery = headers.get("X-GitHub-Delivery", "")
    ctx = {"delivery": delivery or None, "event": event or None}

    sig = headers.get("X-Hub-Signature-256")
    if not sig:
        log.info("webhook rejected: no X-Hub-Signature-256",
                 extra={**ctx, "sha1_only": "X-Hub-Signature" in headers})
        return _reply(401, "unsigned", event, metrics, reason="X-Hub-Signature-256 is required")
    if not verify(settings.webhook_secret, body, sig):
        log.warning("webhook rejected: bad signature", extra=ctx)
        return _reply(401, "bad_signature", event, metrics, reason="signature mismatch")
    if not event or not delivery:
        log.info("webhook rejected: missing headers", extra=ctx)
        return _reply(400, "bad_request", event, metrics,
                      reason="X-GitHub-Event and X-GitHub-Delivery are required")
    try:
        payload = parse(body)
    except ValueError as exc:
        reason = str(exc)[:500]
        log.info("webhook rejected: bad payload", extra={**ctx, "reason": reason})
        return _reply(400, "bad_request", event, metrics, reason=reason)

    if event == "ping":
        log.info("webhook ping", extra={**ctx, "hook_id": headers.get("X-GitHub-Hook-ID")})
        return _reply(200, "pong", event, metrics)

    if queue is None:  # the queue backend is not connected yet (or at all): not our sender's
        log.warning("webhook refused: queue backend not ready", extra=ctx)
        return _reply(503, "not_ready", event, metrics, reason="queue backend not ready")
    dedupe_key = f"{headers.get('X-GitHub-Hook-ID', '')}:{delivery}"
    try:
        seen = await maybe_await(deliveries.seen(dedupe_key))
    except Exception as exc:  # the store is down: GitHub marks the delivery failed
        log.warning("webhook refused: delivery log unreachable",
                    extra={**ctx, "error": f"{type(exc).__name__}: {exc}"[:300]})
        return _reply(503, "backend_unavailable", event, metrics)
    if seen:
        delivery_lines.info("webhook duplicate delivery", ctx)
        return _reply(202, "duplicate", event, metrics)
    try:
        routed = route(event, payload, delivery, settings.app_id)
    except Malformed as exc:
        log.info("webhook rejected: malformed payload", extra={**ctx, "reason": str(exc)})
        return _reply(400, "bad_request", event, metrics, reason=str(exc)[:500])
    ctx.update(action=payload.get("action") if isinstance(payload, dict) else None)
    if routed.job is None:
        log.info("webhook ignored", extra={**ctx, "reason": routed.reason})
        return _reply(202, "ignored", event, metrics, reason=routed.reason)
    job = routed.job
    try:
        fresh = await queue.enqueue(job)
    except Exception:
        # Our fault, not the sender's; GitHub marks the delivery failed for redelivery.
        log.exception("webhook: enqueue failed", extra=job.log_extra())
        return _reply(503, "enqueue_failed", event, metrics)
    try:
        await maybe_await(deliveries.mark(dedupe_key))
    except Exception as exc:  # queued all the same: a redelivery is deduped by the job key
        log.warning("webhook: delivery not recorded", extra={
            **job.log_extra(), "error": f"{type(exc).__name__}: {exc}"[:300]})
    outcome = "queued" if fresh else "already_queued"
    delivery_lines.info("webhook accepted", {**job.log_extra(), "outcome": outcome,
                                             "action": job.action})
    return _reply(202, outcome, event, metrics)

