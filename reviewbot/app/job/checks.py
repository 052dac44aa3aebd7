"""The check-run lifecycle: created in progress on the head SHA at once, then completed.

Every path ends in `completed`: a required check is never left hanging and never green
unchecked. Annotations go in batches of 50 (GitHub appends them across PATCHes); summary
and text stay under 65,535 characters; failures that stop the analysis carry a re-run
button; `external_id` is the PR number.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote

from reviewbot.checklist import ITEM
from reviewbot.graph import graph_from_report, to_mermaid
from reviewbot.model import Finding, Report
from reviewbot.render import cause, settle_markdown, to_markdown, verdict

log = logging.getLogger("reviewbot.checks")

DEFAULT_NAME = "reviewbot / import check"
MAX_OUTPUT = 65_535
ANNOTATION_BATCH = 50
RERUN_ACTION = {"label": "Re-run", "description": "Run the import check again",
                "identifier": "rerun"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trim(text: str, limit: int = MAX_OUTPUT, where: str = "") -> str:
    if len(text) <= limit:
        return text
    note = f"\n\n… trimmed{where}.\n"
    return text[: limit - len(note) - 1].rsplit("\n", 1)[0] + note


def annotation(f: Finding, level: str) -> dict:
    line = max(int(f.line or 1), 1)
    return {"path": f.path, "start_line": line, "end_line": line, "annotation_level": level,
            "title": f"{f.kind} ({f.handler})"[:255], "message": f.message[:4000]}


def annotations(report: Report) -> list[dict]:
    return ([annotation(f, "failure") for f in report.errors]
            + [annotation(f, "warning") for f in report.warnings])


def summary(report: Report) -> str:
    """The verdict and the counts; the report itself is the text below it."""
    lines = [f"**{verdict(report)}**", ""]
    if report.nothing_checked:
        lines += settle_markdown(report)
    elif not report.affected:
        lines.append("No Lambda handler is affected by this change, so there was nothing to "
                     "import-check.")
    else:
        causes = len({cause(f) for f in report.errors})
        broken = len({f.handler for f in report.errors})
        counts = [f"{len(report.affected)} affected handler"
                  f"{'s' * (len(report.affected) != 1)} checked",
                  f"{broken} broken" if broken else "none broken"]
        if causes:
            counts.append(f"{causes} broken import{'s' * (causes != 1)} "
                          f"(one annotation at each failing line)")
        if report.warnings:
            counts.append(f"{len(report.warnings)} warning{'s' * (len(report.warnings) != 1)}")
        if report.shared_modules:
            n = len(report.shared_modules)
            counts.append(f"{n} shared module{'s' * (n != 1)} changed")
        lines.append(" · ".join(counts))
    lines += ["", f"Base `{report.base[:12]}` · head `{report.head[:12]}`"]
    return trim("\n".join(lines), where=": see the details below")


def details(report: Report) -> str:
    """The full report. Its checklist is text (☐), not boxes: nobody can tick them in a
    check run, and the comment's are the ones the gate counts."""
    # no heading: the verdict is the run's title and summary already, not a third time
    body = to_markdown(report, limit=MAX_OUTPUT - 100, heading=False)
    body = ITEM.sub(lambda m: f"- {'☑' if m['mark'] in 'xX' else '☐'} {m['text']}", body)
    if report.affected:
        picture = ["", "**Import graph** (affected handlers and the changed shared modules "
                       "they load)", "", "```mermaid", to_mermaid(graph_from_report(report))
                   .rstrip(), "```", ""]
        if len(body) + sum(len(line) + 1 for line in picture) < MAX_OUTPUT - 100:
            body += "\n".join(picture)
    return trim(body)


async def our_runs(gh, repo: str, sha: str, app_id) -> list[dict]:
    """Every run of ours on a commit, superseded ones included (`filter=all`)."""
    data = await gh.getitem(f"/repos/{repo}/commits/{sha}/check-runs"
                            f"?app_id={app_id}&filter=all&per_page=100")
    return [r for r in data.get("check_runs", [])
            if str((r.get("app") or {}).get("id")) == str(app_id)]


async def close_orphan(gh, repo: str, run_id: int, title: str, summary: str) -> None:
    """Complete as neutral a run of ours whose job is gone, saying why: taken over
    explicitly, so that no run is left in progress."""
    await gh.patch(f"/repos/{repo}/check-runs/{run_id}", data={
        "status": "completed", "conclusion": "neutral", "completed_at": _now(),
        "output": {"title": title, "summary": summary}})


class CheckRun:
    """One check run of ours on one SHA."""

    def __init__(self, gh, repo: str, head_sha: str, *, name: str = DEFAULT_NAME,
                 external_id: str | None = None, app_id: str | None = None):
        self.gh = gh
        self.repo = repo
        self.head_sha = head_sha
        self.name = name
        self.external_id = external_id
        self.app_id = app_id
        self.id: int | None = None
        self.html_url: str | None = None
        self.completed = False

    async def start(self, *, adopt: bool = True) -> int:
        """Create the run in progress, or take over an incomplete run of ours on this SHA
        (left by a crash, or by a retried POST that GitHub had in fact accepted)."""
        if adopt:
            existing = await self.find(incomplete_only=True)
            if existing is not None:
                self.id = existing["id"]
                self.html_url = existing.get("html_url")
                await self.gh.patch(f"/repos/{self.repo}/check-runs/{self.id}",
                                    data=self._base(status="in_progress"))
                return self.id
        data = {"name": self.name, "head_sha": self.head_sha, "status": "in_progress",
                "started_at": _now(),
                "output": {"title": "Checking imports…",
                           "summary": "reviewbot is checking the Lambda handlers this change "
                                      "reaches."}}
        if self.external_id:
            data["external_id"] = self.external_id
        run = await self.gh.post(f"/repos/{self.repo}/check-runs", data=data)
        self.id = run["id"]
        self.html_url = run.get("html_url")
        return self.id

    def _base(self, **fields) -> dict:
        data = dict(fields)
        if self.external_id:
            data["external_id"] = self.external_id
        return data

    async def find(self, *, incomplete_only: bool = False) -> dict | None:
        """Our latest run with this name on this SHA."""
        data = await self.gh.getitem(
            f"/repos/{self.repo}/commits/{self.head_sha}/check-runs"
            f"?check_name={quote(self.name, safe='')}&filter=latest&per_page=100")
        for run in data.get("check_runs", []):
            if self.app_id is not None and str((run.get("app") or {}).get("id")) != \
                    str(self.app_id):
                continue
            if run.get("name") != self.name:
                continue
            if incomplete_only and run.get("status") == "completed":
                continue
            return run
        return None

    async def complete(self, conclusion: str, title: str, summary_text: str, *,
                       text: str | None = None, notes: list[dict] | None = None,
                       rerun: bool = False) -> None:
        assert self.id is not None
        url = f"/repos/{self.repo}/check-runs/{self.id}"
        title = title[:255] or "reviewbot"
        summary_text = trim(summary_text)
        notes = notes or []
        batches = [notes[i: i + ANNOTATION_BATCH] for i in range(0, len(notes),
                                                                  ANNOTATION_BATCH)] or [[]]
        for batch in batches[:-1]:
            await self.gh.patch(url, data=self._base(output={
                "title": title, "summary": summary_text, "annotations": batch}))
        output: dict = {"title": title, "summary": summary_text}
        if text:
            output["text"] = trim(text)
        if batches[-1]:
            output["annotations"] = batches[-1]
        data = self._base(status="completed", conclusion=conclusion, completed_at=_now(),
                          output=output)
        if rerun:
            data["actions"] = [RERUN_ACTION]
        await self.gh.patch(url, data=data)
        self.completed = True

    async def report(self, report: Report, *, extra: str = "") -> None:
        """Complete with the report: the text holds the error groups, changed modules and
        affected handlers, then `extra` (suggested fixes as diffs) in the room left."""
        body = details(report)
        if extra:
            room = MAX_OUTPUT - len(body) - 2
            if len(extra) > room:
                extra = trim(extra, room, where=": the other fixes follow from the errors "
                                                "above") if room > 500 else ""
            body += "\n" + extra if extra else ""
        await self.complete(report.conclusion, verdict(report), summary(report),
                            text=body, notes=annotations(report))

    async def fail(self, reason: str) -> None:
        """The analysis could not finish: failure with the reason and a re-run button."""
        await self.complete(
            "failure", "reviewbot could not finish the import check",
            f"The import check did not run to the end, so this change is **not** verified."
            f"\n\n**Reason:** {reason}\n\nPress **Re-run** to try again.", rerun=True)
