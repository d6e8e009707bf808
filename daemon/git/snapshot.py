"""A worktree's files as a commit on no ref, so the gates read an agent's work like any change."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, RepositoryOpenFlag

from daemon.errors import RepositoryError
from daemon.git.read import Repo

# Fixed identity and time: the same files on the same base give the same commit id.
_SIGNATURE = pygit2.Signature("speckitd", "speckitd@localhost", 0, 0)


def snapshot(repo: Repo, base: str) -> str:
    """A commit whose parent is ``base`` and whose tree is the worktree as ``git add -A`` sees it.

    A fresh repository object is opened so its index changes in memory only: the
    worktree's own index file is never written. Ignored files stay out, as git would
    leave them; only objects are written, and nothing points at them.
    """
    try:
        opened = pygit2.Repository(str(repo.path), RepositoryOpenFlag.NO_SEARCH)
        base_commit = opened.revparse_single(base).peel(pygit2.Commit)
        index = opened.index
        index.read_tree(base_commit.tree)
        index.add_all()
        gone = [e.path for e in index if not os.path.lexists(repo.path / e.path)]
        for path in gone:
            index.remove(path)
        tree = index.write_tree(opened)
        oid = opened.create_commit(
            None, _SIGNATURE, _SIGNATURE, "speckitd: worktree snapshot", tree, [base_commit.id]
        )
    except (pygit2.GitError, KeyError, ValueError) as error:
        raise RepositoryError(f"{repo.path}: cannot snapshot the worktree ({error})") from error
    return str(oid)


def materialize(repo: Repo, commit: str, target: Path) -> None:
    """Write ``commit``'s files into the empty folder ``target`` (no index, no HEAD moved).

    What the checks run on: the snapshot's files exactly, so that a file git ignores
    (and the commit leaves out) cannot change what the tests see.
    """
    strategy = (
        CheckoutStrategy.FORCE
        | CheckoutStrategy.DONT_UPDATE_INDEX
        | CheckoutStrategy.RECREATE_MISSING
    )
    try:
        opened = pygit2.Repository(str(repo.path), RepositoryOpenFlag.NO_SEARCH)
        tree = opened.revparse_single(commit).peel(pygit2.Tree)
        opened.checkout_tree(tree, directory=str(target), strategy=strategy)  # type: ignore[no-untyped-call]
    except (pygit2.GitError, KeyError, ValueError) as error:
        raise RepositoryError(f"{repo.path}: cannot write {commit} out ({error})") from error
