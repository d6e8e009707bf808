"""A worktree snapshot: the files as `git add -A` sees them, on no ref, the index untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from daemon.errors import RepositoryError
from daemon.git import Repo, snapshot
from tests.gitrepo import GitRepo

COMMITTED = {
    "a.txt": "one\n",
    "b.txt": "bee\n",
    "sub/c.txt": "sea\n",
    "sub/keep.txt": "kept\n",
    ".gitignore": "*.log\nbuild/\n",
}


def base_repo(path: Path) -> tuple[GitRepo, str]:
    """A repository with one commit on main."""
    repo = GitRepo(path)
    return repo, repo.commit("base", dict(COMMITTED))


def change_worktree(repo: GitRepo) -> None:
    """Modify, add, delete, and add ignored files, without staging anything."""
    repo.write("a.txt", "one, changed\n")
    repo.write("new.txt", "fresh\n")
    repo.write("sub/deeper/new2.txt", "fresher\n")
    (repo.path / "b.txt").unlink()
    (repo.path / "sub" / "c.txt").unlink()
    repo.write("debug.log", "ignored\n")
    repo.write("build/out.bin", b"\0ignored")


def files(repo: GitRepo, commit: str) -> list[str]:
    return repo.git("ls-tree", "-r", "--name-only", commit).splitlines()


def git_add_all_tree(repo: GitRepo, index_dir: Path) -> str:
    """The tree git itself writes after `git add -A`, using a copy of the index."""
    index = index_dir / "index"
    shutil.copyfile(Path(repo.path, repo.git("rev-parse", "--git-path", "index")), index)
    env = {**repo.env(("t", "t@example.com")), "GIT_INDEX_FILE": str(index)}
    for args in (["add", "-A"], ["write-tree"]):
        result = subprocess.run(
            ["git", "-C", str(repo.path), *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return result.stdout.strip()


def state(repo: GitRepo) -> tuple[bytes, str, str]:
    """The index file's bytes, `git status` and every ref: what a snapshot must not change."""
    index = Path(repo.path, repo.git("rev-parse", "--git-path", "index"))
    return (
        index.read_bytes(),
        repo.git("status", "--porcelain", "--untracked-files=all"),
        repo.git("for-each-ref") + "\n" + repo.git("rev-parse", "HEAD"),
    )


def test_snapshot_is_the_worktree_as_git_add_all_sees_it(tmp_path):
    """Parent is base; modified and new files in, deleted and ignored files out."""
    repo, base = base_repo(tmp_path / "r")
    change_worktree(repo)
    commit = snapshot(Repo(repo.path), base)
    assert repo.git("rev-list", "--parents", "-n", "1", commit) == f"{commit} {base}"
    assert files(repo, commit) == [
        ".gitignore",
        "a.txt",
        "new.txt",
        "sub/deeper/new2.txt",
        "sub/keep.txt",
    ]
    assert repo.git("show", f"{commit}:a.txt") == "one, changed"
    assert repo.git("show", f"{commit}:new.txt") == "fresh"
    assert repo.git("rev-parse", f"{commit}^{{tree}}") == git_add_all_tree(repo, tmp_path)


def test_snapshot_leaves_index_status_and_refs_alone(tmp_path):
    """The worktree's index file, its status and every ref are the same before and after."""
    repo, base = base_repo(tmp_path / "r")
    change_worktree(repo)
    before = state(repo)
    snapshot(Repo(repo.path), base)
    assert state(repo) == before


def test_same_worktree_gives_the_same_commit(tmp_path):
    """Snapshotting the same files on the same base twice gives one commit id."""
    repo, base = base_repo(tmp_path / "r")
    change_worktree(repo)
    assert snapshot(Repo(repo.path), base) == snapshot(Repo(repo.path), base)


def test_changed_worktree_gives_another_commit(tmp_path):
    """A change to the files changes the snapshot."""
    repo, base = base_repo(tmp_path / "r")
    first = snapshot(Repo(repo.path), base)
    repo.write("a.txt", "two\n")
    assert snapshot(Repo(repo.path), base) != first


def test_clean_worktree_snapshot_has_the_base_tree(tmp_path):
    """With nothing changed the snapshot's tree is the base's tree."""
    repo, base = base_repo(tmp_path / "r")
    commit = snapshot(Repo(repo.path), base)
    assert commit != base
    assert repo.git("rev-parse", f"{commit}^{{tree}}") == repo.git("rev-parse", f"{base}^{{tree}}")


def test_worktree_content_wins_over_the_staged_content(tmp_path):
    """A file staged and then edited again is taken as it is on disk."""
    repo, base = base_repo(tmp_path / "r")
    repo.write("a.txt", "staged\n")
    repo.write("staged-new.txt", "added\n")
    repo.git("add", "a.txt", "staged-new.txt")
    repo.write("a.txt", "on disk\n")
    before = state(repo)
    commit = snapshot(Repo(repo.path), base)
    assert repo.git("show", f"{commit}:a.txt") == "on disk"
    assert "staged-new.txt" in files(repo, commit)
    assert state(repo) == before


def test_tracked_file_matching_an_ignore_pattern_is_still_updated(tmp_path):
    """As with `git add -A`, a tracked file that .gitignore matches keeps being tracked."""
    repo = GitRepo(tmp_path / "r")
    repo.write(".gitignore", "*.log\n")
    repo.write("tracked.log", "old\n")
    repo.git("add", "-f", ".gitignore", "tracked.log")
    repo.git("commit", "-q", "-m", "base")
    base = repo.head()
    repo.write("tracked.log", "new\n")
    repo.write("untracked.log", "ignored\n")
    commit = snapshot(Repo(repo.path), base)
    assert repo.git("show", f"{commit}:tracked.log") == "new"
    assert files(repo, commit) == [".gitignore", "tracked.log"]
    assert repo.git("rev-parse", f"{commit}^{{tree}}") == git_add_all_tree(repo, tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="symlinks and modes are POSIX")
def test_dangling_symlink_and_mode_change_are_kept(tmp_path):
    """A symlink whose target was deleted stays; a file made executable is recorded so."""
    repo, _ = base_repo(tmp_path / "r")
    repo.write("target.txt", "t\n")
    repo.write("run.sh", "#!/bin/sh\n")
    (repo.path / "link").symlink_to("target.txt")
    base = repo.commit("with link")
    (repo.path / "target.txt").unlink()
    (repo.path / "run.sh").chmod(0o755)
    commit = snapshot(Repo(repo.path), base)
    assert "target.txt" not in files(repo, commit)
    assert repo.git("ls-tree", commit, "link").split()[0] == "120000"
    assert repo.git("ls-tree", commit, "run.sh").split()[0] == "100755"
    assert repo.git("rev-parse", f"{commit}^{{tree}}") == git_add_all_tree(repo, tmp_path)


def test_linked_worktree_snapshot_leaves_its_own_index_alone(tmp_path):
    """In a linked worktree (as the runner uses) the worktree's index is not written."""
    repo, base = base_repo(tmp_path / "r")
    linked = tmp_path / "wt"
    repo.git("worktree", "add", "-q", "-b", "speckitd/T001", str(linked), base)
    work = GitRepo(linked)  # git init in a worktree only re-reads it
    change_worktree(work)
    before = state(work)
    commit = snapshot(Repo(linked), base)
    assert state(work) == before
    assert repo.git("rev-list", "--parents", "-n", "1", commit) == f"{commit} {base}"
    assert repo.git("show", f"{commit}:a.txt") == "one, changed"
    assert "b.txt" not in files(repo, commit)
    assert "debug.log" not in files(repo, commit)


def test_unknown_base_is_a_repository_error(tmp_path):
    """A base that does not exist is reported as a RepositoryError naming the repository."""
    repo, _ = base_repo(tmp_path / "r")
    with pytest.raises(RepositoryError, match="cannot snapshot the worktree"):
        snapshot(Repo(repo.path), "0" * 40)
