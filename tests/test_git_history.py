"""The first-parent history and its task-file changes, as ``git log`` reports them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import daemon.git.history as log_module
from daemon.errors import RepositoryError
from daemon.git import FileEntry, Repo
from daemon.git.history import LogStream, Step, _batches, first_parent, pathspecs
from daemon.globs import compile_glob
from daemon.spec.layout import DEFAULT_TASK_FILES
from tests.gitrepo import GitRepo

TASKS = "specs/001-a/tasks.md"


def _records(chunks: list[bytes]) -> list[Step]:
    """The commits of git log output given in ``chunks``, as LogStream.steps reads them."""
    return [step for batch in _batches(chunks) for step in batch]


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
    argv = ["git", "-C", str(repo.path), "log", "--first-parent", "-z"]
    argv += ["--format=%x01%H%x02%e%x03%B"]
    argv += ["--sparse", "--root", "--raw", "--no-abbrev", "--no-renames", "HEAD", "--", "specs"]
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    whole = list(_records([out]))
    assert [len(files) for _, _, files in whole] == [1, 1, 1]
    assert [trailer for _, trailer, _ in whole] == [False, True, False]
    for cut in range(1, len(out)):
        assert list(_records([out[:cut], out[cut:]])) == whole
    assert list(_records([bytes([b]) for b in out])) == whole


def test_control_bytes_in_messages_and_paths_do_not_split_records(repo: GitRepo):
    """A message or a path may hold the bytes that mark git's fields; only NUL ends them."""
    odd = "specs/\x01:a\x02\x03/tasks.md"
    repo.commit("one \x01f\x02\x03 approved-\n\nbody \x01x", {odd: "- [ ] T001 One\n"})
    repo.commit("two", {TASKS: "- [ ] T002 Two\n"})
    argv = ["git", "-C", str(repo.path), "log", "--first-parent", "-z"]
    argv += ["--format=%x01%H%x02%e%x03%B"]
    argv += ["--sparse", "--root", "--raw", "--no-abbrev", "--no-renames", "HEAD", "--", "specs"]
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    whole = list(_records([out]))
    assert [(trailer, [path for path, _ in files]) for _, trailer, files in whole] == [
        (False, [TASKS]),
        (True, [odd]),
    ]
    for cut in range(1, len(out)):
        assert list(_records([out[:cut], out[cut:]])) == whole


def test_output_that_is_not_git_log_is_an_error():
    """Bytes that are neither a commit nor a changed file stop the walk with a clear error."""
    with pytest.raises(RepositoryError, match="unexpected git log output"):
        list(_records([b"\x01" + b"a" * 40 + b"\x02\x03m\0junk\0\x01" + b"b" * 40 + b"\x02\x03\0"]))
    with pytest.raises(RepositoryError, match="unexpected git log output"):
        list(_records([b"\x01" + b"a" * 40 + b"\x02\x03m\0trailing"]))


def test_a_stalled_walk_is_stopped(repo: GitRepo, monkeypatch: pytest.MonkeyPatch):
    """A git that sends nothing for the timeout is killed, and the scan gets a clear error."""
    repo.commit("one")
    monkeypatch.setattr(log_module, "wait_readable", lambda fd, seconds: False)  # a stalled git
    with LogStream(str(repo.path / ".git"), (), repo.head(), None, timeout=5) as log:
        with pytest.raises(RepositoryError, match="git log sent nothing for 5 s"):
            list(log.steps())
        assert log._process.returncode is not None  # killed, not left running


GLOBS = [
    DEFAULT_TASK_FILES,
    ("specs/**",),
    ("**",),
    ("**/tasks.md",),
    ("specs/*/tasks.md", "docs/**/plan*.md"),
]
FILES = [
    "specs/001-a/tasks.md",
    "specs/001-a/spec.md",
    "specs/deep/er/tasks.md",
    "specs/top.md",
    "tasks.md",
    "speckit.tasks",
    "docs/a/b/plan-1.md",
    "docs/plan.md",
    "src/tasks.md",
]


@pytest.mark.parametrize("globs", GLOBS)
def test_the_log_and_the_tree_walk_find_the_same_task_files(repo: GitRepo, globs):
    """The log's changes (scans) and Repo.task_files (hooks, lint) agree with the globs."""
    sha = repo.commit("files", dict.fromkeys(FILES, "- [ ] T001 x\n"))
    expected = {path for path in FILES if any(compile_glob(g).match(path) for g in globs)}
    (step,) = history(repo, globs)
    assert {path for path, _ in step.changes} == expected
    reader = Repo(repo.path, globs)
    assert set(reader.task_files(reader.tree_of(sha))) == expected


def test_names_that_are_not_utf8_stay_apart(repo: GitRepo):
    """Two task files whose names differ only in bytes that are not UTF-8 are two files."""
    real, decoy = b"specs/a\xff/tasks.md", b"specs/a\xfe/tasks.md"
    for name in (real, decoy):
        target = repo.path / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("- [ ] T001 [approved] x\n")
    sha = repo.commit("two files")
    (repo.path / os.fsdecode(decoy)).unlink()
    repo.commit("the decoy goes")
    steps = history(repo)
    assert {path for path, _ in steps[0].changes} == {os.fsdecode(real), os.fsdecode(decoy)}
    assert steps[1].changes == ((os.fsdecode(decoy), None),)
    reader = Repo(repo.path, DEFAULT_TASK_FILES)
    assert set(reader.task_files(reader.tree_of(sha))) == {os.fsdecode(real), os.fsdecode(decoy)}


def test_replace_refs_do_not_change_the_history(repo: GitRepo):
    """``git replace`` could swap a commit's content; scans read what the commit holds."""
    tip = repo.commit("tasks", {TASKS: "- [ ] T001 One\n"})
    real = blob(repo, tip, TASKS)
    repo.git("checkout", "-q", "--detach")
    fake = repo.commit("fake", {TASKS: "- [ ] T001 [approved] One\n"})
    repo.git("checkout", "-q", "main")
    repo.git("replace", tip, fake)
    (step,) = history(repo)
    assert step.sha == tip
    assert step.changes == ((TASKS, FileEntry(real, regular=True)),)
    assert blob(repo, tip, TASKS) != real  # git itself, unguarded, shows the replacement


_NO_SSH_KEYGEN = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed (signing)"
)


@pytest.mark.parametrize(
    "setting",
    [
        ("log.follow", "true"),
        pytest.param(("log.showSignature", "true"), marks=_NO_SSH_KEYGEN),
        ("i18n.logOutputEncoding", "UTF-16LE"),
        ("diff.renames", "copies"),
    ],
)
def test_the_repository_configuration_does_not_change_the_log(
    repo: GitRepo, setting, tmp_path: Path
):
    """Settings in the repository's own config (untrusted) leave the scan's input alone.

    (Notes are not among them: ``%B`` never shows a note, so ``--no-notes`` only guards.)
    """
    repo.commit("add", {TASKS: "- [ ] T001 One\n"})
    sign = []
    if setting[0] == "log.showSignature":  # a signature to show, in the commit with the trailer
        key = tmp_path / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        repo.git("config", "gpg.format", "ssh")
        repo.git("config", "user.signingkey", str(key))
        sign = ["-S"]
    repo.git("commit", "-q", *sign, "--allow-empty", "-m", "empty\n\nApproved-Tasks: T001\n")
    (repo.path / "specs/002-b").mkdir()
    repo.git("mv", TASKS, "specs/002-b/tasks.md")
    repo.git("commit", "-q", "-m", "moved")
    expected = history(repo, ("specs/*/tasks.md",))
    repo.git("config", *setting)
    assert history(repo, ("specs/*/tasks.md",)) == expected
    assert [s.trailer for s in expected] == [False, True, False]
    assert len(expected[2].changes) == 2  # a move is a deletion and an addition


def test_a_message_in_another_encoding_is_left_to_pygit2(repo: GitRepo):
    """A message with an ``encoding`` header is converted by git: pygit2 checks it raw."""
    repo.commit("one")
    tree = repo.git("rev-parse", "HEAD^{tree}")
    header = (
        f"tree {tree}\nparent {repo.head()}\nauthor A <a@b> 1 +0000\ncommitter A <a@b> 1 +0000\n"
    )
    body = header.encode() + b"encoding UTF-16LE\n\nApproved-Tasks: T001\n"
    argv = ["git", "-C", str(repo.path), "hash-object", "-t", "commit", "-w", "--literally"]
    done = subprocess.run([*argv, "--stdin"], input=body, capture_output=True, check=True)
    repo.git("update-ref", "refs/heads/main", done.stdout.decode().strip())
    assert [s.trailer for s in history(repo)] == [False, True]


def test_a_huge_message_is_read_in_linear_time():
    """Tokens split across many chunks are joined once, not once per chunk."""
    chunk = b"x" * (1 << 16)
    out = [b"\x01" + b"a" * 40 + b"\x02\x03approved-"] + [chunk] * 2048 + [b"\0"]  # 128 MiB
    ((sha, trailer, files),) = _records(out)
    assert (sha, trailer, files) == ("a" * 40, True, ())
