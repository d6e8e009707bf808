"""Lint findings rendered for ``speckitd lint --format text|json|sarif|github``. Pure.

Every renderer sorts findings by :meth:`LintFinding.sort_key` and returns the
whole report as one string without a trailing newline (the caller prints it).

Line 0 means "the whole file". Text output then drops the line number
(``path: SK001 ...``), GitHub commands drop ``line=``, and JSON keeps ``0``.
SARIF places such a finding on ``startLine`` 1: the schema would accept a
location without a region, but GitHub code scanning needs ``region.startLine``
to show an alert on a file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import PurePath
from typing import TypeAlias
from urllib.parse import quote

from daemon.gates.model import RULES, LintFinding, RuleInfo, Severity

__all__ = [
    "FORMATS",
    "SARIF_SCHEMA",
    "github",
    "json_report",
    "render",
    "sarif",
    "text",
]

FORMATS: tuple[str, ...] = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
JSON_SCHEMA_ID = "speckitd.lint/1"
TOOL_NAME = "speckitd"
TOOL_URI = "https://github.com/speckitd/speckitd"
SRCROOT = "%SRCROOT%"
# Versioned, as SARIF §3.27.17 recommends, so the scheme can change without clashes.
FINGERPRINT_KEY = "speckitdFinding/v1"

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}

_Json: TypeAlias = dict[str, object]


def render(findings: Sequence[LintFinding], fmt: str, *, tool_version: str, root: str = "") -> str:
    """The report of ``findings`` in format ``fmt`` (one of :data:`FORMATS`).

    ``tool_version`` and ``root`` (the absolute repository root) are used by SARIF
    only. An unknown ``fmt`` raises ``ValueError``.
    """
    if fmt == "sarif":
        return sarif(findings, tool_version=tool_version, root=root)
    renderer = _PLAIN.get(fmt)
    if renderer is None:
        raise ValueError(f"unknown lint format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderer(findings)


def text(findings: Sequence[LintFinding]) -> str:
    """Human-readable lines ``path:line: RULE severity: message``, hints, then a summary."""
    lines: list[str] = []
    for f in _sorted(findings):
        path = _printable(f.path)
        where = f"{path}:{f.line}:" if f.line > 0 else f"{path}:"
        # A message keeps its lines (check output), indented: a path quoted in it cannot
        # start a line of its own and pass for another finding.
        message = "\n    ".join(_printable(line, keep="\t") for line in f.message.split("\n"))
        lines.append(f"{where} {f.rule} {f.severity.value}: {message}")
        if f.hint:
            lines.append(f"    hint: {_printable(f.hint)}")
    lines.append(_summary(findings))
    return "\n".join(lines)


def json_report(findings: Sequence[LintFinding]) -> str:
    """The ``speckitd.lint/1`` JSON document: findings in order and error/warning counts."""
    errors, warnings = _counts(findings)
    doc: _Json = {
        "schema": JSON_SCHEMA_ID,
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity.value,
                "path": f.path,
                "line": f.line,
                "message": f.message,
                "hint": f.hint,
            }
            for f in _sorted(findings)
        ],
        "summary": {"errors": errors, "warnings": warnings},
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def sarif(findings: Sequence[LintFinding], *, tool_version: str, root: str = "") -> str:
    """A SARIF 2.1.0 log with one run: every rule's metadata and one result per finding.

    Artifact URIs are the findings' relative POSIX paths, percent-encoded, against
    ``%SRCROOT%``; ``root``, when given, must be absolute and becomes that base's
    ``file://`` URI. A relative ``root`` raises ``ValueError``.
    """
    ordered = _sorted(findings)
    infos = _rule_infos(ordered)
    index = {info.id: i for i, info in enumerate(infos)}
    driver: _Json = {
        "name": TOOL_NAME,
        "version": tool_version,
        "informationUri": TOOL_URI,
        "rules": [_sarif_rule(info) for info in infos],
    }
    run: _Json = {"tool": {"driver": driver}}
    if root:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _root_uri(root)}}
    run["results"] = _sarif_results(ordered, index)
    log: _Json = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False)


def github(findings: Sequence[LintFinding]) -> str:
    """GitHub Actions workflow commands, one ``::error``/``::warning``/``::notice`` per finding."""
    lines: list[str] = []
    for f in _sorted(findings):
        props = [f"file={_escape_property(f.path)}"]
        if f.line > 0:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f.rule)}")
        command = _GITHUB_COMMAND[f.severity]
        lines.append(f"::{command} {','.join(props)}::{_escape_data(_full_message(f))}")
    return "\n".join(lines)


_PLAIN: dict[str, Callable[[Sequence[LintFinding]], str]] = {
    "text": text,
    "json": json_report,
    "github": github,
}


def _sorted(findings: Sequence[LintFinding]) -> list[LintFinding]:
    return sorted(findings, key=LintFinding.sort_key)


def _counts(findings: Sequence[LintFinding]) -> tuple[int, int]:
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in findings if f.severity is Severity.WARNING)
    return errors, warnings


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summary(findings: Sequence[LintFinding]) -> str:
    if not findings:
        return "no findings"
    errors, warnings = _counts(findings)
    total = _plural(len(findings), "finding")
    return f"{total} ({_plural(errors, 'error')}, {_plural(warnings, 'warning')})"


def _full_message(f: LintFinding) -> str:
    return f"{f.message}\nhint: {f.hint}" if f.hint else f.message


def _rule_infos(findings: Sequence[LintFinding]) -> list[RuleInfo]:
    """The known rules in catalogue order, then any unknown rule a finding names.

    Unknown rules get a minimal descriptor so every result's ``ruleIndex`` is valid.
    """
    infos = list(RULES.values())
    extra = sorted({f.rule for f in findings} - RULES.keys())
    infos.extend(RuleInfo(rule, rule, rule, "") for rule in extra)
    return infos


def _sarif_rule(info: RuleInfo) -> _Json:
    rule: _Json = {
        "id": info.id,
        "name": info.name,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.summary},
        "defaultConfiguration": {"level": _SARIF_LEVEL[info.severity]},
    }
    if info.help:
        rule["help"] = {"text": info.help}
    return rule


def _sarif_results(findings: Sequence[LintFinding], index: dict[str, int]) -> list[_Json]:
    seen: dict[str, int] = {}
    results: list[_Json] = []
    for f in findings:
        digest = _fingerprint(f)
        # Same rule, path and message more than once in a file: number the repeats in
        # line order, as CodeQL does, so code scanning keeps them apart.
        nth = seen.get(digest, 0) + 1
        seen[digest] = nth
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": _full_message(f)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _path_uri(f.path), "uriBaseId": SRCROOT},
                            "region": {"startLine": max(f.line, 1)},
                        }
                    }
                ],
                "partialFingerprints": {FINGERPRINT_KEY: f"{digest}:{nth}"},
            }
        )
    return results


def _printable(text: str, keep: str = "") -> str:
    """``text`` for a terminal or a CI log, where a file name must not forge lines.

    Control characters (newlines, ANSI escapes), invisible ones and bytes that are
    not UTF-8 are shown as escapes.
    """
    return "".join(
        char if char.isprintable() or char in keep else char.encode("unicode_escape").decode()
        for char in text
    )


def _fingerprint(f: LintFinding) -> str:
    """A hash of what the finding is, not where: line numbers move as files are edited."""
    key = "\0".join((f.rule, f.path, f.message))
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _path_uri(path: str) -> str:
    # git paths use "/" only: a backslash is part of a name. Names that are not UTF-8
    # (pygit2 keeps their bytes as surrogates) are percent-encoded byte for byte.
    return quote(path.removeprefix("./").encode("utf-8", "surrogateescape"), safe="/")


def _root_uri(root: str) -> str:
    path = PurePath(root)
    if not path.is_absolute():
        raise ValueError(f"SARIF root must be an absolute path, got {root!r}")
    uri = path.as_uri()
    return uri if uri.endswith("/") else f"{uri}/"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")
