"""A branch's first-parent history and its task-file changes, read by git itself.

One ``git log`` lists every commit with its message (for the ``Approved-Tasks``
trailer) and, limited to the literal folders of the task-file globs, the files it
changed against its first parent (``--sparse`` keeps the commits that change none).
git compares the trees in C and skips every folder that did not change, which is
most of a history (``bench/scan.py``). The globs themselves are then applied here,
to the few paths git reports.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, NamedTuple

from daemon.errors import RepositoryError
from daemon.git.cli import GIT_SAFETY, git_env, wait_readable, widen
from daemon.globs import compile_glob, is_literal

_REGULAR_MODES: Final = frozenset({b"100644", b"100755"})
_ABSENT_MODES: Final = frozenset({b"160000", b"000000"})  # a submodule, or nothing
_MARK: Final = b"approved"  # as daemon.trailers.approvals tests first: a superset of it
_UTF8: Final = frozenset({b"", b"utf-8", b"utf8"})


def _nothing() -> None:
    pass


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A task file in a tree: its blob, and whether it is a regular file (not a symlink)."""

    blob: str
    regular: bool


Changes = tuple[tuple[str, FileEntry | None], ...]


class Step(NamedTuple):
    """A commit of a first-parent walk.

    ``trailer`` says whether its message may carry an ``Approved-Tasks`` trailer (a
    cheap byte test; the trailer is parsed only then). ``changes`` are the task files
    it added, modified (their new entry) or deleted (None) against its first parent.
    A tuple, not a dataclass: a walk makes one per commit, and tuples are made faster.
    """

    sha: str
    trailer: bool
    changes: Changes = ()


# A Step from its fields, made in C: the generated ``__new__`` is a Python call per commit.
_step: Final = functools.partial(tuple.__new__, Step)


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
    with LogStream(git_dir, globs, tip, since) as log:
        steps = list(log.steps())
    steps.reverse()
    return steps


class LogStream:
    """``git log`` over a first-parent history, read newest first as git writes it.

    The caller can work on the commits read so far while git walks older ones.
    """

    def __init__(
        self,
        git_dir: str,
        globs: tuple[str, ...],
        tip: str,
        since: str | None,
        *,
        timeout: float = 600,
    ) -> None:
        """Start ``git log``; its output is read by :meth:`steps`."""
        # The repository's own configuration must not change the output: --no-follow
        # (log.follow), --no-show-signature, --encoding (i18n.logOutputEncoding), --no-notes.
        argv = ["git", f"--git-dir={git_dir}", *GIT_SAFETY, "log", "--first-parent",
                "--no-color", "--no-follow", "--no-show-signature", "--no-notes",
                "--encoding=UTF-8", "-z", "--format=%x01%H%x02%e%x03%B"]  # fmt: skip
        if globs:  # --sparse: every commit, with the raw diff limited to the pathspecs
            argv += ["--sparse", "--diff-merges=first-parent", "--root", "--raw", "--no-abbrev",
                     "--no-renames", "--no-ext-diff"]  # fmt: skip
        argv += [tip] if since is None else [tip, f"^{since}"]
        argv += ["--", *(pathspecs(globs) or [])]
        self._matchers = [compile_glob(glob) for glob in globs]
        self._timeout = timeout
        # A file, not a pipe, so that git never stalls on a full one; closed by close().
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            # GIT_FLUSH=0: git writes its output a buffer at a time, not a commit at a time
            # (thousands of writes, and as many wake-ups of the reader, for a long history).
            self._process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=self._errors, env=git_env({"GIT_FLUSH": "0"})
            )
        except OSError as error:
            self._errors.close()
            raise RepositoryError(f"git log could not run: {error}") from None
        widen(self._process.stdout)  # git walks on while the caller parses what it sent

    def steps(self) -> Iterator[Step]:
        """The commits, newest first; a RepositoryError quoting git if it fails."""
        for batch in self.batches():
            yield from batch

    def batches(self, before_reading: Callable[[], None] = _nothing) -> Iterator[list[Step]]:
        """The commits, newest first, a stretch of git's output at a time (see :meth:`steps`).

        ``before_reading`` is called each time the commits read so far have been handed
        over and more output is to be read (a caller may send what it gathered then).
        """
        matchers = self._matchers
        chunks = self._chunks(before_reading)
        yield from _batches(chunks, lambda path: any(m.match(path) for m in matchers))
        if self._process.wait() != 0:
            self._errors.seek(0)
            lines = self._errors.read().decode("utf-8", "replace").strip().splitlines()
            raise RepositoryError(f"git log failed: {lines[-1] if lines else 'no output'}")

    def _chunks(self, before_reading: Callable[[], None]) -> Iterator[bytes]:
        stdout = self._process.stdout
        if stdout is None:
            return
        fd = stdout.fileno()
        while True:
            before_reading()
            if not wait_readable(fd, self._timeout):
                self._process.kill()
                self._process.wait()
                raise RepositoryError(f"git log sent nothing for {self._timeout:g} s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return
            yield chunk

    def stop(self) -> None:
        """Stop git if it is still running (a reader then meets the end of its output)."""
        if self._process.poll() is None:
            self._process.kill()

    def close(self) -> None:
        """Stop git if it is still running, and let go of its output."""
        self.stop()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._errors.close()

    def __enter__(self) -> LogStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _every(_path: str) -> bool:
    return True


def _batches(chunks: Iterable[bytes], keep: Callable[[str], bool] = _every) -> Iterator[list[Step]]:
    r"""Per commit, newest first: its id, whether its message may carry a trailer, its files.

    Records are ``\x01<id>\x02<encoding>\x03<message>`` then, with ``--raw -z``, a
    ``:modes ids status`` token and a path token per file, all NUL-separated. git cuts
    a message at its first NUL, so a message cannot end a record early. Only the files
    whose path ``keep`` accepts are kept. A commit is handed over once the next one
    starts (its files may come in the next chunk). One loop over each chunk's tokens,
    and one list per chunk, not a generator step per commit: a history's commits all
    pass through here.
    """
    sha: str | None = None
    trailer = False
    files: list[tuple[str, FileEntry | None]] = []
    meta: bytes | None = None  # a raw line whose path is the next token
    for tokens in _tokens(chunks):
        batch: list[Step] = []
        for raw in tokens:
            if meta is not None:
                entry = _entry(meta)
                meta = None
                path = os.fsdecode(raw)  # as pygit2 names it
                if keep(path):
                    files.append((path, entry))
                continue
            token = raw.lstrip(b"\n") if raw[:1] == b"\n" else raw
            if token[:1] == b"\x01":
                if sha is not None:
                    batch.append(_step((sha, trailer, tuple(files))))
                    files = []
                head, _, rest = token.partition(b"\x02")
                encoding, _, message = rest.partition(b"\x03")
                # A message in another encoding was converted by git: pygit2 reads it raw.
                # find, not ``in``: ``bytes in bytes`` raises and clears a TypeError inside.
                trailer = message.lower().find(_MARK) >= 0 or encoding.lower() not in _UTF8
                sha = head[1:].decode("ascii")
            elif token[:1] == b":" and sha is not None:
                meta = token
            elif token:
                raise RepositoryError(f"unexpected git log output near {token[:80]!r}")
        if batch:
            yield batch
    if sha is not None:
        yield [_step((sha, trailer, tuple(files)))]


def _tokens(chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
    """The NUL-separated tokens each chunk completes (in linear time, however long a token)."""
    pending: list[bytes] = []  # the start of a token the chunks cut
    for chunk in chunks:
        tokens = chunk.split(b"\0")
        if len(tokens) == 1:
            pending.append(chunk)
            continue
        if pending:
            pending.append(tokens[0])
            tokens[0] = b"".join(pending)
        pending = [tokens.pop()]
        yield tokens
    rest = b"".join(pending)
    if rest:
        yield [rest]


def _entry(meta: bytes) -> FileEntry | None:
    """The new side of a raw line ``:old-mode new-mode old-id new-id status``."""
    parts = meta[1:].split(b" ")
    if len(parts) != 5:
        raise RepositoryError(f"unexpected git log output {meta[:80]!r}")
    mode, blob, status = parts[1], parts[3], parts[4]
    if status.startswith(b"D") or mode in _ABSENT_MODES:
        return None
    return FileEntry(blob.decode("ascii"), mode in _REGULAR_MODES)
