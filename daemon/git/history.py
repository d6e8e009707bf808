"""A branch's first-parent history and its task-file changes, read by git itself.

One ``git log`` lists every commit with its message (for the ``Approved-Tasks``
trailer) and, limited to the literal folders of the task-file globs, the files it
changed against its first parent (``--sparse`` keeps the commits that change none).
git compares the trees in C and skips every folder that did not change, which is
most of a history (``bench/scan.py``). The globs themselves are then applied here,
to the few paths git reports.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from daemon.errors import RepositoryError
from daemon.git.cli import GIT_SAFETY, git_env
from daemon.globs import compile_glob, is_literal

_REGULAR_MODES: Final = frozenset({b"100644", b"100755"})
_ABSENT_MODES: Final = frozenset({b"160000", b"000000"})  # a submodule, or nothing
_MARK: Final = b"approved-"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A task file in a tree: its blob, and whether it is a regular file (not a symlink)."""

    blob: str
    regular: bool


Changes = tuple[tuple[str, FileEntry | None], ...]


@dataclass(frozen=True, slots=True)
class Step:
    """A commit of a first-parent walk.

    ``trailer`` says whether its message may carry an ``Approved-Tasks`` trailer (a
    cheap byte test; the trailer is parsed only then). ``changes`` are the task files
    it added, modified (their new entry) or deleted (None) against its first parent.
    """

    sha: str
    trailer: bool
    changes: Changes = ()


def pathspecs(globs: tuple[str, ...]) -> list[str] | None:
    """The folders (or files) git limits the walk to; None when a glob can match anywhere."""
    specs: list[str] = []
    for glob in globs:
        literal: list[str] = []
        for segment in glob.strip("/").split("/"):
            if segment == "**" or not is_literal(segment):
                break
            literal.append(segment)
        if not literal:
            return None
        specs.append(":(literal)" + "/".join(literal))
    return specs


def first_parent(git_dir: str, globs: tuple[str, ...], tip: str, since: str | None) -> list[Step]:
    """``tip``'s first-parent history, oldest first; with ``since``, only what follows it."""
    argv = ["git", f"--git-dir={git_dir}", *GIT_SAFETY, "log", "--first-parent", "--no-color",
            "-z", "--format=%x01%H%x02%B"]  # fmt: skip
    specs = pathspecs(globs)
    if globs:  # --sparse: every commit, with the raw diff limited to the pathspecs
        argv += ["--sparse", "--diff-merges=first-parent", "--root", "--raw", "--no-abbrev",
                 "--no-renames", "--no-ext-diff"]  # fmt: skip
    argv += [tip] if since is None else [tip, f"^{since}"]
    argv += ["--", *(specs or [])]
    matchers = [compile_glob(glob) for glob in globs]
    steps = [
        Step(sha, trailer, tuple((p, e) for p, e in files if any(m.match(p) for m in matchers)))
        for sha, trailer, files in _records(_run(argv))
    ]
    steps.reverse()
    return steps


def _run(argv: list[str]) -> bytes:
    """The output of ``git log``, or a RepositoryError quoting git."""
    try:
        done = subprocess.run(argv, capture_output=True, env=git_env(), check=False, timeout=3600)
    except (OSError, subprocess.SubprocessError) as error:
        raise RepositoryError(f"git log could not run: {error}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RepositoryError(f"git log failed: {lines[-1] if lines else done.returncode}")
    return done.stdout


def _records(out: bytes) -> Iterator[tuple[str, bool, list[tuple[str, FileEntry | None]]]]:
    r"""Per commit, newest first: its id, whether its message may carry a trailer, its files.

    Records are ``\x01<id>\x02<message>`` then, with ``--raw -z``, a ``:modes ids status``
    token and a path token per file, all NUL-separated. git cuts a message at its
    first NUL, so a message cannot end a record early.
    """
    tokens = out.split(b"\0")
    current: tuple[str, bool, list[tuple[str, FileEntry | None]]] | None = None
    index = 0
    while index < len(tokens):
        token = tokens[index].lstrip(b"\n")
        index += 1
        if token.startswith(b"\x01"):
            if current is not None:
                yield current
            sha, _, message = token[1:].partition(b"\x02")
            current = (sha.decode("ascii"), _MARK in message.lower(), [])
        elif token.startswith(b":") and current is not None and index < len(tokens):
            path = tokens[index].decode("utf-8", "replace")
            index += 1
            current[2].append((path, _entry(token)))
        elif token:
            raise RepositoryError(f"unexpected git log output near {token[:80]!r}")
    if current is not None:
        yield current


def _entry(meta: bytes) -> FileEntry | None:
    """The new side of a raw line ``:old-mode new-mode old-id new-id status``."""
    parts = meta[1:].split(b" ")
    if len(parts) != 5:
        raise RepositoryError(f"unexpected git log output {meta[:80]!r}")
    mode, blob, status = parts[1], parts[3], parts[4]
    if status.startswith(b"D") or mode in _ABSENT_MODES:
        return None
    return FileEntry(blob.decode("ascii"), mode in _REGULAR_MODES)
