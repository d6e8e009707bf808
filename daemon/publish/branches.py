"""The task branch a job works on: reused for the same approval, rebuilt for a new one.

A job for the same task and digest (a resumed or repeated run) carries on with the
branch it has. A new approval (new digest) starts again from its approving commit,
but only when every commit on the old branch is the daemon's own: work a person put
there is never thrown away, and the job then builds on top of it.
"""

from __future__ import annotations

from pathlib import Path

from daemon.git.cli import run_git
from daemon.git.write import commits_only_in, local_branch, remove_worktree
from daemon.trailers import parse as parse_trailers


def _digests(message: str) -> list[str]:
    return [v.strip() for k, v in parse_trailers(message) if k.lower() == "speckitd-digest"]


def prepare_branch(
    repo: Path,
    branch: str,
    start: str,
    digest: str,
    daemon_email: str,
    *,
    worktree: Path | None = None,
) -> str:
    """Make ``branch`` ready for the job approved at ``start``; what happened, in words.

    ``worktree`` is where the job's worktree lives: a rebuild removes a stale one first
    (git refuses to move a branch that a worktree has checked out).
    """
    tip = local_branch(repo, branch)
    if tip is None:
        run_git(["branch", branch, start], cwd=repo)
        return "created"
    commits = commits_only_in(repo, tip, start)
    if not commits or any(digest[:12] in _digests(c.message) for c in commits):
        return "reused"  # nothing on it yet, or work for this very approval
    if all(c.author_email == daemon_email for c in commits):
        if worktree is not None:
            remove_worktree(repo, worktree)
        run_git(["branch", "-f", branch, start], cwd=repo)
        return "rebuilt"
    return "kept: it holds commits speckitd did not make"
