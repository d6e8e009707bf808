"""The target repository's own checks (``checks.commands``: ruff, tests) run in the sandbox.

Each command that fails, or runs out of time, becomes a ``CHECK`` finding carrying the
tail of its output; the repository's code never runs outside the sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from daemon.gates.model import RULES, LintFinding
from daemon.gates.sandbox import CheckRun, Sandbox, split_command

MEMORY_BYTES: Final = 2 * 1024 * 1024 * 1024
_TAIL_LINES: Final = 40


def run_checks(
    commands: Sequence[str],
    *,
    worktree: Path,
    sandbox: Sandbox,
    timeout: float,
    memory_bytes: int = MEMORY_BYTES,
) -> list[CheckRun]:
    """Run every command in the sandbox, one after another, in the worktree."""
    return [
        sandbox.run(
            split_command(command), worktree=worktree, timeout=timeout, memory_bytes=memory_bytes
        )
        for command in commands
    ]


def check_findings(runs: Sequence[CheckRun], timeout: float) -> list[LintFinding]:
    """A finding for each check that failed or timed out, with the end of its output."""
    info = RULES["CHECK"]
    findings: list[LintFinding] = []
    for run in runs:
        if run.passed:
            continue
        command = " ".join(run.argv)
        verdict = (
            f"timed out after {timeout:g}s" if run.timed_out else f"failed (exit {run.returncode})"
        )
        tail = "\n".join(run.output.rstrip().splitlines()[-_TAIL_LINES:])
        message = f"`{command}` {verdict}" + (f"\n{tail}" if tail else "")
        findings.append(LintFinding("CHECK", info.severity, ".", 0, message, info.help))
    return findings
