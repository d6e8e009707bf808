"""The first-parent history and its task-file changes, as ``git log`` reports them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from daemon.errors import RepositoryError
from daemon.git import FileEntry, Repo
from daemon.git.history import LogStream, _records, first_parent, pathspecs
from daemon.spec.layout import DEFAULT_TASK_FILES
from tests.gitrepo import GitRepo

TASKS = "specs/001-a/tasks.md"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def history(repo: GitRepo, globs: tuple[str, ...] = DEFAULT_TASK_FILES, since: str | None = None):
    return Repo(repo.path, globs).history(repo.head(), since=since)


def blob(repo: GitRepo, rev: str, path: str) -> str:
    return repo.git("rev-parse", f"{rev}:{path}")


@pytest.mark.parametrize(
    ("globs", "expected"),
    [
        (("specs/*/tasks.md", "speckit.tasks"), [":(literal)specs", ":(literal)speckit.tasks"]),
        (("docs/specs/**/tasks.md",), [":(literal)docs/specs"]),
        (("**/tasks.md",), None),
        (("specs/*/tasks.md", "*/tasks.md"), None),
        ((), []),
    ],
)
def test_pathspecs_are_the_literal_folders_of_the_globs(globs, expected):
    assert pathspecs(globs) == expected


def test_every_commit_oldest_first_with_its_task_file_changes(repo: GitRepo):
    first = repo.commit("add tasks", {TASKS: "- [ ] T001 One\n", "README.md": "x\n"})
    other = repo.commit("unrelated", {"README.md": "y\n", "specs/001-a/spec.md": "# Spec\n"})
    edit = repo.commit("edit", {TASKS: "- [ ] T001 One [approved]\n"})
    (repo.path / TASKS).unlink()
    gone = repo.commit("delete")
    steps = history(repo)
    assert [s.sha for s in steps] == [first, other, edit, gone]
    assert steps[0].changes == ((TASKS, FileEntry(blob(repo, first, TASKS), regular=True)),)
    assert steps[1].changes == ()  # spec.md is under specs/ but matches no glob
    assert steps[2].changes == ((TASKS, FileEntry(blob(repo, edit, TASKS), regular=True)),)
    assert steps[3].changes == ((TASKS, None),)
    assert [s.sha for s in history(repo, since=other)] == [edit, gone]


def test_symlinks_are_not_regular_and_submodules_are_absent(repo: GitRepo):
    repo.commit("file", {TASKS: "- [ ] T001 One\n"})
    (repo.path / TASKS).unlink()
    (repo.path / TASKS).symlink_to("/etc/passwd")
    link = repo.commit("now a symlink")
    gitlink = "specs/002-b/tasks.md"
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{link},{gitlink}")
    repo.git("commit", "-q", "-m", "a submodule where a task file would be")
    steps = history(repo)
    assert steps[1].changes == ((TASKS, FileEntry(blob(repo, link, TASKS), regular=False)),)
    assert steps[2].changes == ((gitlink, None),)


def test_a_merge_counts_as_its_change_against_the_first_parent(repo: GitRepo):
    base = repo.commit("base", {TASKS: "- [ ] T001 One\n"})
    repo.git("checkout", "-q", "-b", "side")
    side = repo.commit("approve on a branch", {TASKS: "- [ ] T001 One [approved]\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("elsewhere", {"README.md": "x\n"})
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    steps = history(repo)
    assert side not in [s.sha for s in steps]
    assert steps[0].sha == base
    assert steps[-1].changes == ((TASKS, FileEntry(blob(repo, side, TASKS), regular=True)),)


def test_odd_paths_and_globs_that_match_anywhere(repo: GitRepo):
    spaced, accented = "specs/a b/tasks.md", "specs/ünï\ncode/tasks.md"
    repo.commit("odd names", {spaced: "- [ ] T001 A\n", accented: "- [ ] T002 B\n", "tasks.md": ""})
    (step,) = history(repo)
    assert {path for path, _ in step.changes} == {spaced, accented}
    (anywhere,) = history(repo, ("**/tasks.md",))
    assert {path for path, _ in anywhere.changes} == {spaced, accented, "tasks.md"}


def test_trailer_flag_and_hostile_messages(repo: GitRepo):
    plain = repo.commit("nothing to see")
    marked = repo.commit("work\n\nAPPROVED-Tasks: T001\n")
    fake = f"x\x01{plain}\x02approved-\n"  # a forged record inside a message
    repo.commit(fake)
    tree = repo.git("rev-parse", "HEAD^{tree}")
    raw = f"tree {tree}\nparent {repo.head()}\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n"
    body = raw.encode() + b"\nhidden\0Approved-Tasks: T001\n"
    argv = ["git", "-C", str(repo.path), "hash-object", "-t", "commit", "-w", "--literally"]
    done = subprocess.run(
        [*argv, "--stdin"],
        input=body,
        capture_output=True,
        check=True,
    )
    repo.git("update-ref", "refs/heads/main", done.stdout.decode().strip())
    steps = history(repo)
    assert len(steps) == 4
    assert [s.trailer for s in steps] == [False, True, True, False]
    assert steps[1].sha == marked  # the forged record added no commit and moved none


def test_an_unknown_tip_is_a_repository_error(repo: GitRepo):
    repo.commit("one")
    with pytest.raises(RepositoryError, match="git log failed"):
        first_parent(str(repo.path / ".git"), DEFAULT_TASK_FILES, "0" * 40, None)


def test_records_read_in_any_chunks_are_the_same(repo: GitRepo):
    """The output of git may arrive cut anywhere: the records do not depend on where."""
    repo.commit("add", {TASKS: "- [ ] T001 One\n"})
    repo.commit("work\n\nApproved-Tasks: T001\n", {"specs/001-a/tasks.md": "- [x] T001 One\n"})
    (repo.path / TASKS).unlink()
    repo.commit("delete")
    argv = ["git", "-C", str(repo.path), "log", "--first-parent", "-z", "--format=%x01%H%x02%B"]
    argv += ["--sparse", "--root", "--raw", "--no-abbrev", "--no-renames", "HEAD", "--", "specs"]
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    whole = list(_records([out]))
    assert [len(files) for _, _, files in whole] == [1, 1, 1]
    for cut in range(1, len(out)):
        assert list(_records([out[:cut], out[cut:]])) == whole
    assert list(_records([bytes([b]) for b in out])) == whole


def test_a_walk_past_its_deadline_is_stopped(repo: GitRepo):
    repo.commit("one")
    with (
        LogStream(str(repo.path / ".git"), (), repo.head(), None, timeout=0) as log,
        pytest.raises(RepositoryError, match="timed out"),
    ):
        list(log.steps())
