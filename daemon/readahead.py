"""Reading a history's task-file versions while git walks it, newest first.

A scan replays history oldest first, but ``git log`` walks it newest first. Waiting
for the whole walk before reading any file leaves the parser idle while git works,
and git idle while the parser works. :func:`read_ahead` instead takes each commit
as git reports it, asks ``git cat-file`` for its task-file versions at once, and
parses every version it has while git walks on: the newest version of each file
in full, each older one from the next newer one (:func:`daemon.spec.incremental.update`
runs either way). The scan then replays the history oldest first with every
version already parsed (:class:`Ahead`); what the byte budget left out is read
then, as before. The results equal a full parse of each version (the incremental
reader's property test), so the scan's outcome does not depend on this.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from daemon.errors import RepositoryError
from daemon.git import BlobStream, FileEntry, Repo, Step
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


@dataclass(slots=True)
class _Version:
    blob: str
    data: bytes
    core: CoreFile


@dataclass(slots=True)
class _Reader:
    """Parses the versions git sends, each file's newest first."""

    blobs: BlobStream
    max_bytes: int
    ahead: Ahead = field(default_factory=Ahead)
    newer: dict[str, _Version | None] = field(default_factory=dict)
    queue: deque[tuple[str, FileEntry | None]] = field(default_factory=deque)

    def drain(self, *, wait: bool) -> None:
        """Parse the queued versions that have arrived (all of them when ``wait``)."""
        while self.queue:
            path, entry = self.queue[0]
            if entry is not None and not wait and not self.blobs.ready(entry.blob):
                return
            self.queue.popleft()
            self._parse(path, entry)

    def _parse(self, path: str, entry: FileEntry | None) -> None:
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


def read_ahead(
    repo: Repo, tip: str, since: str | None, *, max_bytes: int, budget: int
) -> tuple[list[Step], Ahead]:
    """``tip``'s first-parent history oldest first (as :meth:`Repo.history`), parsed ahead.

    The newest versions are parsed ahead up to ``budget`` bytes; versions over
    ``max_bytes``, symlinks and what git lacks are left to the scan.
    """
    steps: list[Step] = []
    requested: set[str] = set()
    with repo.log_stream(tip, since) as log, repo.blob_stream() as blobs:
        reader = _Reader(blobs, max_bytes)
        for step in log.steps():
            steps.append(step)
            for path, entry in step.changes:
                size = _size(repo, entry) if entry is not None and entry.regular else None
                if entry is None or size is None or size > max_bytes:
                    reader.queue.append((path, None))
                    continue
                if entry.blob not in requested:  # a revert brings back a version read once
                    if size > budget:
                        reader.queue.append((path, None))
                        continue
                    budget -= size
                    requested.add(entry.blob)
                    blobs.request([entry.blob])
                reader.queue.append((path, entry))
            if step.changes:  # parse what has come meanwhile (polling every commit costs more)
                reader.drain(wait=False)
        blobs.finish()
        reader.drain(wait=True)
    steps.reverse()
    return steps, reader.ahead


def _size(repo: Repo, entry: FileEntry) -> int | None:
    try:
        return repo.blob_size(entry.blob)
    except RepositoryError:
        return None
