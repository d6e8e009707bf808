"""Writing to git for the publisher: worktrees, the daemon's commits, and pushes.

Only the daemon writes (DESIGN §1): the agent's changes are committed here with a
fixed identity, and pushed with a fixed argv to the configured remote. A push never
overwrites commits on the remote branch unless ``lease`` names exactly what is there
(the caller checks that those commits are the daemon's own).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pydantic import SecretStr
from pygit2.enums import RepositoryOpenFlag

from daemon.errors import RepositoryError
from daemon.git.cli import config_env, run_git


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the daemon's commits are by."""

    name: str = "speckitd"
    email: str = "speckitd@localhost"


@dataclass(frozen=True, slots=True)
class PushAuth:
    """Credentials for the remote: an HTTPS token, or an SSH key file (or none)."""

    token: SecretStr = field(default_factory=lambda: SecretStr(""))
    ssh_key: str = ""

    def env(self) -> dict[str, str]:
        """Environment entries that hand git the credentials, outside its argv."""
        env: dict[str, str] = {}
        token = self.token.get_secret_value()
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(config_env({"http.extraHeader": f"Authorization: Basic {basic}"}))
        if self.ssh_key:
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i '{self.ssh_key}' -o IdentitiesOnly=yes -o BatchMode=yes "
                "-o StrictHostKeyChecking=yes"
            )
        return env

    def secrets(self) -> tuple[str, ...]:
        """What must never be shown from git's output."""
        token = self.token.get_secret_value()
        if not token:
            return ()
        return (token, base64.b64encode(f"x-access-token:{token}".encode()).decode())


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """A commit as the no-force-push rule looks at it."""

    sha: str
    author_email: str
    message: str
    committer_email: str = ""


def _open(path: Path) -> pygit2.Repository:
    try:
        return pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
    except (pygit2.GitError, KeyError) as error:
        raise RepositoryError(f"{path}: not a git repository ({error})") from error


def local_branch(repo: Path, branch: str) -> str | None:
    """The commit ``refs/heads/<branch>`` points at, or None."""
    ref = _open(repo).references.get(f"refs/heads/{branch}")
    return None if ref is None else str(ref.resolve().target)


def add_worktree(repo: Path, path: Path, branch: str, start: str) -> None:
    """A worktree at ``path`` on ``branch`` (made from ``start`` when new); reused if there."""
    if (path / ".git").is_file() and head(path, branch=True) == f"refs/heads/{branch}":
        return
    if path.exists():
        run_git(["worktree", "remove", "--force", str(path)], cwd=repo, check=False)
        run_git(["worktree", "prune"], cwd=repo)
    if local_branch(repo, branch) is None:
        run_git(["worktree", "add", "-q", "-b", branch, str(path), start], cwd=repo)
    else:
        run_git(["worktree", "add", "-q", str(path), branch], cwd=repo)


def remove_worktree(repo: Path, path: Path) -> None:
    """Remove the worktree and its administrative files; the branch stays."""
    run_git(["worktree", "remove", "--force", str(path)], cwd=repo, check=False)
    run_git(["worktree", "prune"], cwd=repo)


def head(worktree: Path, *, branch: bool = False) -> str:
    """The worktree's HEAD commit (or, with ``branch``, the ref HEAD names)."""
    opened = _open(worktree)
    if branch:
        return "" if opened.head_is_detached else opened.head.name
    return str(opened.head.target)


def commit_worktree(
    worktree: Path,
    message: str,
    identity: Identity,
    *,
    when: int | None = None,
    skip: tuple[str, ...] = (),
) -> str | None:
    """Commit every change in the worktree on its branch; None when there is nothing to commit.

    Paths in ``skip`` keep their committed state (they belong to another commit).
    """
    opened = _open(worktree)
    index = opened.index
    index.add_all()
    gone = [e.path for e in index if not os.path.lexists(worktree / e.path)]
    for path in gone:
        index.remove(path)
    head_tree = opened.head.peel(pygit2.Commit).tree
    for path in skip:
        if path in index:
            index.remove(path)
        if path in head_tree:
            entry = head_tree[path]
            index.add(pygit2.IndexEntry(path, entry.id, entry.filemode))
    tree = index.write_tree()
    parent = opened.head.peel(pygit2.Commit)
    if tree == parent.tree.id:
        return None
    index.write()
    signature = (
        pygit2.Signature(identity.name, identity.email)
        if when is None
        else pygit2.Signature(identity.name, identity.email, when, 0)
    )
    oid = opened.create_commit("HEAD", signature, signature, message, tree, [parent.id])
    return str(oid)


def remote_branch(repo: Path, remote: str, branch: str, auth: PushAuth) -> str | None:
    """The commit the remote's ``refs/heads/<branch>`` points at, or None."""
    done = run_git(
        ["ls-remote", "--heads", remote, f"refs/heads/{branch}"],
        cwd=repo,
        env=auth.env(),
        secrets=auth.secrets(),
    )
    for line in done.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def fetch_branch(repo: Path, remote: str, branch: str, auth: PushAuth) -> str | None:
    """Fetch the remote branch into ``refs/speckitd/remote/<branch>``; its commit or None."""
    if remote_branch(repo, remote, branch, auth) is None:
        return None
    local = f"refs/speckitd/remote/{branch}"
    run_git(
        ["fetch", "-q", "--no-tags", remote, f"+refs/heads/{branch}:{local}"],
        cwd=repo,
        env=auth.env(),
        secrets=auth.secrets(),
    )
    ref = _open(repo).references.get(local)
    return None if ref is None else str(ref.target)


def push(
    repo: Path, remote: str, commit: str, branch: str, auth: PushAuth, *, lease: str | None = None
) -> None:
    """Push ``commit`` to ``refs/heads/<branch>``; only a fast-forward unless ``lease`` is given.

    With ``lease`` the push replaces the remote branch only if it still points at
    ``lease`` (``--force-with-lease``), so a commit pushed meanwhile is never lost.
    """
    args = ["push", "-q", "--no-verify", "--porcelain"]
    if lease is not None:
        args.append(f"--force-with-lease=refs/heads/{branch}:{lease}")
    args += [remote, f"{commit}:refs/heads/{branch}"]
    run_git(args, cwd=repo, env=auth.env(), secrets=auth.secrets())


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    """Whether ``ancestor`` is reachable from ``descendant`` (False when either is unknown)."""
    opened = _open(repo)
    a, d = pygit2.Oid(hex=ancestor), pygit2.Oid(hex=descendant)
    if a not in opened or d not in opened:
        return False  # not fetched: it cannot be in our history
    return a == d or bool(opened.descendant_of(d, a))


def commits_only_in(repo: Path, tip: str, other: str) -> list[CommitInfo]:
    """Commits reachable from ``tip`` but not from ``other``, newest first."""
    opened = _open(repo)
    walker = opened.walk(pygit2.Oid(hex=tip), pygit2.enums.SortMode.TOPOLOGICAL)
    walker.hide(pygit2.Oid(hex=other))
    return [CommitInfo(str(c.id), c.author.email, c.message, c.committer.email) for c in walker]


def ensure_clone(path: Path, url: str) -> None:
    """A clone of ``url`` at ``path`` with ``origin`` pointing at it (made when missing)."""
    if not (path / ".git").exists() and not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git(["clone", "-q", "--no-checkout", url, str(path)], cwd=path.parent)
        return
    remotes = run_git(["remote"], cwd=path).stdout.split()
    if "origin" not in remotes:
        run_git(["remote", "add", "origin", url], cwd=path)


def fetch(path: Path, auth: PushAuth, *, timeout: float = 300) -> None:
    """Fetch ``origin`` (all branches, pruned) into the remote-tracking refs."""
    run_git(
        ["fetch", "-q", "--prune", "--no-tags", "origin"],
        cwd=path,
        env=auth.env(),
        secrets=auth.secrets(),
        timeout=timeout,
    )


def has_remote(repo: Path, name: str) -> bool:
    """Whether the repository has a remote called ``name`` (a URL counts as one)."""
    if "/" in name or ":" in name:
        return True
    return name in _open(repo).remotes.names()
