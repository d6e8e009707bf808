"""SK007: no secrets in the diff (only lines the change adds are read)."""

from __future__ import annotations

import re
from typing import Final

from daemon.gates.diff import added_lines
from daemon.gates.model import RULES, Change, LintFinding, RuleConfig

_PATTERNS: Final = (
    ("an Anthropic API key", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a GitHub token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    (
        "a JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    ),
    (
        "a password in a connection URL",
        re.compile(r"\b[a-z][a-z0-9+]*://[^\s:/@'\"]+:([^\s@/'\"]{4,})@"),
    ),
)
# `secret_key = "..."`: a quoted literal of 12+ characters assigned to a secret-sounding name.
_ASSIGNED: Final = re.compile(
    r"(?i)\b[\w.]*(?:secret|passw(?:or)?d|api_?key|token|private_?key|credential)s?\w*\b"
    r"\s*[:=]\s*(?:[\w\[\], ]+=\s*)?[rbuf]?([\"'])([^\"'\s]{12,})\1"
)
# Every pattern above needs one of these: one search rules most lines out.
_MAYBE: Final = re.compile(
    r"sk-ant-|gh[pousr]_|github_pat_|AKIA|ASIA|xox|PRIVATE KEY|eyJ|://"
    r"|secret|passw|api_?key|token|credential",
    re.IGNORECASE,
)
_PLACEHOLDER: Final = re.compile(
    r"(?i)^(?:<.*>|\$\{.*\}|\{\{.*\}\}|x{6,}|\*{6,}|changeme.*|your[-_].*|example.*|dummy.*|"
    r"test[-_].*|fake.*|placeholder.*|replace[-_]?me.*|.*\.\.\..*)$"
)


def _hit(text: str) -> str | None:
    if not _MAYBE.search(text):
        return None
    for what, pattern in _PATTERNS:
        match = pattern.search(text)
        if match and not _PLACEHOLDER.match(match.group(match.lastindex or 0)):
            return what
    match = _ASSIGNED.search(text)
    if match and not _PLACEHOLDER.match(match.group(2)):
        return "a credential-like literal"
    return None


def check_secrets(change: Change, config: RuleConfig) -> list[LintFinding]:
    """A finding for every added line that holds something secret-shaped."""
    if "SK007" not in config.rules:
        return []
    info = RULES["SK007"]
    findings: list[LintFinding] = []
    for changed in change.files:
        for number, text in added_lines(changed):
            what = _hit(text)
            if what is not None:
                message = f"adds {what} (the value is not repeated here)"
                findings.append(
                    LintFinding("SK007", info.severity, changed.path, number, message, info.help)
                )
    return findings
