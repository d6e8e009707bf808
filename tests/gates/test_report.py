"""Lint reports: exact text and JSON, schema-valid SARIF, escaped GitHub commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from daemon.gates.model import RULES, LintFinding, Severity
from daemon.gates.report import SARIF_SCHEMA, github, json_report, render, sarif, text

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"
VERSION = "0.1.0"

E = Severity.ERROR
W = Severity.WARNING

SMALL = (
    LintFinding("SK006", W, "backend/app/b.py", 7, "add_task has no docstring"),
    LintFinding("SK001", E, "backend/app/a.py", 0, "missing header", "Add [Task]: T001"),
    LintFinding("SK002", E, "backend/app/a.py", 3, "outside write scope"),
)


def _every_rule() -> list[LintFinding]:
    """Several findings per rule: line 0, repeats, unicode, newlines, awkward paths."""
    findings: list[LintFinding] = []
    for rule, info in RULES.items():
        findings += [
            LintFinding(rule, info.severity, "backend/app/main.py", 0, f"{rule} whole file"),
            LintFinding(rule, info.severity, "backend/app/main.py", 12, "same text", "a hint"),
            LintFinding(rule, info.severity, "backend/app/main.py", 40, "same text", "a hint"),
            LintFinding(
                rule,
                Severity.INFO,
                "backend/app/ünï code/ä b%.py",
                3,
                "line one\nline two: 100% «quoted» ✓\r\n",
                "hint with\nnewline, comma",
            ),
        ]
    return findings


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    """The SARIF 2.1.0 schema, which declares draft-04."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def _assert_valid(validator: Draft4Validator, log: dict[str, object]) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(log)]
    assert errors == []


def test_sarif_without_findings_is_valid(validator):
    """An empty run still lists every rule and validates."""
    log = json.loads(sarif([], tool_version=VERSION))
    _assert_valid(validator, log)
    assert log["version"] == "2.1.0"
    assert log["$schema"] == SARIF_SCHEMA
    (run,) = log["runs"]
    assert run["results"] == []
    assert "originalUriBaseIds" not in run
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("speckitd", VERSION)
    assert [r["id"] for r in driver["rules"]] == list(RULES)


def test_sarif_rule_metadata():
    """Each rule carries name, descriptions, help and its default level."""
    log = json.loads(sarif([], tool_version=VERSION))
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    by_id = {r["id"]: r for r in rules}
    sk006 = by_id["SK006"]
    assert sk006["name"] == "typed-documented"
    assert sk006["shortDescription"]["text"] == RULES["SK006"].summary
    assert sk006["fullDescription"]["text"] == RULES["SK006"].summary
    assert sk006["help"]["text"] == RULES["SK006"].help
    assert sk006["defaultConfiguration"]["level"] == "warning"
    assert by_id["SK001"]["defaultConfiguration"]["level"] == "error"


def test_sarif_with_every_rule_is_valid(validator):
    """Findings of every rule, incl. line 0 and unicode/newlines, validate against the schema."""
    findings = _every_rule()
    log = json.loads(sarif(findings, tool_version=VERSION, root="/srv/repo"))
    _assert_valid(validator, log)
    (run,) = log["runs"]
    assert len(run["results"]) == len(findings)
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": "file:///srv/repo/"}}


def test_sarif_rule_index_points_at_rule():
    """Every result's ruleIndex names the rule of its ruleId."""
    log = json.loads(sarif(_every_rule(), tool_version=VERSION))
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["ruleId"] for r in run["results"]} == set(RULES)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_unknown_rule_gets_descriptor(validator):
    """A rule outside the catalogue is added to the rules so its ruleIndex stays valid."""
    log = json.loads(sarif([LintFinding("SK999", E, "x.py", 1, "m")], tool_version=VERSION))
    _assert_valid(validator, log)
    run = log["runs"][0]
    (result,) = run["results"]
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "SK999"


def test_sarif_result_fields():
    """Level, message with hint, relative URI against %SRCROOT%, line 0 placed on line 1."""
    log = json.loads(sarif(_every_rule(), tool_version=VERSION))
    results = log["runs"][0]["results"]
    whole = next(r for r in results if r["message"]["text"] == "SK001 whole file")
    location = whole["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "backend/app/main.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"] == {"startLine": 1}
    assert whole["level"] == "error"
    odd = next(r for r in results if r["ruleId"] == "SK001" and r["level"] == "note")
    assert odd["message"]["text"] == (
        "line one\nline two: 100% «quoted» ✓\r\n\nhint: hint with\nnewline, comma"
    )
    uri = odd["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "backend/app/%C3%BCn%C3%AF%20code/%C3%A4%20b%25.py"
    sk006 = next(r for r in results if r["ruleId"] == "SK006" and r["level"] != "note")
    assert sk006["level"] == "warning"


def test_sarif_fingerprints_are_stable_and_distinct():
    """Fingerprints ignore the line but number repeats, so every result's is unique."""
    first = json.loads(sarif(_every_rule(), tool_version=VERSION))["runs"][0]["results"]
    moved = [
        LintFinding(f.rule, f.severity, f.path, f.line + 5, f.message, f.hint)
        for f in _every_rule()
    ]
    second = json.loads(sarif(moved, tool_version=VERSION))["runs"][0]["results"]
    prints = [r["partialFingerprints"] for r in first]
    assert prints == [r["partialFingerprints"] for r in second]
    assert len({json.dumps(p) for p in prints}) == len(prints)


def test_sarif_relative_root_is_rejected():
    """The %SRCROOT% base must be an absolute file URI."""
    with pytest.raises(ValueError, match="absolute"):
        sarif([], tool_version=VERSION, root="repo")


def test_text_small_case():
    """Sorted lines, an indented hint, a summary; line 0 shows the path only."""
    assert text(SMALL).splitlines() == [
        "backend/app/a.py: SK001 error: missing header",
        "    hint: Add [Task]: T001",
        "backend/app/a.py:3: SK002 error: outside write scope",
        "backend/app/b.py:7: SK006 warning: add_task has no docstring",
        "3 findings (2 errors, 1 warning)",
    ]


def test_text_no_findings():
    """An empty report says so."""
    assert text([]) == "no findings"


def test_json_structure():
    """The speckitd.lint/1 document, findings sorted, keys in a stable order."""
    doc = json.loads(json_report(SMALL))
    assert doc == {
        "schema": "speckitd.lint/1",
        "findings": [
            {
                "rule": "SK001",
                "severity": "error",
                "path": "backend/app/a.py",
                "line": 0,
                "message": "missing header",
                "hint": "Add [Task]: T001",
            },
            {
                "rule": "SK002",
                "severity": "error",
                "path": "backend/app/a.py",
                "line": 3,
                "message": "outside write scope",
                "hint": "",
            },
            {
                "rule": "SK006",
                "severity": "warning",
                "path": "backend/app/b.py",
                "line": 7,
                "message": "add_task has no docstring",
                "hint": "",
            },
        ],
        "summary": {"errors": 2, "warnings": 1},
    }
    assert list(doc) == ["schema", "findings", "summary"]
    assert list(doc["findings"][0]) == ["rule", "severity", "path", "line", "message", "hint"]


def test_json_keeps_unicode_readable():
    """Non-ASCII text is written as is, not as ASCII escapes."""
    out = json_report([LintFinding("SK001", E, "ä.py", 1, "✓")])
    assert "ä.py" in out
    assert "✓" in out


def test_github_commands():
    """One command per finding; warning and notice by severity; line 0 drops line=."""
    assert github(SMALL).splitlines() == [
        "::error file=backend/app/a.py,title=SK001::missing header%0Ahint: Add [Task]: T001",
        "::error file=backend/app/a.py,line=3,title=SK002::outside write scope",
        "::warning file=backend/app/b.py,line=7,title=SK006::add_task has no docstring",
    ]
    notice = github([LintFinding("SK006", Severity.INFO, "x.py", 2, "m")])
    assert notice == "::notice file=x.py,line=2,title=SK006::m"


@pytest.mark.parametrize(
    ("path", "message", "expected"),
    [
        ("a.py", "100% sure", "::error file=a.py,line=1,title=SK001::100%25 sure"),
        ("a.py", "one\ntwo\r", "::error file=a.py,line=1,title=SK001::one%0Atwo%0D"),
        ("a.py", "a: b, c", "::error file=a.py,line=1,title=SK001::a: b, c"),
        ("d:e,f%.py", "m", "::error file=d%3Ae%2Cf%25.py,line=1,title=SK001::m"),
        ("a\nb.py", "m", "::error file=a%0Ab.py,line=1,title=SK001::m"),
    ],
)
def test_github_escaping(path, message, expected):
    """Data escapes %, CR, LF; properties also escape : and ,."""
    assert github([LintFinding("SK001", E, path, 1, message)]) == expected


def test_github_no_findings():
    """No findings, no commands."""
    assert github([]) == ""


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_render_dispatches(fmt):
    """render() gives the same output as the format's own function."""
    direct = {
        "text": text(SMALL),
        "json": json_report(SMALL),
        "sarif": sarif(SMALL, tool_version=VERSION, root="/r"),
        "github": github(SMALL),
    }
    assert render(SMALL, fmt, tool_version=VERSION, root="/r") == direct[fmt]


def test_render_unknown_format():
    """An unknown format is a ValueError naming it."""
    with pytest.raises(ValueError, match="'xml'"):
        render(SMALL, "xml", tool_version=VERSION)


def test_odd_file_names_render_safely(validator):
    """Names that are not UTF-8, or hold a newline or an ANSI escape, render safely.

    SARIF still validates, with the bytes percent-encoded; text shows escapes.
    """
    odd = LintFinding("SK008", E, "specs/a\udcff/x.py", 1, "changes protected path")
    forged = LintFinding("SK002", E, "a\nb.py:1: SK000 error: forged\x1b[2K", 2, "m\nn")
    # Rules quote paths in their messages too ("adds protected path <path>").
    quoted = LintFinding("SK008", E, "x\nc.py", 3, "adds protected path x\nc.py:1: SK000 error: f")
    log = json.loads(sarif([odd, forged], tool_version=VERSION, root="/srv/repo"))
    _assert_valid(validator, log)
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    ]
    assert "specs/a%FF/x.py" in uris
    assert "a%0Ab.py%3A1%3A%20SK000%20error%3A%20forged%1B%5B2K" in uris
    shown = text([odd, forged, quoted])
    # The path cannot start a line of its own; a message keeps its lines (check output),
    # indented, so neither can what a message quotes.
    assert "a\\nb.py:1: SK000 error: forged\\x1b[2K:2: SK002 error: m\n    n" in shown
    assert not any(line.startswith(("b.py", "c.py")) for line in shown.splitlines())
    assert "\x1b" not in shown
