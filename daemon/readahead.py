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
    """Asks git for the versions of a walk within a byte budget, and parses them newest first."""

    repo: Repo
    blobs: BlobStream
    max_bytes: int
    budget: int
    ahead: Ahead = field(default_factory=Ahead)
    newer: dict[str, _Version | None] = field(default_factory=dict)
    queue: deque[tuple[str, FileEntry | None]] = field(default_factory=deque)
    requested: set[str] = field(default_factory=set)
    tip: dict[str, str] = field(default_factory=dict)  # path -> the tip's blob, parsed early

    def ask_tip(self, tip: str) -> list[tuple[str, FileEntry]]:
        """Ask git for the task files at ``tip``, before ``git log`` starts.

        When the whole history is walked, each is its file's newest version, so it can
        be parsed while git log walks to the first commit that reports it.
        """
        wanted = []
        for path, entry in sorted(self.repo.task_files(self.repo.tree_of(tip)).items()):
            if entry.regular and self._ask(entry):
                wanted.append((path, entry))
        return wanted

    def parse_tip(self, wanted: list[tuple[str, FileEntry]]) -> None:
        """Parse the tip's versions asked for by :meth:`ask_tip`."""
        for path, entry in wanted:
            self._parse(path, entry)
            self.tip[path] = entry.blob

    def add(self, step: Step) -> None:
        """Queue a commit's versions (newest first), asking git for those within the budget."""
        for path, entry in step.changes:
            early = self.tip.pop(path, None)
            if early is not None:
                if entry is not None and entry.blob == early:
                    continue  # the tip's version, parsed already
                self.newer[path] = None  # the newest change is not what the tip holds
            self.queue.append((path, entry if entry is not None and self._ask(entry) else None))

    def _ask(self, entry: FileEntry) -> bool:
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
    ``max_bytes``, symlinks and what git lacks are left to the scan. Over the whole
    history, the tip's versions are asked for before ``git log`` starts, and parsed
    while it does.
    """
    steps: list[Step] = []
    with repo.blob_stream() as blobs:
        reader = _Reader(repo, blobs, max_bytes, budget)
        early = reader.ask_tip(tip) if since is None else []
        with repo.log_stream(tip, since) as log:
            reader.parse_tip(early)
            for step in log.steps():
                steps.append(step)
                reader.add(step)
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
