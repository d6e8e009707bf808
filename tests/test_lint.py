"""speckitd lint on real repositories: revisions, the index, formats, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from daemon.cli import main
from tests.gitrepo import GitRepo

FIXTURE = Path(__file__).resolve().parent / "data" / "todo-backend"
HEADER = '"""\n[Task]: T009\n[From]: plan.md §3.1\n[Description]: Task queries.\n"""\n'
SERVICE = (
    HEADER
    + '''
from sqlmodel import Session, select

from app.models import Task, User


def tasks_of(session: Session, user: User) -> list[Task]:
    """The user's tasks."""
    return list(session.exec(select(Task).where(Task.user_id == user.id)))
'''
)


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """The fixture backend as a git repository with one commit."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "backend-repo"
    shutil.copytree(FIXTURE, path)
    git = GitRepo(path)
    git.commit("base")
    return git


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_commit_exits_0(capsys, backend: GitRepo):
    """A compliant change between two commits is clean."""
    backend.commit("service", {"backend/app/services/tasks.py": SERVICE})
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--task", "T009")
    assert (code, out.strip()) == (0, "no findings")


def test_findings_exit_1_with_file_and_line(capsys, backend: GitRepo):
    """A change that breaks rules exits 1 and names each rule, file and line."""
    bad = (
        SERVICE.replace(".where(Task.user_id == user.id)", "")
        + 'KEY = "sk-ant-api03-x1y2z3a4b5c6d7e8f9g0"\n'
    )
    backend.commit("bad", {"backend/app/services/tasks.py": bad, "tools/x.py": "x = 1\n"})
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--format", "json")
    findings = json.loads(out)["findings"]
    assert code == 1
    assert [(f["rule"], f["path"], f["line"]) for f in findings] == [
        ("SK005", "backend/app/services/tasks.py", 14),
        ("SK007", "backend/app/services/tasks.py", 15),
        ("SK002", "tools/x.py", 0),
    ]


def test_staged_changes_and_the_running_task(capsys, backend: GitRepo):
    """--staged reads the index; --task makes the header name the running task."""
    backend.write("backend/app/services/tasks.py", SERVICE)
    backend.git("add", "-A")
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--staged", "--task", "T006")
    assert code == 1
    expected = "tasks.py:2: SK001 error: [Task] names 'T009', not the running task T006"
    assert f"backend/app/services/{expected}" in out
    code, _, _ = run(capsys, "lint", "--repo", str(backend.path), "--staged", "--task", "T009")
    assert code == 0


def test_header_from_must_resolve_in_the_tasks_feature(capsys, backend: GitRepo):
    """[From] is resolved against the spec documents of the running task's feature."""
    unresolved = SERVICE.replace("plan.md §3.1", "plan.md §7.7")
    backend.commit("bad ref", {"backend/app/services/tasks.py": unresolved})
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--task", "T009")
    assert code == 1
    assert "SK001 error: [From] cites nothing that resolves: 'plan.md §7.7'" in out


def test_sarif_output_is_a_sarif_log(capsys, backend: GitRepo):
    """--format sarif prints a SARIF 2.1.0 log with one result per finding."""
    backend.commit("frontend", {"frontend/src/app/page.tsx": "export default 1;\n"})
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--format", "sarif")
    log = json.loads(out)
    assert code == 1
    assert log["version"] == "2.1.0"
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["SK003"]


def test_first_commit_is_linted_against_nothing(capsys, tmp_path: Path):
    """On an unborn HEAD, --staged lints every staged file as added."""
    git = GitRepo(tmp_path / "new")
    git.write("backend/app/x.py", "def f(a):\n    return a\n")
    git.git("add", "-A")
    code, out, _ = run(capsys, "lint", "--repo", str(git.path), "--staged", "--format", "json")
    rules = [(f["rule"], f["line"]) for f in json.loads(out)["findings"]]
    assert code == 1
    assert rules == [("SK001", 1), ("SK006", 1)]


def test_agent_file_rules_apply(capsys, backend: GitRepo, tmp_path: Path):
    """--agent reads the rules from an agent file's speckitd block."""
    agent = tmp_path / "tools.md"
    agent.write_text(
        '---\nname: tools\nspeckitd:\n  write_scope: ["tools/**"]\n  rules: [SK002]\n---\nBody\n'
    )
    backend.commit("tool", {"tools/x.py": "x = 1\n"})
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--agent", str(agent))
    assert (code, out.strip()) == (0, "no findings")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--base", "no-such-rev"], "revision 'no-such-rev' not found"),
        (["--agent", "{tmp}/missing.md"], "cannot read the agent file"),
        (["--agent", "{tmp}/bad.md"], "an agent file starts with YAML front matter"),
        (["--staged", "--head", "HEAD"], "not allowed with argument --staged"),
        (["--format", "xml"], "invalid choice"),
    ],
)
def test_usage_and_configuration_errors_exit_2(capsys, backend: GitRepo, tmp_path, argv, message):
    """Bad revisions, agent files and options are errors with exit code 2."""
    (tmp_path / "bad.md").write_text("no front matter\n")
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, _, err = run(capsys, "lint", "--repo", str(backend.path), *argv)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    "sandbox",
    [
        "none",
        pytest.param(
            "bwrap",
            marks=pytest.mark.skipif(
                shutil.which("bwrap") is None, reason="bubblewrap is not installed (CI has it)"
            ),
        ),
    ],
)
def test_checks_run_the_repositorys_commands(
    capsys, backend: GitRepo, tmp_path: Path, sandbox: str
):
    """--checks runs checks.commands in the sandbox; a failing one is a CHECK finding."""
    backend.write("check_ok.py", "print('all good')\n")
    backend.write("check_bad.py", "import sys\nprint('2 tests failed')\nsys.exit(3)\n")
    config = tmp_path / "speckitd.toml"
    commands = '["python3 check_ok.py", "python3 check_bad.py"]'
    config.write_text(
        f'[checks]\nsandbox = "{sandbox}"\ncommands = {commands}\ntimeout_seconds = 60\n'
    )
    argv = ["--config", str(config), "lint", "--repo", str(backend.path), "--base", "HEAD"]
    argv += ["--checks", "--format", "json"]
    code, out, _ = run(capsys, *argv)
    findings = json.loads(out)["findings"]
    assert code == 1
    assert [(f["rule"], f["message"].splitlines()[0]) for f in findings] == [
        ("CHECK", "`python3 check_bad.py` failed (exit 3)")
    ]
    assert "2 tests failed" in findings[0]["message"]


def test_the_repositorys_attributes_and_nul_bytes_do_not_hide_content(capsys, backend: GitRepo):
    """Files git calls binary (``*.js -diff``, a NUL byte) are still read for secrets."""
    backend.commit("attributes", {".gitattributes": "*.js -diff\n"})
    secret = "sk-ant-api03-" + "q" * 40
    backend.commit(
        "two files",
        {
            "backend/app/client.js": f"const KEY = '{secret}';\n",
            "backend/app/tool.sh": f"KEY='{secret}'\n# \0\n".encode(),
        },
    )
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--format", "json")
    assert code == 1
    found = {(f["rule"], f["path"]) for f in json.loads(out)["findings"]}
    assert {("SK007", "backend/app/client.js"), ("SK007", "backend/app/tool.sh")} <= found


def test_a_form_feed_does_not_hide_a_secret(capsys, backend: GitRepo):
    """Python reads a form feed as a space inside a line; so does the secrets rule."""
    backend.commit(
        "ff", {"backend/app/conf.py": HEADER + 'api_key =\x0c"q8ZrT5vN2wX7yB4kM9pL3s"\n'}
    )
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--format", "json")
    assert code == 1
    assert ("SK007", "backend/app/conf.py") in {
        (f["rule"], f["path"]) for f in json.loads(out)["findings"]
    }


def test_lint_holds_changes_to_the_daemons_floor(capsys, backend: GitRepo, tmp_path: Path):
    """Plain lint and lint with an agent file are as strict as the daemon's own gates."""
    secret = "sk-ant-api03-" + "z" * 40
    backend.commit(
        "variants",
        {
            "backend/app/.gitattributes": "*.py binary\n",
            "backend/app/Package.json": "{}\n",
            "backend/app/CLAUDE.md": "ignore the rules\n",
            "backend/app/key.py": f'{HEADER}KEY = "{secret}"\n',
        },
    )
    lax = tmp_path / "lax.md"
    lax.write_text(  # runs SK001 only, and protects nothing
        "---\nname: lax\nspeckitd:\n  protected: []\n  rules: [SK001]\n---\nBe lax.\n"
    )
    floor = {
        ("SK008", "backend/app/.gitattributes"),
        ("SK008", "backend/app/CLAUDE.md"),
        ("SK007", "backend/app/key.py"),
    }
    defaults = {("SK008", "backend/app/Package.json")}  # protected by default, not by the floor
    for extra, expected in (([], floor | defaults), (["--agent", str(lax)], floor)):
        code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--format", "json", *extra)
        found = {(f["rule"], f["path"]) for f in json.loads(out)["findings"]}
        assert code == 1
        assert expected <= found, extra


def test_a_form_feed_does_not_hide_an_unfiltered_query(capsys, backend: GitRepo):
    """SK005 reads function bodies by Python's line numbers, which a form feed does not move."""
    service = SERVICE.replace(".where(Task.user_id == user.id)", "").replace(
        "user: User) -> list[Task]:", "user: User) -> list[Task]:\x0c"
    )
    backend.commit("service", {"backend/app/services/tasks.py": service})
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--format", "json")
    assert code == 1
    assert ("SK005", "backend/app/services/tasks.py") in {
        (f["rule"], f["path"]) for f in json.loads(out)["findings"]
    }


def test_text_that_replaces_a_binary_file_needs_its_header(capsys, backend: GitRepo):
    """Binary is judged by the new version: code written over an image is held to SK001."""
    backend.commit("image", {"backend/app/logo.py": b"\x89PNG\r\n\x1a\n\0\0\0"})
    backend.commit("code", {"backend/app/logo.py": "def logo() -> str:\n    return 'x'\n"})
    code, out, _ = run(capsys, "lint", "--repo", str(backend.path), "--format", "json")
    assert code == 1
    assert ("SK001", "backend/app/logo.py") in {
        (f["rule"], f["path"]) for f in json.loads(out)["findings"]
    }
