"""The command line: output, JSON contract, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon.cli import main
from tests.gitrepo import ALICE, BOB, GitRepo

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "todo"


@pytest.fixture(autouse=True)
def _no_ambient_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test from an empty folder with no SPECKITD_* environment."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("SPECKITD_")]:
        monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tasks_on_the_shipped_example(capsys):
    """'speckitd tasks' on examples/todo lists every task with state, place and references."""
    code, out, err = run(capsys, "tasks", "--repo", str(EXAMPLE))
    assert code == 0
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"{EXAMPLE} at working tree: 5 tasks"
    rows = [line.split()[:3] for line in lines if line.startswith("T-")]
    assert rows == [
        ["T-001", "done", "speckit.tasks:8"],
        ["T-002", "approved", "speckit.tasks:9"],
        ["T-003", "open", "speckit.tasks:10"],
        ["T-004", "open", "speckit.tasks:14"],
        ["T-005", "held", "speckit.tasks:16"],
    ]
    assert "speckit.plan §2.1 → speckit.plan:10" in out


def test_tasks_json_is_the_documented_shape(capsys):
    """'tasks --json' gives the speckitd.tasks/1 payload."""
    code, out, _ = run(capsys, "tasks", "--repo", str(EXAMPLE), "--json")
    payload = json.loads(out)
    assert code == 0
    assert payload["schema"] == "speckitd.tasks/1"
    assert payload["history"] is False
    task = payload["tasks"][3]
    assert (task["id"], task["key"], task["state"], task["stories"]) == (
        "T-004",
        "T4",
        "open",
        ["US1"],
    )
    assert task["depends_on"] == ["T2", "T3"]
    assert task["paths"] == ["backend/app/routes/tasks.py"]
    assert {(r["raw"], r["resolved"], r["line"]) for r in task["refs"]} == {
        ("speckit.plan §3.1", True, 15),
        ("speckit.specify FR-002", True, 14),
        ("[US1]", True, 5),
    }


@pytest.fixture
def sample(tmp_path: Path) -> GitRepo:
    git = GitRepo(tmp_path / "repo")
    for name in ("speckit.specify", "speckit.plan", "speckit.constitution"):
        git.write(name, (EXAMPLE / name).read_text())
    plain = (
        (EXAMPLE / "speckit.tasks").read_text().replace(" [approved]", "").replace(" [hold]", "")
    )
    git.commit("specs", {"speckit.tasks": plain})
    marked = plain.replace("T-003 [P]", "T-003 [P] [approved]")
    git.commit("approve T-003", {"speckit.tasks": marked}, author=BOB)
    git.commit("approve T-002\n\nApproved-Tasks: T-002", author=ALICE)
    return git


def test_scan_reports_what_would_run_and_who_approved(capsys, sample: GitRepo):
    """'scan --json' names each newly approved task, its commit, approver and signal."""
    code, out, _ = run(capsys, "scan", "--repo", str(sample.path), "--json")
    payload = json.loads(out)
    assert code == 0
    assert payload["schema"] == "speckitd.scan/1"
    assert payload["commits"] == 3
    assert [
        (r["id"], r["commit"], r["approver"]["email"], r["signal"]) for r in payload["run"]
    ] == [
        ("T-003", sample.head("HEAD~1"), BOB[1], "marker"),
        ("T-002", sample.head(), ALICE[1], "trailer"),
    ]


def test_scan_with_approvers_from_config_ignores_others(capsys, sample: GitRepo, tmp_path: Path):
    """With approval.approvers set, Bob's marker is listed as ignored and does not run."""
    config = tmp_path / "speckitd.toml"
    config.write_text('[approval]\napprovers = ["alice@example.com"]\n')
    code, out, _ = run(capsys, "--config", str(config), "scan", "--repo", str(sample.path))
    assert code == 0
    assert "would run: 1\n  T-002" in out
    assert "ignored: 1\n  T-003 (marker)" in out
    assert "not in approval.approvers" in out


def test_scan_from_the_previous_tip_reports_only_the_new_approval(capsys, sample: GitRepo):
    """--from limits the report to approvals made after that commit."""
    code, out, _ = run(capsys, "scan", "--repo", str(sample.path), "--from", "HEAD~1", "--json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)["run"]] == ["T-002"]


def test_tasks_at_a_revision_uses_history(capsys, sample: GitRepo):
    """On a repository, 'tasks' decides approval from history, at --rev."""
    code, out, _ = run(capsys, "tasks", "--repo", str(sample.path), "--rev", "HEAD~2", "--json")
    states = {t["id"]: t["state"] for t in json.loads(out)["tasks"]}
    assert code == 0
    assert states == {
        "T-001": "done",
        "T-002": "open",
        "T-003": "open",
        "T-004": "open",
        "T-005": "open",
    }
    code, out, _ = run(capsys, "tasks", "--repo", str(sample.path), "--json")
    tasks = {t["id"]: t for t in json.loads(out)["tasks"]}
    assert tasks["T-002"]["state"] == "approved"
    assert tasks["T-002"]["approval"]["signal"] == "trailer"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["scan", "--repo", "{tmp}/nowhere"], 3, "not a git repository"),
        (
            ["scan", "--repo", "{repo}", "--from", "no-such-rev"],
            3,
            "revision 'no-such-rev' not found",
        ),
        (["tasks", "--repo", "{repo}", "--rev", "HEAD^{{tree}}"], 3, "names a tree, not a commit"),
        (["tasks", "--repo", "{tmp}/nowhere"], 2, "no such directory"),
        (["tasks", "--repo", "{tmp}", "--rev", "main"], 2, "--rev needs a git repository"),
        (["--config", "{tmp}/missing.toml", "tasks"], 2, "missing.toml"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(
    capsys, sample: GitRepo, tmp_path, argv, code, message
):
    """Bad repositories, revisions, folders and settings give one line on stderr and a code."""
    argv = [a.format(tmp=tmp_path, repo=sample.path) for a in argv]
    got, out, err = run(capsys, *argv)
    assert got == code
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("speckitd: error: ")
    assert message in err


def test_bad_toml_names_file_and_line(capsys, tmp_path: Path):
    """A syntax error in the settings file is reported with its path and line."""
    config = tmp_path / "speckitd.toml"
    config.write_text("[approval]\napprovers = [\n")
    code, _, err = run(capsys, "--config", str(config), "tasks", "--repo", str(EXAMPLE))
    assert code == 2
    assert f"{config}:2:" in err  # the line of the unclosed list


def test_error_findings_exit_1_and_go_to_stderr(capsys, tmp_path: Path):
    """A binary task file is reported with file and line on stderr; the exit code is 1."""
    folder = tmp_path / "proj"
    (folder / "specs" / "001-x").mkdir(parents=True)
    (folder / "specs/001-x/tasks.md").write_bytes(b"\0\1\2\3" * 100)
    (folder / "speckit.tasks").write_text("- [ ] T001 [approved] fine\n")
    code, out, err = run(capsys, "tasks", "--repo", str(folder))
    assert code == 1
    assert "T001  approved  speckit.tasks:1" in out
    assert err.strip() == (
        "specs/001-x/tasks.md:1: error: binary content (NUL bytes among non-text bytes); "
        "not parsed [input.binary]"
    )


def test_usage_error_exits_2(capsys):
    """An unknown command is a usage error (exit 2)."""
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    assert "invalid choice" in err
