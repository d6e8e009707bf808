"""The gates on an agent's worktree: the policy rules and the project's sandboxed checks.

The worktree's files are recorded as a commit on no ref (:func:`daemon.git.snapshot`),
so the rules read the agent's work exactly as they read any change from its base.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from daemon.gates.checks import check_findings, run_checks
from daemon.gates.model import LintFinding, RuleConfig, Severity
from daemon.gates.report import text
from daemon.gates.sandbox import Sandbox
from daemon.git import Repo, materialize, snapshot
from daemon.lint import lint_change


@dataclass(frozen=True, slots=True)
class GateReport:
    """What the gates found; the work passes when no finding is an error."""

    findings: tuple[LintFinding, ...]

    @property
    def passed(self) -> bool:
        """Whether no error-severity finding remains."""
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def render(self) -> str:
        """The text report the model reads."""
        verdict = "PASSED" if self.passed else "FAILED"
        return f"gates {verdict}\n{text(self.findings)}"


class Gates(Protocol):
    """Checks the current state of a worktree."""

    def check(self) -> GateReport:
        """Run every gate on the worktree as it is now."""
        ...


@dataclass(frozen=True, slots=True)
class WorktreeGates:
    """The policy rules from ``base`` to the worktree, then ``commands`` in the sandbox."""

    worktree: Path
    base: str
    task_ids: tuple[str, ...]
    rules: RuleConfig
    commands: Sequence[str] = ()
    sandbox: Sandbox | None = None
    timeout: float = 600.0

    def check(self) -> GateReport:
        """Lint the worktree's snapshot; run the checks only when the rules pass.

        The checks run on a throwaway copy of the snapshot: the repository's tests are
        untrusted code, and what they write must never reach the branch, where it would
        dodge the write scope the rules just checked; and files git ignores (which the
        commit leaves out, such as a ``conftest.py`` listed in a ``.gitignore``) must not
        change what the checks see.
        """
        repo = Repo(self.worktree)
        head = snapshot(repo, self.base)
        findings = lint_change(
            repo, base=self.base, head=head, task_ids=self.task_ids, config=self.rules
        )
        failed = any(f.severity is Severity.ERROR for f in findings)
        if self.commands and self.sandbox is not None and not failed:
            with tempfile.TemporaryDirectory(prefix="speckitd-checks-") as scratch:
                copy = Path(scratch) / "worktree"
                copy.mkdir()
                materialize(repo, head, copy)
                runs = run_checks(
                    self.commands, worktree=copy, sandbox=self.sandbox, timeout=self.timeout
                )
            findings = [*findings, *check_findings(runs, self.timeout)]
        return GateReport(tuple(findings))
