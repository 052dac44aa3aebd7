"""`reviewbot check --format sarif`: the report as SARIF 2.1.0, for code scanning.

One result per broken (or doubtful) import statement: the handlers it breaks are in the
message and in `properties`, so a shared module that breaks 50 handlers is one alert at
its line, not 50. Rules are the finding kinds. Paths are repository-relative, under the
`%SRCROOT%` base, which is what GitHub's upload expects. A stable partial fingerprint
(the cause, without the line) keeps an alert the same alert when code above it moves.
"""

from __future__ import annotations

import hashlib
import json

from reviewbot import __version__
from reviewbot.model import Finding, Report
from reviewbot.render import cause

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# kind -> (name, what it means)
RULES = {
    "missing-name": ("ImportedNameMissing",
                     "An imported name is not bound by the module it is imported from, as "
                     "the function's Lambda runtime would load it: the function fails at "
                     "cold start with ImportError."),
    "missing-module": ("ModuleMissing",
                       "A module is not in the function's deployment package, its layers or "
                       "the runtime: the function fails at cold start with "
                       "ModuleNotFoundError."),
    "circular-import": ("CircularImport",
                        "A name is read from a partially initialised module (an import "
                        "cycle): the function fails at cold start."),
    "missing-handler": ("HandlerMissing",
                        "The handler function named by the deployment is not defined by its "
                        "module."),
    "syntax-error": ("SyntaxError",
                     "A module the handler loads does not parse under the function's Python "
                     "version."),
    "unknown": ("ImportUnresolved",
                "An import reviewbot cannot settle statically (no module provides it that "
                "reviewbot can read)."),
    "maybe": ("ImportMaybeMissing",
              "A name that is bound only on some paths (a try/except, a condition)."),
    "shadowed-stdlib": ("StdlibShadowed",
                        "A module of the deployment package shadows a standard library "
                        "module of the same name."),
}


def _rule(kind: str) -> dict:
    name, text = RULES.get(kind, (kind, f"reviewbot finding: {kind}."))
    return {"id": kind, "name": name, "shortDescription": {"text": text.split(":")[0]},
            "fullDescription": {"text": text},
            "defaultConfiguration": {"level": "warning" if kind in ("unknown", "maybe",
                                                                    "shadowed-stdlib")
                                     else "error"}}


def _results(findings: tuple[Finding, ...], level: str, rules: list[str]) -> list[dict]:
    groups: dict[tuple[str, int, str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.path, f.line, cause(f)[1], f.kind), []).append(f)
    out = []
    for (path, line, reason, kind), found in groups.items():
        names = list(dict.fromkeys(f.handler for f in found))
        if kind not in rules:
            rules.append(kind)
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10
                                         else "")
        noun = "handler" if len(names) == 1 else f"{len(names)} handlers"
        digest = hashlib.sha256(f"{kind}\0{path}\0{reason}".encode()).hexdigest()[:32]
        out.append({
            "ruleId": kind, "ruleIndex": rules.index(kind), "level": level,
            "message": {"text": f"{found[0].message} (breaks {noun}: {shown})"
                        if level == "error" else f"{found[0].message} ({noun}: {shown})"},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": max(int(line or 1), 1)}}}],
            "partialFingerprints": {"reviewbotCause/v1": digest},
            "properties": {"handlers": names}})
    return out


def to_sarif(report: Report) -> str:
    rules: list[str] = []
    results = (_results(report.errors, "error", rules)
               + _results(report.warnings, "warning", rules))
    run: dict = {
        "tool": {"driver": {"name": "reviewbot", "version": __version__,
                            "semanticVersion": __version__,
                            "rules": [_rule(k) for k in rules]}},
        "automationDetails": {"id": "reviewbot/import-check/"},
        "originalUriBaseIds": {"%SRCROOT%": {"description": {
            "text": "The root of the repository checked."}}},
        "results": results,
        "properties": {"conclusion": report.conclusion, "base": report.base,
                       "head": report.head,
                       "affectedHandlers": [s.handler.name for s in report.affected]},
    }
    if report.nothing_checked:
        run["invocations"] = [{"executionSuccessful": True, "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": report.nothing_checked}}]}]
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"
