"""Reading git repositories: the pygit2 edge (the only module that imports pygit2).

Repositories are opened exactly where asked (no search upwards). pygit2 errors
become :class:`~daemon.errors.RepositoryError`. Task files are located through
the literal segments of the configured globs, memoized by tree id, so a commit
that does not touch them costs a few lookups in C (``bench/scan.py``).
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pygit2
from pygit2.enums import FileMode, ObjectType, RepositoryOpenFlag

from daemon import trailers
from daemon.detect import Commit, Person, SignatureStatus
from daemon.errors import RepositoryError, RevisionNotFoundError
from daemon.globs import compile_glob, is_literal

_REGULAR: Final = frozenset({FileMode.BLOB, FileMode.BLOB_EXECUTABLE})
_GIT_SAFETY: Final = (
    "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
    "-c", "protocol.ext.allow=never", "-c", "gpg.program=gpg", "-c", "gpg.ssh.program=ssh-keygen",
)  # fmt: skip


@dataclass(eq=False)
class _Node:
    """One segment level of the task-file globs."""

    ident: int
    literal: dict[str, _Node] = field(default_factory=dict)
    wild: list[tuple[str, _Node]] = field(default_factory=list)
    deep: _Node | None = None  # a `**` here: the node to apply at this and every lower level
    terminal: bool = False


_ids = itertools.count()


def _build_trie(patterns: tuple[str, ...]) -> _Node:
    root = _Node(next(_ids))
    for pattern in patterns:
        node = root
        for segment in pattern.strip("/").split("/"):
            if segment == "**":
                if node.deep is None:
                    node.deep = _Node(next(_ids))
                node = node.deep
            elif is_literal(segment):
                node = node.literal.setdefault(segment, _Node(next(_ids)))
            else:
                child = next((n for s, n in node.wild if s == segment), None)
                if child is None:
                    child = _Node(next(_ids))
                    node.wild.append((segment, child))
                node = child
        node.terminal = True
    return root


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A task file in a tree: its blob, and whether it is a regular file (not a symlink)."""

    blob: str
    regular: bool


class Repo:
    """A git repository opened for reading."""

    def __init__(self, path: str | os.PathLike[str], task_globs: tuple[str, ...] = ()) -> None:
        try:
            self._repo = pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
        except (pygit2.GitError, KeyError) as error:
            raise RepositoryError(f"{path}: not a git repository ({error})") from error
        self.path = Path(path)
        self._trie = _build_trie(task_globs)
        self._memo: dict[tuple[str, int], tuple[tuple[str, FileEntry], ...]] = {}

    @property
    def git_dir(self) -> str:
        """The repository's git directory."""
        return str(self._repo.path)

    def resolve(self, rev: str) -> str:
        """The commit id ``rev`` names."""
        try:
            return str(self._repo.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as error:
            raise RevisionNotFoundError(f"{self.path}: revision {rev!r} not found") from error

    def _commit(self, sha: str) -> pygit2.Commit:
        obj: object = self._repo[sha]  # the stubs' Object is no base of the final Commit
        if not isinstance(obj, pygit2.Commit):
            raise RepositoryError(f"{self.path}: {sha} is not a commit")
        return obj

    def _tree(self, oid: str | pygit2.Oid) -> pygit2.Tree:
        obj: object = self._repo[oid]
        if not isinstance(obj, pygit2.Tree):
            raise RepositoryError(f"{self.path}: {oid} is not a tree")
        return obj

    def head_branch(self) -> str | None:
        """The branch HEAD points at, or None (detached or unborn)."""
        try:
            return None if self._repo.head_is_detached else self._repo.head.shorthand
        except pygit2.GitError:
            return None

    def first_parents(self, tip: str) -> list[str]:
        """``tip``'s first-parent history, oldest first."""
        walker = self._repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
        walker.simplify_first_parent()
        chain = [str(commit.id) for commit in walker]
        chain.reverse()
        return chain

    def commit(self, sha: str, *, check_signature: bool = False, signers: str = "") -> Commit:
        """What detection needs of one commit."""
        obj = self._commit(sha)
        author = obj.author
        person = Person(_text(author.raw_name), _text(author.raw_email))
        message = _text(obj.raw_message)
        items = tuple(trailers.approved_items(message)) if _may_approve(message) else ()
        signature = self.verify(sha, signers) if check_signature else SignatureStatus.UNCHECKED
        return Commit(sha, person, items, signature)

    def has_approval_trailer(self, sha: str) -> bool:
        """Tell cheaply whether this commit's message may carry an ``Approved-Tasks`` trailer."""
        return _may_approve_raw(self._commit(sha).raw_message)

    def tree_of(self, sha: str) -> str:
        """The root tree of a commit."""
        return str(self._commit(sha).tree_id)

    def task_files(self, tree: str) -> dict[str, FileEntry]:
        """Every file in ``tree`` matching the task-file globs."""
        return dict(self._collect(self._tree(tree), self._trie))

    def _collect(self, tree: pygit2.Tree, node: _Node) -> tuple[tuple[str, FileEntry], ...]:
        key = (str(tree.id), node.ident)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        found: list[tuple[str, FileEntry]] = []
        for name, child in node.literal.items():
            if name in tree:
                self._visit(tree[name], name, child, found)
        if node.wild or node.deep is not None:
            for entry in tree:
                name = entry.name or ""
                for segment, child in node.wild:
                    if compile_glob(segment).match(name):
                        self._visit(entry, name, child, found)
                if node.deep is not None and entry.type == ObjectType.TREE:
                    self._visit(entry, name, node, found)
        if node.deep is not None:
            found.extend(self._collect(tree, node.deep))
        result = tuple(found)
        self._memo[key] = result
        return result

    def _visit(
        self, entry: pygit2.Object, name: str, child: _Node, found: list[tuple[str, FileEntry]]
    ) -> None:
        if entry.type == ObjectType.BLOB and child.terminal:
            found.append((name, FileEntry(str(entry.id), entry.filemode in _REGULAR)))
        elif entry.type == ObjectType.TREE and (child.literal or child.wild or child.deep):
            subtree = self._tree(entry.id)
            found.extend((f"{name}/{path}", e) for path, e in self._collect(subtree, child))

    def blob(self, blob_id: str) -> bytes:
        """A blob's content."""
        blob: object = self._repo[blob_id]
        if not isinstance(blob, pygit2.Blob):
            raise RepositoryError(f"{self.path}: {blob_id} is not a blob")
        return bytes(blob.data)

    def read(self, tree: str, path: str) -> bytes | None:
        """The content of ``path`` in ``tree``, or None when it is not a regular file there."""
        try:
            entry: object = self._tree(tree)[path]
        except KeyError:
            return None
        if not isinstance(entry, pygit2.Blob) or entry.filemode not in _REGULAR:
            return None
        return bytes(entry.data)

    def paths(self, tree: str) -> set[str]:
        """Every file path in ``tree`` (for locating a task file's spec documents)."""
        found: set[str] = set()
        for prefix, obj in self._walk(self._tree(tree), ""):
            found.add(prefix + (obj.name or ""))
        return found

    def _walk(self, tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, pygit2.Object]]:
        for entry in tree:
            if entry.type == ObjectType.TREE:
                yield from self._walk(self._tree(entry.id), f"{prefix}{entry.name}/")
            elif entry.type == ObjectType.BLOB:
                yield prefix, entry

    def verify(self, sha: str, signers: str) -> SignatureStatus:
        """Check a commit's signature with ``git verify-commit`` (SSH signers file or GPG)."""
        signature, _ = self._commit(sha).gpg_signature
        if not signature:
            return SignatureStatus.NONE
        argv = ["git", f"--git-dir={self.git_dir}", *_GIT_SAFETY]
        if signers:
            argv += ["-c", f"gpg.ssh.allowedSignersFile={signers}"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1"}
        env["HOME"] = os.environ.get("HOME", "/nonexistent")
        result = subprocess.run(
            [*argv, "verify-commit", sha], capture_output=True, env=env, check=False, timeout=60
        )
        return SignatureStatus.GOOD if result.returncode == 0 else SignatureStatus.BAD


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _may_approve_raw(raw: bytes) -> bool:
    return b"pproved-" in raw or b"PPROVED-" in raw


def _may_approve(message: str) -> bool:
    return "approved-" in message.lower()
