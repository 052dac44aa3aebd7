"""`reviewbot check --format sarif`: SARIF 2.1.0 that code scanning takes, one result per
broken import statement, valid against the SARIF 2.1.0 schema (as the pydantic models
that datamodel-codegen generated from it, extra fields forbidden)."""

from __future__ import annotations

import json

from pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema as Log

from reviewbot.cli import main
from reviewbot.demo import write_incident_repo
from reviewbot.sarif import to_sarif
from tests.test_markdown import big


def valid(text: str) -> dict:
    data = json.loads(text)
    Log.model_validate(data)  # raises on anything the schema does not allow
    return data


def test_the_incident_is_one_error_at_the_failing_line(tmp_path, capsys):
    commits = write_incident_repo(tmp_path / "goals")
    code = main(["check", "--repo", str(tmp_path / "goals"), "--base", "main", "--head",
                 commits["pr"], "--format", "sarif"])
    data = valid(capsys.readouterr().out)
    assert code == 1
    [run] = data["runs"]
    assert data["version"] == "2.1.0"
    assert run["tool"]["driver"]["name"] == "reviewbot"
    [result] = run["results"]
    assert result["ruleId"] == "missing-name" and result["level"] == "error"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "backend/handlers/auth/main.py",
                                       "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 3}
    assert result["message"]["text"].startswith(
        "Unable to import module 'main': cannot import name 'GoalValidationError' from "
        "'goals_common'")
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "missing-name"

    main(["check", "--repo", str(tmp_path / "goals"), "--base", "main", "--head",
          commits["fix"], "--format", "sarif"])
    assert valid(capsys.readouterr().out)["runs"][0]["results"] == []


def test_one_result_per_cause_whatever_the_number_of_handlers():
    data = valid(to_sarif(big(150)))
    results = data["runs"][0]["results"]
    assert len(results) == 2  # 50 handlers broken by one line, one by another
    shared = next(r for r in results if "goals_common" in
                  r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
    assert len(shared["properties"]["handlers"]) == 50
    assert "breaks 50 handlers: svc_000_handler" in shared["message"]["text"]
    assert "and 40 more" in shared["message"]["text"]
    # the fingerprint names the cause, not the line: code moving above keeps the alert
    fingerprints = {r["partialFingerprints"]["reviewbotCause/v1"] for r in results}
    assert len(fingerprints) == 2


def test_an_unknown_field_would_be_caught():
    """The validation this file relies on does reject what the schema forbids."""
    import pydantic
    import pytest

    data = json.loads(to_sarif(big(3)))
    data["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(pydantic.ValidationError):
        Log.model_validate(data)
    data = json.loads(to_sarif(big(3)))
    data["runs"][0]["bogus"] = 1
    with pytest.raises(pydantic.ValidationError):
        Log.model_validate(data)
