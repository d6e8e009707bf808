"""The gates on an agent's worktree: rules on a snapshot, checks on a throwaway copy."""

from __future__ import annotations

from daemon.agent.gating import WorktreeGates
from daemon.gates.model import RuleConfig
from daemon.gates.sandbox import choose
from tests.agent.support import SERVICE, make_project

SERVICE_PATH = "backend/app/services/tasks.py"


def test_checks_cannot_write_into_the_worktree(tmp_path):
    """A check that writes a workflow file leaves the worktree untouched."""
    project = make_project(tmp_path)
    (project.worktree / SERVICE_PATH).parent.mkdir(parents=True)
    (project.worktree / SERVICE_PATH).write_text(SERVICE)
    gates = WorktreeGates(
        project.worktree,
        project.base,
        ("T009",),
        RuleConfig(),
        commands=["sh -c 'mkdir -p .github/workflows && echo x > .github/workflows/x.yml'"],
        sandbox=choose("none"),
        timeout=60,
    )
    report = gates.check()
    assert report.passed, report.render()
    assert not (project.worktree / ".github" / "workflows" / "x.yml").exists()


def test_a_failing_check_is_an_error_finding(tmp_path):
    """A command that exits non-zero fails the gates with a CHECK finding."""
    project = make_project(tmp_path)
    gates = WorktreeGates(
        project.worktree,
        project.base,
        ("T009",),
        RuleConfig(),
        commands=["sh -c 'echo broken; exit 3'"],
        sandbox=choose("none"),
        timeout=60,
    )
    report = gates.check()
    assert not report.passed
    assert [f.rule for f in report.findings] == ["CHECK"]
    assert "broken" in report.findings[0].message


def test_checks_see_the_snapshot_not_files_git_ignores(tmp_path):
    """An ignored file (left out of the commit) cannot change what the checks run on."""
    project = make_project(tmp_path)
    app = project.worktree / "backend" / "app"
    (app / "services").mkdir(parents=True, exist_ok=True)
    (project.worktree / SERVICE_PATH).write_text(SERVICE)
    (app / ".gitignore").write_text("conftest.py\n")
    (app / "conftest.py").write_text("# would turn every test into a no-op\n")
    gates = WorktreeGates(
        project.worktree,
        project.base,
        ("T009",),
        RuleConfig(),
        commands=[
            "sh -c 'test -f backend/app/services/tasks.py && test ! -e backend/app/conftest.py'"
        ],
        sandbox=choose("none"),
        timeout=60,
    )
    report = gates.check()
    assert report.passed, report.render()
    assert (app / "conftest.py").exists()  # the worktree itself is left alone
