"""Rules about where a change may go: SK002 write scope, SK003 no frontend, SK008 protected.

Each changed path gets the most specific finding only: protected (SK008) over
frontend (SK003) over out of scope (SK002). Renames are judged at both paths.
"""

from __future__ import annotations

from collections.abc import Iterator

from daemon.gates.model import RULES, Change, LintFinding, RuleConfig, Status
from daemon.globs import matches, matches_loosely


def _paths(change: Change) -> Iterator[tuple[str, str]]:
    """Every path a change touches, with a verb for messages."""
    for changed in change.files:
        verb = {Status.ADDED: "adds", Status.DELETED: "deletes"}.get(changed.status, "changes")
        if changed.status is Status.RENAMED and changed.old_path:
            yield changed.old_path, "renames away"
        yield changed.path, verb


def check_paths(change: Change, config: RuleConfig) -> list[LintFinding]:
    """SK002, SK003 and SK008 for every path the change touches."""
    findings: list[LintFinding] = []
    for path, verb in _paths(change):
        if "SK008" in config.rules and matches_loosely(path, config.protected):
            message = f"{verb} protected path {path}"
            findings.append(_finding("SK008", path, message))
        elif "SK003" in config.rules and matches_loosely(path, config.forbidden):
            findings.append(_finding("SK003", path, f"{verb} frontend file {path}"))
        elif "SK002" in config.rules and not matches(path, config.write_scope):
            scope = ", ".join(config.write_scope) or "(nothing)"
            findings.append(
                _finding("SK002", path, f"{verb} {path}, outside the write scope {scope}")
            )
    return findings


def _finding(rule: str, path: str, message: str) -> LintFinding:
    info = RULES[rule]
    return LintFinding(rule, info.severity, path, 0, message, info.help)
