"""The git hooks on real repositories: ``speckitd init --hooks``, then git commits and pushes.

The installed hooks run ``sys.executable -P -m daemon``: this interpreter and checkout.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from daemon.cli import main
from daemon.git import Repo
from daemon.hooks import HOOKS, pre_push, push_base, shim
from daemon.settings import load_settings
from tests.gitrepo import GitRepo

FIXTURE = Path(__file__).resolve().parent / "data" / "todo-backend"
SERVICE = (
    '"""\n[Task]: T009\n[From]: plan.md §3.1\n[Description]: Task queries.\n"""\n\n\n'
    'def count(items: list[int]) -> int:\n    """How many items there are."""\n'
    "    return len(items)\n"
)
PYTHON = str(Path(sys.executable).absolute())


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient settings, git configuration or hook variables (tests may run in a hook)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SPECKITD_", "GIT_", "PRE_COMMIT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def project(tmp_path: Path) -> GitRepo:
    """The todo-backend fixture, committed on main."""
    shutil.copytree(FIXTURE, tmp_path / "repo", ignore=shutil.ignore_patterns("__pycache__"))
    repo = GitRepo(tmp_path / "repo")
    repo.commit("Import the todo backend")
    return repo


@pytest.fixture
def installed(project: GitRepo) -> GitRepo:
    """The project with speckitd's hooks installed."""
    assert main(["init", "--repo", str(project.path), "--hooks"]) == 0
    return project


@pytest.fixture
def remote(installed: GitRepo, tmp_path: Path) -> GitRepo:
    """A bare repository the project pushes to as ``origin``."""
    bare = GitRepo(tmp_path / "remote.git", bare=True)
    installed.git("remote", "add", "origin", str(bare.path))
    return bare


def commit_unchecked(repo: GitRepo, message: str, files: dict[str, str]) -> str:
    """Commit ``files`` past the hooks (as ``--no-verify`` does); return the sha."""
    for relative, content in files.items():
        repo.write(relative, content)
    repo.git("add", "-A")
    repo.git("commit", "-q", "--no-verify", "-m", message)
    return repo.head()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pre_commit_refuses_a_file_outside_the_write_scope(installed):
    """A staged file outside backend/app/** is refused with SK002, and nothing is committed."""
    before = installed.head()
    installed.write("docs/notes.md", "notes\n")
    installed.git("add", "docs/notes.md")
    code, output = installed.attempt("commit", "-q", "-m", "Add notes")
    assert code != 0
    assert "docs/notes.md: SK002 error: adds docs/notes.md, outside the write scope" in output
    assert installed.head() == before


@pytest.mark.parametrize("how", [["-a"], ["--", "frontend/src/app/page.tsx"]], ids=["all", "path"])
def test_pre_commit_lints_the_temporary_index_git_commits_from(installed, how):
    """'git commit -a' and 'git commit PATH' are linted on what they record, not .git/index."""
    before = installed.head()
    page = installed.path / "frontend/src/app/page.tsx"
    page.write_text(page.read_text() + "// more\n")
    code, output = installed.attempt("commit", "-q", "-m", "Touch the page", *how)
    assert code != 0
    assert "frontend/src/app/page.tsx: SK003 error" in output
    assert installed.head() == before


def test_pre_commit_accepts_a_compliant_file(installed):
    """A new file under backend/app with its header is committed."""
    before = installed.head()
    installed.write("backend/app/services/tasks.py", SERVICE)
    installed.git("add", "-A")
    code, output = installed.attempt("commit", "-q", "-m", "Add the task service")
    assert (code, "no findings" in output) == (0, True), output
    assert installed.git("rev-parse", "HEAD~1") == before


def test_pre_commit_lets_people_approve_tasks(installed):
    """A person approving a task (editing its task file) passes; the agent's scope is wider."""
    tasks = installed.path / "specs/001-todo/tasks.md"
    tasks.write_text(tasks.read_text().replace("- [ ] T006 [US2]", "- [ ] T006 [US2] [approved]"))
    installed.git("add", "-A")
    code, output = installed.attempt("commit", "-q", "-m", "Approve T006")
    assert (code, "no findings" in output) == (0, True), output


def test_pre_commit_on_a_first_commit_lints_against_nothing(tmp_path):
    """With HEAD unborn, every staged file is new: one outside the scope is refused."""
    fresh = GitRepo(tmp_path / "fresh")
    assert main(["init", "--repo", str(fresh.path), "--hooks"]) == 0
    fresh.write("README.md", "hello\n")
    fresh.git("add", "-A")
    code, output = fresh.attempt("commit", "-q", "-m", "Start")
    assert code != 0
    assert "README.md: SK002 error" in output
    assert fresh.attempt("rev-parse", "--verify", "-q", "HEAD")[0] != 0


def test_pre_commit_leaves_merge_commits_to_pre_push(project, capsys):
    """While a merge is being concluded the hook says so and lets it through."""
    (project.path / ".git" / "MERGE_HEAD").write_text(project.head() + "\n")
    project.write("docs/notes.md", "notes\n")
    project.git("add", "-A")
    code, out, _ = run(capsys, "hook", "--repo", str(project.path), "pre-commit")
    assert (code, out) == (
        0,
        "speckitd: a merge commit: not linted here (pre-push lints the branch)\n",
    )


@pytest.mark.parametrize(
    ("item", "ok", "problem"),
    [
        ("T099", False, "Approved-Tasks: T099 names no task in specs/001-todo/tasks.md"),
        ("T001", False, "Approved-Tasks: T001 is already done (specs/001-todo/tasks.md: T001 "),
        ("T006", True, ""),
        ("001-todo/T-007", True, ""),
    ],
)
def test_commit_msg_checks_approved_tasks(installed, item, ok, problem):
    """Unknown and done tasks are refused; open tasks, scoped or not, are accepted."""
    before = installed.head()
    message = f"Approve a task\n\nApproved-Tasks: {item}\n"
    code, output = installed.attempt("commit", "-q", "--allow-empty", "-m", message)
    assert (code == 0) is ok, output
    assert problem in output
    assert (installed.head() != before) is ok


def test_commit_msg_reads_tasks_from_what_is_being_committed(project, tmp_path, capsys):
    """A task added in the index may be approved; one ticked done there may not."""
    text = (project.path / "specs/001-todo/tasks.md").read_text()
    message = tmp_path / "msg"
    hook = ("hook", "--repo", str(project.path), "commit-msg", str(message))
    project.write("specs/001-todo/tasks.md", text + "- [ ] T010 Add search (plan.md §3.3)\n")
    project.git("add", "-A")
    message.write_text("Add T010\n\nApproved-Tasks: T010\n")
    assert run(capsys, *hook) == (0, "", "")
    project.write("specs/001-todo/tasks.md", text.replace("- [ ] T006", "- [x] T006"))
    project.git("add", "-A")
    message.write_text("Tick T006\n\nApproved-Tasks: T006\n")
    code, out, _ = run(capsys, *hook)
    assert (code, out) == (
        1,
        "Approved-Tasks: T006 is already done (specs/001-todo/tasks.md: T006 Add GET "
        "/api/{user_id}/tasks/{task_id} (plan.md §3.3))\n",
    )


def test_commit_msg_ignores_git_comments_and_the_verbose_diff(project, tmp_path, capsys):
    """The message is read as git will record it, so a trailer above the comments counts."""
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text(
        "Approve\n\nApproved-Tasks: T099\n\n# Please enter the commit message.\n"
        "# ------------------------ >8 ------------------------\ndiff --git a/x b/x\n"
    )
    code, out, _ = run(capsys, "hook", "--repo", str(project.path), "commit-msg", str(message))
    assert (code, out) == (
        1,
        "Approved-Tasks: T099 names no task in specs/001-todo/tasks.md\n",
    )


def test_commit_msg_refuses_a_near_miss_of_the_trailer(project, tmp_path, capsys):
    """``Approved-Task: T006`` would approve nothing: refused, with the spelling to use."""
    message = tmp_path / "msg"
    message.write_text("Approve\n\nApproved-Task: T006\nApproved-By: Alice\n")
    code, out, _ = run(capsys, "hook", "--repo", str(project.path), "commit-msg", str(message))
    assert (code, out) == (
        1,
        "Approved-Task: T006: not an Approved-Tasks trailer (the key is spelled otherwise; "
        "write Approved-Tasks): approves nothing\n",
    )


def test_commit_msg_refuses_an_approval_trailer_out_of_place(project, tmp_path, capsys):
    """``Approved-Tasks: T006`` above a line of prose is no trailer: refused, saying where."""
    message = tmp_path / "msg"
    message.write_text("Approve\n\nApproved-Tasks: T006\nThanks for the review.\n")
    code, out, _ = run(capsys, "hook", "--repo", str(project.path), "commit-msg", str(message))
    assert code == 1
    assert out.startswith("Approved-Tasks: T006: not read as a trailer (it must be in the")


def test_commit_msg_without_the_trailer_passes(project, tmp_path, capsys):
    """A message with no Approved-Tasks trailer has nothing to check."""
    message = tmp_path / "msg"
    message.write_text("Fix a typo\n\nT099 is mentioned, not approved.\n")
    assert run(capsys, "hook", "--repo", str(project.path), "commit-msg", str(message)) == (
        0,
        "",
        "",
    )


def test_commit_msg_with_a_missing_file_is_a_usage_error(project, tmp_path, capsys):
    """A message file that cannot be read gives one line and exit 2."""
    missing = tmp_path / "nope"
    code, out, err = run(capsys, "hook", "--repo", str(project.path), "commit-msg", str(missing))
    assert (code, out) == (2, "")
    assert err == (
        f"speckitd: error: commit-msg: cannot read the message file {missing} "
        "(No such file or directory)\n"
    )


def test_pre_push_blocks_a_violating_commit_and_allows_a_clean_branch(installed, remote):
    """A push carrying an SK002 finding is refused; a clean new branch goes through."""
    assert installed.attempt("push", "-q", "origin", "main")[0] == 0
    pushed = remote.head("main")
    commit_unchecked(installed, "Add notes", {"docs/notes.md": "notes\n"})
    code, output = installed.attempt("push", "-q", "origin", "main")
    assert code != 0
    assert "docs/notes.md: SK002 error" in output
    assert remote.head("main") == pushed
    installed.git("switch", "-q", "-c", "feature")
    installed.commit("Add the task service", {"backend/app/services/tasks.py": SERVICE})
    code, output = installed.attempt("push", "-q", "origin", "feature")
    assert code == 0, output
    assert remote.head("feature") == installed.head()


def test_pre_push_of_a_branch_merged_with_main_lints_the_branch_alone(installed, remote):
    """Changes the branch took from main by merging are main's, not the pushed branch's."""
    assert installed.attempt("push", "-q", "origin", "main")[0] == 0
    installed.git("switch", "-q", "-c", "feature")
    installed.commit("Add the task service", {"backend/app/services/tasks.py": SERVICE})
    assert installed.attempt("push", "-q", "origin", "feature")[0] == 0
    installed.git("switch", "-q", "main")
    commit_unchecked(installed, "Add notes", {"docs/notes.md": "notes\n"})
    installed.git("push", "-q", "--no-verify", "origin", "main")
    installed.git("switch", "-q", "feature")
    installed.git("merge", "-q", "--no-edit", "main")
    code, output = installed.attempt("push", "-q", "origin", "feature")
    assert code == 0, output
    assert remote.head("feature") == installed.head()


def test_pre_push_skips_deletions_and_reads_the_framework_variables(project):
    """A deleted ref is not linted; without stdin, PRE_COMMIT_FROM_REF/TO_REF give the range."""
    clean = project.head()
    bad = commit_unchecked(project, "Add notes", {"docs/notes.md": "notes\n"})
    repo = Repo(project.path)
    out = io.StringIO()
    deletion = f"(delete) {'0' * 40} refs/heads/old {clean}\n"
    assert pre_push(repo, io.StringIO(deletion), watched=["main"], environ={}, out=out) == 0
    assert out.getvalue() == ""
    environ = {"PRE_COMMIT_FROM_REF": clean, "PRE_COMMIT_TO_REF": bad}
    code = pre_push(repo, io.StringIO(""), watched=["main"], environ=environ, out=out)
    assert code == 1
    assert out.getvalue().startswith(f"speckitd: {bad} ({clean[:12]}..{bad[:12]})\n")
    assert "docs/notes.md: SK002 error" in out.getvalue()


def test_pre_push_with_a_malformed_line_is_a_usage_error(project, capsys, monkeypatch):
    """Input that is not git's ref lines gives one line and exit 2."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("refs/heads/main deadbeef\n"))
    code, out, err = run(capsys, "hook", "--repo", str(project.path), "pre-push", "origin", "url")
    assert (code, out) == (2, "")
    assert err.startswith("speckitd: error: pre-push: stdin line 1 is not '<local ref> <local sha>")
    assert err.count("\n") == 1


def test_init_installs_executable_shims_that_run_this_python(project, capsys):
    """Each hook runs this interpreter with -P -m daemon, is executable and carries the marker."""
    hooks = project.path / ".git" / "hooks"
    code, out, _ = run(capsys, "init", "--repo", str(project.path), "--hooks")
    assert code == 0
    assert out.splitlines() == [f"installed {hooks / name}" for name in HOOKS]
    for name in HOOKS:
        text = (hooks / name).read_text()
        assert text == shim(name, PYTHON)
        assert text.splitlines()[:2] == ["#!/bin/sh", "# installed by speckitd"]
        assert f'-P -m daemon hook {name} "$@"' in text
        assert (hooks / name).stat().st_mode & stat.S_IXUSR


def test_init_twice_changes_nothing(installed, capsys):
    """Re-running init recognizes its own hooks and leaves them as they are."""
    hooks = installed.path / ".git" / "hooks"
    code, out, _ = run(capsys, "init", "--repo", str(installed.path), "--hooks")
    assert code == 0
    assert out.splitlines() == [f"unchanged {hooks / name}" for name in HOOKS]


def test_init_updates_an_older_shim_of_its_own(installed, capsys):
    """A hook carrying the marker is speckitd's: it is rewritten without --force."""
    hook = installed.path / ".git" / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\n# installed by speckitd\nexec speckitd hook pre-push\n")
    code, out, _ = run(capsys, "init", "--repo", str(installed.path), "--hooks")
    assert code == 0
    assert f"updated {hook}" in out.splitlines()
    assert hook.read_text() == shim("pre-push", PYTHON)


def test_init_makes_its_own_shim_executable_again(installed, capsys):
    """A shim of ours that lost its executable bit (git would skip it) is rewritten."""
    hook = installed.path / ".git" / "hooks" / "commit-msg"
    hook.chmod(0o644)
    code, out, _ = run(capsys, "init", "--repo", str(installed.path), "--hooks")
    assert (code, f"updated {hook}" in out.splitlines()) == (0, True)
    assert hook.stat().st_mode & stat.S_IXUSR


def test_init_where_hooks_cannot_be_written(project, capsys):
    """A hooks path that is a file gives one line and exit 3, not a traceback."""
    project.write("not-a-folder", "x\n")
    project.git("config", "core.hooksPath", "not-a-folder")
    code, _, err = run(capsys, "init", "--repo", str(project.path), "--hooks")
    assert code == 3
    assert err.startswith("speckitd: error: ")
    assert err.endswith(": cannot install the hooks (File exists)\n")


def test_init_keeps_a_foreign_hook_without_force(project, capsys):
    """A hook speckitd did not write is kept and reported (exit 1); the others are installed."""
    hook = project.path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexec make lint\n")
    code, out, _ = run(capsys, "init", "--repo", str(project.path), "--hooks")
    assert code == 1
    assert out.splitlines()[0] == (
        f"kept {hook}: not installed by speckitd (use --force to replace it)"
    )
    assert hook.read_text() == "#!/bin/sh\nexec make lint\n"
    assert (hook.parent / "pre-push").read_text() == shim("pre-push", PYTHON)


def test_init_force_backs_up_a_foreign_hook(project, capsys):
    """--force moves a foreign hook to <name>.pre-speckitd and installs the shim."""
    hook = project.path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexec make lint\n")
    backup = hook.with_name("pre-commit.pre-speckitd")
    code, out, _ = run(capsys, "init", "--repo", str(project.path), "--hooks", "--force")
    assert code == 0
    assert out.splitlines()[:2] == [f"moved {hook} to {backup}", f"installed {hook}"]
    assert backup.read_text() == "#!/bin/sh\nexec make lint\n"
    assert hook.read_text() == shim("pre-commit", PYTHON)


def test_init_force_never_overwrites_a_backup_or_writes_through_a_symlink(project, capsys):
    """An earlier backup is not clobbered, and a symlinked hook's target is never written."""
    hooks = project.path / ".git" / "hooks"
    shared = project.path.parent / "shared-hook"
    shared.write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-push").symlink_to(shared)
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-commit.pre-speckitd").write_text("older\n")
    code, out, _ = run(capsys, "init", "--repo", str(project.path), "--hooks", "--force")
    assert code == 1
    backup = hooks / "pre-commit.pre-speckitd"
    assert f"kept {hooks / 'pre-commit'}: not installed by speckitd (backup {backup} exists)" in out
    assert backup.read_text() == "older\n"
    assert (hooks / "pre-push.pre-speckitd").is_symlink()
    assert shared.read_text() == "#!/bin/sh\nexit 0\n"
    assert (hooks / "pre-push").read_text() == shim("pre-push", PYTHON)


def test_init_follows_core_hooks_path(project, capsys):
    """With core.hooksPath set, the hooks go there (created if missing)."""
    project.git("config", "core.hooksPath", "tools/githooks")
    code, _, _ = run(capsys, "init", "--repo", str(project.path), "--hooks")
    assert code == 0
    for name in HOOKS:
        assert (project.path / "tools/githooks" / name).read_text() == shim(name, PYTHON)
    assert not (project.path / ".git" / "hooks" / "pre-commit").exists()


def test_init_without_hooks_says_what_it_can_do(project, capsys):
    """'init' alone is a usage error naming --hooks."""
    code, out, err = run(capsys, "init", "--repo", str(project.path))
    assert (code, out) == (2, "")
    assert err.startswith("speckitd: error: init: nothing to do; --hooks installs the git hooks")
    assert err.count("\n") == 1


def test_init_outside_a_repository(tmp_path, capsys):
    """A folder that is not a git repository gives one line and exit 3."""
    code, _, err = run(capsys, "init", "--repo", str(tmp_path), "--hooks")
    assert (code, err) == (3, f"speckitd: error: {tmp_path}: not a git repository\n")


def test_push_base_prefers_the_later_fork_point(project):
    """Remote tip for a fast-forward; the watched branch's tip after a rebase; None for neither."""
    root = project.head()
    project.git("switch", "-q", "-c", "feature")
    first = project.commit("Feature 1")
    second = project.commit("Feature 2")
    project.git("switch", "-q", "main")
    moved = project.commit("Main moves on")
    project.git("switch", "-q", "-c", "rebased", "feature")
    project.git("rebase", "-q", "main")
    rebased = project.head()
    repo = Repo(project.path)
    assert push_base(repo, second, remote=first, branch=moved) == first
    assert push_base(repo, second, remote=None, branch=moved) == root
    assert push_base(repo, rebased, remote=second, branch=moved) == moved
    assert push_base(repo, moved, remote=root, branch=moved) == root
    assert push_base(repo, moved, remote=None, branch=moved) == moved
    assert push_base(repo, second, remote=None, branch=None) is None


def test_init_writes_a_starting_configuration_that_loads(tmp_path, capsys):
    """`init --config` writes a speckitd.toml for the repository, valid, and never overwrites."""
    repo = GitRepo(tmp_path / "repo")
    repo.commit("first", {"a.txt": "a\n"})
    target = tmp_path / "speckitd.toml"
    assert main(["init", "--repo", str(repo.path), "--config", str(target)]) == 0
    settings = load_settings(target, environ={})
    assert [r.path for r in settings.repos] == [repo.path.resolve()]
    assert settings.repos[0].name == "repo"
    assert main(["init", "--repo", str(repo.path), "--config", str(target)]) == 2
    assert "never overwrites" in capsys.readouterr().err
