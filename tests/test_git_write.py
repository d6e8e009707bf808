"""The daemon's git writes: worktrees, commits, pushes, and credentials kept out of sight."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from daemon.errors import RepositoryError
from daemon.git.write import (
    Identity,
    PushAuth,
    add_worktree,
    commit_worktree,
    head,
    push,
    remote_branch,
    remove_worktree,
)
from tests.gitrepo import GitRepo

TOKEN = "canary-push-token-5e2a"  # noqa: S105 - a canary


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo(tmp_path / "main")
    repo.commit("base", {"a.txt": "a\n"})
    return repo


def test_a_worktree_is_made_once_and_reused(repo, tmp_path):
    """Adding the same worktree twice keeps the first (and its changes)."""
    path = tmp_path / "wt"
    add_worktree(repo.path, path, "speckitd/t1-x", repo.head())
    (path / "b.txt").write_text("b\n")
    add_worktree(repo.path, path, "speckitd/t1-x", repo.head())
    assert (path / "b.txt").read_text() == "b\n"
    assert head(path, branch=True) == "refs/heads/speckitd/t1-x"


def test_commit_worktree_commits_changes_once(repo, tmp_path):
    """Every change is committed with the daemon's identity; a second call finds nothing."""
    path = tmp_path / "wt"
    add_worktree(repo.path, path, "speckitd/t1-x", repo.head())
    (path / "b.txt").write_text("b\n")
    (path / "a.txt").unlink()
    sha = commit_worktree(path, "T1: x\n\nTask: T1\n", Identity("bot", "bot@example.com"))
    assert sha is not None
    assert commit_worktree(path, "again", Identity()) is None
    shown = repo.git("show", "--name-status", "--format=%an <%ae>%n%s", sha)
    assert shown.splitlines()[:2] == ["bot <bot@example.com>", "T1: x"]
    assert "D\ta.txt" in shown
    assert "A\tb.txt" in shown
    assert repo.git("-C", str(path), "status", "--porcelain") == ""


def test_removing_a_worktree_keeps_its_branch(repo, tmp_path):
    """Clean-up removes the worktree and prunes it; the branch and its commits stay."""
    path = tmp_path / "wt"
    add_worktree(repo.path, path, "speckitd/t1-x", repo.head())
    (path / "b.txt").write_text("b\n")
    sha = commit_worktree(path, "T1", Identity())
    remove_worktree(repo.path, path)
    assert not path.exists()
    assert repo.head("speckitd/t1-x") == sha
    assert str(path) not in repo.git("worktree", "list")


def test_a_push_token_goes_through_the_environment_never_argv():
    """The token is in GIT_CONFIG_* entries as a Basic header, not in any argument."""
    env = PushAuth(SecretStr(TOKEN)).env()
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {basic}"


def test_a_failed_push_does_not_show_the_token(repo, tmp_path):
    """Git's error, quoted in the exception, never carries the credential."""
    auth = PushAuth(SecretStr(TOKEN))
    url = f"http://x-access-token:{TOKEN}@127.0.0.1:9/r.git"
    with pytest.raises(RepositoryError) as failed:
        push(repo.path, url, repo.head(), "speckitd/t1-x", auth)
    assert TOKEN not in str(failed.value)


def test_a_push_without_lease_never_overwrites(repo, tmp_path):
    """A non-fast-forward push fails unless the lease names what the remote has."""
    remote = tmp_path / "remote.git"
    GitRepo(remote, bare=True)
    first = repo.head()
    push(repo.path, str(remote), first, "b", PushAuth())
    other = repo.commit("other", {"c.txt": "c\n"})
    repo.git("reset", "-q", "--hard", first)
    mine = repo.commit("mine", {"d.txt": "d\n"})
    push(repo.path, str(remote), other, "b", PushAuth())
    with pytest.raises(RepositoryError):
        push(repo.path, str(remote), mine, "b", PushAuth())
    with pytest.raises(RepositoryError):
        push(repo.path, str(remote), mine, "b", PushAuth(), lease=first)
    push(repo.path, str(remote), mine, "b", PushAuth(), lease=other)
    assert remote_branch(repo.path, str(remote), "b", PushAuth()) == mine
