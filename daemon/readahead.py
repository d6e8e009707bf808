"""Reading a history's task-file versions while git walks it, newest first.

A scan replays history oldest first, but ``git log`` walks it newest first. Waiting
for the whole walk before reading any file leaves the parser idle while git works,
and git idle while the parser works. :func:`read_ahead` instead reads ``git log`` in
a thread of its own, which asks ``git cat-file`` for each commit's task-file versions
as git reports it, while the caller's thread parses every version that has come:
the newest version of each file in full, each older one from the next newer one
(:func:`daemon.spec.incremental.update` runs either way). Over a whole history the
tip's versions are asked for first, before ``git log`` starts. The scan then replays
the history oldest first with every version already parsed (:class:`Ahead`); what the
byte budget left out is read then, as before. The results equal a full parse of each
version (the incremental reader's property test), so the scan's outcome does not
depend on this.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Final

from daemon.errors import RepositoryError
from daemon.git import BlobStream, FileEntry, Repo, Step
from daemon.git.history import LogStream
from daemon.spec.incremental import update
from daemon.spec.model import CoreFile
from daemon.spec.tasks import parse_cores


@dataclass(slots=True)
class Ahead:
    """Versions parsed ahead: by (path, blob), and the keys that change between two.

    Only each file's newest version keeps its bytes (the scan's last position, and the
    next scan, read it again); older ones keep None. A history's versions, all held at
    once, would each take fresh memory, which costs more here than parsing them.
    """

    versions: dict[tuple[str, str], tuple[bytes | None, CoreFile]] = field(default_factory=dict)
    # (path, older blob, newer blob) -> the keys whose core facts differ
    changes: dict[tuple[str, str, str], frozenset[str]] = field(default_factory=dict)
    full_parses: int = 0
    incremental: int = 0

    def merge(self, other: Ahead) -> None:
        """Take in another walk's versions and changes (bytes stay if either walk kept them)."""
        for key, version in other.versions.items():
            if self.versions.get(key, (None,))[0] is None:
                self.versions[key] = version
        self.changes.update(other.changes)


@dataclass(slots=True)
class _Version:
    blob: str
    data: bytes
    core: CoreFile


@dataclass(slots=True)
class _Reader:
    """Asks git for the versions of a walk within a byte budget, and parses them newest first."""

    repo: Repo
    blobs: BlobStream
    max_bytes: int
    budget: int
    ahead: Ahead = field(default_factory=Ahead)
    newer: dict[str, _Version | None] = field(default_factory=dict)
    requested: set[str] = field(default_factory=set)

    def ask_tip(self, tip: str) -> list[tuple[str, FileEntry]]:
        """Ask git for the task files at ``tip``, and return those it will send.

        When the whole history is walked, each is its file's newest version, so it can
        be parsed while git log walks to the first commit that reports it.
        """
        wanted = []
        for path, entry in sorted(self.repo.task_files(self.repo.tree_of(tip)).items()):
            if entry.regular and self.ask(entry):
                wanted.append((path, entry))
        return wanted

    def ask(self, entry: FileEntry) -> bool:
        """Whether the version will be read ahead (asking git for it if it is new)."""
        size = _size(self.repo, entry) if entry.regular else None
        if size is None or size > self.max_bytes:
            return False
        if entry.blob in self.requested:  # a revert brings back a version read once
            return True
        if size > self.budget:
            return False
        self.budget -= size
        self.requested.add(entry.blob)
        self.blobs.request([entry.blob])
        return True

    def parse(self, path: str, entry: FileEntry | None) -> None:
        """Parse one version, waiting for git to send it (None: not read ahead)."""
        if entry is _RESTART:
            self.newer[path] = None
            return
        data = self.blobs.take(entry.blob) if entry is not None else None
        newest = path not in self.newer
        if entry is None or data is None:
            self.newer[path] = None  # not read ahead: the next older version starts afresh
            return
        newer = self.newer.get(path)
        result = update(newer.core, newer.data, data, max_bytes=self.max_bytes) if newer else None
        if newer is not None and result is not None:
            core, changed = result
            self.ahead.changes[(path, entry.blob, newer.blob)] = changed
            self.ahead.incremental += 1
        else:
            core = parse_cores(data, path, max_bytes=self.max_bytes)
            self.ahead.full_parses += 1
        self.ahead.versions.setdefault((path, entry.blob), (data if newest else None, core))
        self.newer[path] = _Version(entry.blob, data, core)


_RESTART: Final = FileEntry("", regular=False)  # a walk's sign: the file's chain starts afresh


class _Walk(threading.Thread):
    """Reads ``git log`` and asks git for the versions it reports, while the parser works.

    Only this thread reads the log and asks for blobs (writing their ids to git itself,
    a stretch of the log's at a time); the caller's thread parses, so the reader's
    chains are touched by one thread.
    ``versions`` hands over the versions in order, then None; over a whole history
    (``tip`` given) the tip's versions come first, asked for before the log is read.
    A failure of the walk is raised by :meth:`steps`.
    """

    def __init__(self, log: LogStream, reader: _Reader, tip: str | None) -> None:
        super().__init__(name="speckitd-log", daemon=True)
        self._log, self._reader, self._tip = log, reader, tip
        self._steps: list[Step] = []
        self._failure: BaseException | None = None
        self.versions: queue.SimpleQueue[tuple[str, FileEntry | None] | None]
        self.versions = queue.SimpleQueue()

    def run(self) -> None:
        reader = self._reader
        try:
            early = {}
            for path, newest in reader.ask_tip(self._tip) if self._tip else []:
                early[path] = newest.blob
                self.versions.put((path, newest))
            # Ids go to git in one write per stretch of the log read, before reading on.
            for batch in self._log.batches(before_reading=reader.blobs.send):
                self._steps += batch
                for path, entry in (change for step in batch for change in step.changes):
                    tip = early.pop(path, None)
                    if tip is not None:
                        if entry is not None and entry.blob == tip:
                            continue  # the tip's version, parsed already
                        self.versions.put((path, _RESTART))  # the newest change is not the tip's
                    wanted = entry is not None and reader.ask(entry)
                    self.versions.put((path, entry if wanted else None))
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            self._failure = error
        finally:
            reader.blobs.finish()
            self.versions.put(None)

    def steps(self) -> list[Step]:
        """The walk's commits, newest first, once it has ended."""
        self.join()
        if self._failure is not None:
            raise self._failure
        return self._steps


def read_ahead(
    repo: Repo, tip: str, since: str | None, *, max_bytes: int, budget: int
) -> tuple[list[Step], Ahead]:
    """``tip``'s first-parent history oldest first (as :meth:`Repo.history`), parsed ahead.

    The newest versions are parsed ahead up to ``budget`` bytes; versions over
    ``max_bytes``, symlinks and what git lacks are left to the scan.
    """
    with repo.blob_stream(direct=True) as blobs, repo.log_stream(tip, since) as log:
        reader = _Reader(repo, blobs, max_bytes, budget)
        walk = _Walk(log, reader, tip if since is None else None)
        walk.start()
        try:
            while (version := walk.versions.get()) is not None:
                reader.parse(*version)
        finally:
            log.stop()  # if parsing failed, git stops and the walk meets the end of its output
            blobs.close()  # and a walk waiting to write to cat-file meets its end
            walk.join()
        steps = walk.steps()
    steps.reverse()
    return steps, reader.ahead


def _size(repo: Repo, entry: FileEntry) -> int | None:
    try:
        return repo.blob_size(entry.blob)
    except RepositoryError:
        return None
