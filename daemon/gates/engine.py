"""The policy engine: every rule of the agent's contract, over one change. Pure."""

from __future__ import annotations

from collections.abc import Callable

from daemon.gates.contract import check_contract
from daemon.gates.header import check_headers
from daemon.gates.isolation import check_isolation
from daemon.gates.model import Change, LintFinding, RuleConfig
from daemon.gates.paths import check_paths
from daemon.gates.secrets import check_secrets
from daemon.gates.typing_rule import check_typing

Rule = Callable[[Change, RuleConfig], list[LintFinding]]

CHECKS: tuple[Rule, ...] = (
    check_headers,  # SK001
    check_paths,  # SK002, SK003, SK008
    check_contract,  # SK004
    check_isolation,  # SK005
    check_typing,  # SK006
    check_secrets,  # SK007
)


def lint(change: Change, config: RuleConfig) -> list[LintFinding]:
    """Every finding of every enabled rule, sorted by path, line and rule."""
    findings = [finding for check in CHECKS for finding in check(change, config)]
    return sorted(findings, key=LintFinding.sort_key)
