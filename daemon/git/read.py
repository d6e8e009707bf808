"""Reading git repositories through pygit2.

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
from daemon.git.batch import BlobStream
from daemon.git.cli import GIT_SAFETY, git_env
from daemon.git.history import FileEntry, LogStream, Step, first_parent
from daemon.globs import compile_glob, is_literal

_MEMO_LIMIT: Final = 200_000
_REGULAR: Final = frozenset({FileMode.BLOB, FileMode.BLOB_EXECUTABLE})


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
class Delta:
    """One changed file between two trees (or a tree and the index)."""

    status: str  # added, modified, deleted, renamed
    path: str
    old_path: str | None
    old_blob: str | None
    new_blob: str | None
    binary: bool


_STATUS: Final = {
    pygit2.enums.DeltaStatus.ADDED: "added",
    pygit2.enums.DeltaStatus.MODIFIED: "modified",
    pygit2.enums.DeltaStatus.DELETED: "deleted",
    pygit2.enums.DeltaStatus.RENAMED: "renamed",
    pygit2.enums.DeltaStatus.COPIED: "added",
    pygit2.enums.DeltaStatus.TYPECHANGE: "modified",
}


class Repo:
    """A git repository opened for reading."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        task_globs: tuple[str, ...] = (),
        *,
        index_file: str | None = None,
    ) -> None:
        """Open ``path``; ``index_file`` is the index to read instead of ``.git/index``.

        git hands hooks a temporary index (``GIT_INDEX_FILE``) for ``git commit -a``
        and ``git commit PATH``: that one holds what is being committed.
        """
        self._index_file = index_file
        try:
            self._repo = pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
        except (pygit2.GitError, KeyError) as error:
            raise RepositoryError(f"{path}: not a git repository ({error})") from error
        self.path = Path(path)
        self._globs = task_globs
        self._trie = _build_trie(task_globs)
        self._memo: dict[tuple[pygit2.Oid, int], tuple[tuple[str, FileEntry], ...]] = {}

    @property
    def git_dir(self) -> str:
        """The repository's git directory."""
        return str(self._repo.path)

    def resolve(self, rev: str) -> str:
        """The commit id ``rev`` names (a tag is followed to its commit)."""
        try:
            found = self._repo.revparse_single(rev)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as error:
            raise RevisionNotFoundError(f"{self.path}: revision {rev!r} not found") from error
        try:
            return str(found.peel(pygit2.Commit).id)
        except (ValueError, pygit2.GitError, pygit2.InvalidSpecError) as error:
            kind = getattr(found, "type_str", "object")
            message = f"{self.path}: revision {rev!r} names a {kind}, not a commit"
            raise RevisionNotFoundError(message) from error

    def _commit(self, sha: str) -> pygit2.Commit:
        obj: object = self._repo[_oid(sha)]  # the stubs' Object is no base of the final Commit
        if not isinstance(obj, pygit2.Commit):
            raise RepositoryError(f"{self.path}: {sha} is not a commit")
        return obj

    def _tree(self, oid: str | pygit2.Oid) -> pygit2.Tree:
        obj: object = self._repo[_oid(oid)]
        if not isinstance(obj, pygit2.Tree):
            raise RepositoryError(f"{self.path}: {oid} is not a tree")
        return obj

    def history(self, tip: str, since: str | None = None) -> list[Step]:
        """``tip``'s first-parent history, oldest first, with each commit's task-file changes.

        With ``since``, only the commits after it (see :mod:`daemon.git.history`).
        """
        return first_parent(self.git_dir, self._globs, tip, since)

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two commits, or None."""
        found: object = self._repo.merge_base(_oid(a), _oid(b))  # None when unrelated
        return str(found) if found is not None else None

    def first_parent(self, sha: str) -> str | None:
        """A commit's first parent, or None for a root commit."""
        parents = self._commit(sha).parent_ids
        return str(parents[0]) if parents else None

    def commit(self, sha: str, *, check_signature: bool = False, signers: str = "") -> Commit:
        """What detection needs of one commit."""
        obj = self._commit(sha)
        author = obj.author
        person = Person(_text(author.raw_name), _text(author.raw_email))
        message = _text(obj.raw_message)
        found = trailers.approvals(message)
        items, unread = tuple(found.items), tuple(found.unread)
        status, signer = (
            self.verify(sha, signers) if check_signature else (SignatureStatus.UNCHECKED, "")
        )
        return Commit(sha, person, items, status, signer, unread)

    def has_commit(self, sha: str) -> bool:
        """Whether ``sha`` names a commit in the object store."""
        try:
            return isinstance(self._repo.get(_oid(sha)), pygit2.Commit)
        except (ValueError, pygit2.GitError):
            return False

    def tree_of(self, sha: str) -> str:
        """The root tree of a commit."""
        return str(self._commit(sha).tree_id)

    def task_files(self, tree: str) -> dict[str, FileEntry]:
        """Every file in ``tree`` matching the task-file globs."""
        return dict(self._collect(_oid(tree), self._trie))

    def _collect(self, oid: pygit2.Oid, node: _Node) -> tuple[tuple[str, FileEntry], ...]:
        """The matching files under tree ``oid``, memoized by tree id.

        Subtrees are loaded only on a miss, so an unchanged folder costs one lookup.
        """
        key = (oid, node.ident)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        tree = self._tree(oid)
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
            if node.deep.terminal:  # a trailing ``**``: every file here (deeper: the loop above)
                found += [(e.name or "", _entry_of(e)) for e in tree if e.type == ObjectType.BLOB]
            found.extend(self._collect(oid, node.deep))
        result = tuple(found)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()  # bounded: a long history revisits few trees twice
        self._memo[key] = result
        return result

    def _visit(
        self, entry: pygit2.Object, name: str, child: _Node, found: list[tuple[str, FileEntry]]
    ) -> None:
        if entry.type == ObjectType.BLOB and child.terminal:
            found.append((name, _entry_of(entry)))
        elif entry.type == ObjectType.TREE and (child.literal or child.wild or child.deep):
            found.extend((f"{name}/{path}", e) for path, e in self._collect(entry.id, child))

    def blob_size(self, blob_id: str) -> int:
        """A blob's size in bytes, without reading it."""
        try:
            return int(self._repo.odb.read_header(_oid(blob_id))[1])
        except (KeyError, ValueError, pygit2.GitError) as error:
            raise RepositoryError(f"{self.path}: object {blob_id} is missing") from error

    def blob(self, blob_id: str) -> bytes:
        """A blob's content."""
        try:
            kind, data = self._repo.odb.read(_oid(blob_id))  # no Blob object: half the cost
        except (KeyError, ValueError, pygit2.GitError) as error:
            raise RepositoryError(f"{self.path}: object {blob_id} is missing") from error
        if kind != ObjectType.BLOB:
            raise RepositoryError(f"{self.path}: {blob_id} is not a blob")
        return bytes(data)

    def blobs(self, blob_ids: list[str]) -> dict[str, bytes]:
        """Many blobs at once, through one ``git cat-file --batch`` (those git has)."""
        with BlobStream(self.git_dir, blob_ids) as stream:
            return stream.all()

    def blob_stream(self, blob_ids: list[str] | None = None, *, direct: bool = False) -> BlobStream:
        """Many blobs, read as they are asked for (None: named later, see BlobStream)."""
        return BlobStream(self.git_dir, blob_ids, direct=direct)

    def log_stream(self, tip: str, since: str | None = None) -> LogStream:
        """``tip``'s first-parent history, newest first, read as git walks it."""
        return LogStream(self.git_dir, self._globs, tip, since)

    def diff(self, base: str | None, head: str | None) -> list[Delta]:
        """Files that differ from commit ``base`` to commit ``head``.

        ``base`` None is the empty tree (a first commit); ``head`` None is the index
        (what ``git commit`` would record). Renames are detected; symlinks and
        submodules are reported as binary, regular files never.
        """
        if base is None and head is None:
            return [
                Delta("added", entry.path, None, None, str(entry.id), entry.mode not in _REGULAR)
                for entry in self._index()
            ]
        if base is None:
            diff = self._commit(str(head)).tree.diff_to_tree(swap=True)
        elif head is None and self._index_file is None:
            diff = self._repo.index.diff_to_tree(self._commit(base).tree)
        elif head is None:  # a standalone index cannot diff itself: compare its tree
            diff = self._commit(base).tree.diff_to_tree(self._tree(self.index_tree()))
        else:
            diff = self._repo.diff(self._commit(base), self._commit(head))
        diff.find_similar()
        found: list[Delta] = []
        for delta in diff.deltas:
            status = _STATUS.get(delta.status)
            if status is None:
                continue
            new_regular = delta.new_file.mode in _REGULAR
            old_regular = delta.old_file.mode in _REGULAR
            found.append(
                Delta(
                    status=status,
                    path=delta.new_file.path if status != "deleted" else delta.old_file.path,
                    old_path=delta.old_file.path if status == "renamed" else None,
                    old_blob=str(delta.old_file.id) if status != "added" else None,
                    new_blob=str(delta.new_file.id) if status != "deleted" else None,
                    # Not libgit2's is_binary: it follows the repository's own (untrusted)
                    # .gitattributes; the caller judges a regular file by its content.
                    binary=(status != "deleted" and not new_regular)
                    or (status not in {"added"} and not old_regular),
                )
            )
        return found

    def _index(self) -> pygit2.Index:
        return self._repo.index if self._index_file is None else pygit2.Index(self._index_file)

    def index_tree(self) -> str:
        """The index as a tree (written to the object store, as ``git write-tree`` does)."""
        try:
            return str(self._index().write_tree(self._repo))
        except (pygit2.GitError, ValueError) as error:  # e.g. unresolved merge conflicts
            raise RepositoryError(
                f"{self.path}: the index cannot be written as a tree ({error})"
            ) from error

    def index_tree_files(self, suffix: str) -> dict[str, str]:
        """Blob ids of the index's files ending with ``suffix`` (what a commit would hold)."""
        return {
            entry.path: str(entry.id)
            for entry in self._index()
            if entry.path.endswith(suffix) and entry.mode in _REGULAR
        }

    def tree_files(self, tree: str, suffix: str) -> dict[str, str]:
        """Blob ids of the regular files in ``tree`` whose path ends with ``suffix``."""
        return {
            prefix + (obj.name or ""): str(obj.id)
            for prefix, obj in self._walk(self._tree(tree), "")
            if (obj.name or "").endswith(suffix) and obj.filemode in _REGULAR
        }

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

    def verify(self, sha: str, signers: str) -> tuple[SignatureStatus, str]:
        """A commit's signature status and the identity it verifies for (``%G?``, ``%GS``).

        Only a good signature (``G``) counts; the caller also compares the signer
        with the author, since git authorship is free text.
        """
        signature, _ = self._commit(sha).gpg_signature
        if not signature:
            return SignatureStatus.NONE, ""
        argv = ["git", f"--git-dir={self.git_dir}", *GIT_SAFETY]
        if signers:
            argv += ["-c", f"gpg.ssh.allowedSignersFile={signers}"]
        result = subprocess.run(
            [*argv, "log", "-1", "--no-walk", "--format=%G?%x00%GS", sha],
            capture_output=True,
            env=git_env(),
            check=False,
            timeout=60,
        )
        status, _, signer = result.stdout.decode("utf-8", "replace").strip().partition("\0")
        good = result.returncode == 0 and status == "G"
        return (SignatureStatus.GOOD if good else SignatureStatus.BAD), signer.strip()


def hooks_dir(work_tree: Path) -> Path | None:
    """Where git runs a repository's hooks (``core.hooksPath``, linked worktrees included)."""
    # The user's own configuration decides this (core.hooksPath may be global), so it is
    # read, unlike for every other git call; rev-parse runs no hooks and no fsmonitor.
    argv = [
        "git",
        "-C",
        str(work_tree),
        "-c",
        "core.fsmonitor=false",
        "rev-parse",
        "--git-path",
        "hooks",
    ]
    env = {key: value for key, value in git_env().items() if not key.startswith("GIT_CONFIG")}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = done.stdout.strip()
    return work_tree / found if done.returncode == 0 and found else None


def _entry_of(entry: pygit2.Object) -> FileEntry:
    return FileEntry(str(entry.id), entry.filemode in _REGULAR)


def _oid(value: str | pygit2.Oid) -> pygit2.Oid:
    """An object id: a full hex id becomes an Oid (libgit2 looks abbreviated ones up slowly)."""
    return value if isinstance(value, pygit2.Oid) else pygit2.Oid(hex=value)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")
