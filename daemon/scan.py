"""Scanning a repository: walk the watched branch, read changed task files, detect approvals.

This joins the git edge (:mod:`daemon.git`), the parser (:mod:`daemon.spec`) and
the pure detector (:mod:`daemon.detect`). It has no side effects besides reading
the repository. The approval state at a commit is a function of its
first-parent history, so it is computed by replaying that history. A task file
is read only when its blob changes, then incrementally where the edit allows
(:mod:`daemon.spec.incremental`), and the detector hears only of the tasks that
changed.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from daemon import collector
from daemon.detect import (
    Approval,
    Commit,
    Detector,
    Policy,
    ScanResult,
    Signal,
    Snapshot,
    compare,
)
from daemon.errors import RepositoryError
from daemon.git import FileEntry, Repo, Step
from daemon.readahead import Ahead, read_ahead
from daemon.settings import Settings
from daemon.spec.incremental import update
from daemon.spec.model import CoreFile, Finding, Task
from daemon.spec.tasks import parse_cores, parse_tasks_at
from daemon.spec.text import MAX_FILE_BYTES, too_large

Progress = Callable[[int, int], None]
log = structlog.get_logger("speckitd.scan")
_TICK = 512
PREFETCH_BYTES = 64 * 1024 * 1024
_NOT_REGULAR = "not a regular file (symlink?); ignored"


class Prefetched(Protocol):
    """Task-file versions read ahead, by blob id (None: not read ahead)."""

    def get(self, blob_id: str, /) -> bytes | None:
        """The blob's content, or None."""


@dataclass(slots=True)
class Tracked:
    """A task file as the walk last saw it: its blob, bytes and core facts.

    ``data`` is None for a version read ahead whose bytes were let go
    (:class:`~daemon.readahead.Ahead`); :func:`content` reads them again when needed.
    """

    entry: FileEntry
    data: bytes | None
    core: CoreFile


def content(repo: Repo, tracked: Tracked) -> bytes | None:
    """The version's bytes: kept, or read again (None if git no longer has them)."""
    if tracked.data is not None:
        return tracked.data
    try:
        return repo.blob(tracked.entry.blob)
    except RepositoryError:
        return None


def changed_keys(before: CoreFile, after: CoreFile) -> frozenset[str] | None:
    """Keys whose core facts differ, or None when the tasks or the front matter changed."""
    if before.index.keys() != after.index.keys() or before.approval != after.approval:
        return None
    return frozenset(key for key in after.index if before.task(key) != after.task(key))


@dataclass(slots=True)
class Parser:
    """Reads task-file versions: from a cache of recent blobs, incrementally, or in full."""

    max_bytes: int = MAX_FILE_BYTES
    capacity: int = 256
    cache: OrderedDict[tuple[str, str], CoreFile] = field(default_factory=OrderedDict)
    ahead: Ahead = field(default_factory=Ahead)  # versions parsed while git walked
    full_parses: int = 0
    incremental: int = 0

    def read(
        self,
        repo: Repo,
        path: str,
        entry: FileEntry,
        previous: Tracked | None,
        prefetched: Prefetched,
    ) -> tuple[Tracked, frozenset[str] | None]:
        """The file at ``entry``, and the keys that changed since ``previous`` (None: all)."""
        if not entry.regular:
            finding = Finding(path, 1, "input.not-regular", _NOT_REGULAR)
            return Tracked(entry, b"", CoreFile(path, (), findings=(finding,))), None
        parsed = self._parsed_ahead(path, entry, previous)
        return parsed or self._read_blob(repo, path, entry, previous, prefetched)

    def _read_blob(
        self,
        repo: Repo,
        path: str,
        entry: FileEntry,
        previous: Tracked | None,
        prefetched: Prefetched,
    ) -> tuple[Tracked, frozenset[str] | None]:
        """A regular file's version: from the cache, incrementally, or parsed in full."""
        data = prefetched.get(entry.blob)
        try:
            size = len(data) if data is not None else repo.blob_size(entry.blob)
            if size > self.max_bytes:
                core = CoreFile(path, (), findings=(too_large(path, size, self.max_bytes),))
                return Tracked(entry, b"", core), None
            if data is None:
                data = repo.blob(entry.blob)
        except RepositoryError as error:
            missing = Finding(path, 1, "input.missing", str(error))
            return Tracked(entry, b"", CoreFile(path, (), findings=(missing,))), None
        key = (path, entry.blob)
        cached = self.cache.get(key)
        if cached is not None:
            self.cache.move_to_end(key)
            keys = changed_keys(previous.core, cached) if previous else None
            return Tracked(entry, data, cached), keys
        before = content(repo, previous) if previous and previous.entry.regular else None
        if previous is not None and before is not None:
            result = update(previous.core, before, data, max_bytes=self.max_bytes)
            if result is not None:
                self.incremental += 1
                self._remember(key, result[0])
                return Tracked(entry, data, result[0]), result[1]
        self.full_parses += 1
        core = parse_cores(data, path, max_bytes=self.max_bytes)
        self._remember(key, core)
        return Tracked(entry, data, core), changed_keys(previous.core, core) if previous else None

    def _parsed_ahead(
        self, path: str, entry: FileEntry, previous: Tracked | None
    ) -> tuple[Tracked, frozenset[str] | None] | None:
        """The version as :mod:`daemon.readahead` parsed it, if it did."""
        parsed = self.ahead.versions.get((path, entry.blob))
        if parsed is None:
            return None
        data, core = parsed
        if previous is None:
            return Tracked(entry, data, core), None
        keys = self.ahead.changes.get((path, previous.entry.blob, entry.blob))
        return Tracked(entry, data, core), (
            keys if keys is not None else changed_keys(previous.core, core)
        )

    def _remember(self, key: tuple[str, str], core: CoreFile) -> None:
        self.cache[key] = core
        if len(self.cache) > self.capacity:
            self.cache.popitem(last=False)


@dataclass(slots=True)
class Position:
    """Where a walk is: the task files at the last commit it passed."""

    tracked: dict[str, Tracked] = field(default_factory=dict)

    def copy(self) -> Position:
        """An independent position at the same place."""
        return Position(dict(self.tracked))

    def files(self) -> dict[str, CoreFile]:
        """The task files here, by path."""
        return {path: tracked.core for path, tracked in self.tracked.items()}


@dataclass(frozen=True, slots=True)
class Waiting:
    """An approved task whose dependencies are not done yet."""

    approval: Approval
    pending: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScanReport:
    """The outcome of a scan from ``old`` (exclusive; None: from the start) to ``new``.

    ``tasks`` holds the full tasks that were newly approved; ``files`` every task
    file at ``new``.
    """

    old: str | None
    new: str
    commits: int
    rewritten: bool
    result: ScanResult
    tasks: Mapping[tuple[str, str], Task]
    waiting: tuple[Waiting, ...]
    findings: tuple[Finding, ...]
    detector: Detector
    files: Mapping[str, CoreFile]

    @property
    def runnable(self) -> tuple[Approval, ...]:
        """Newly approved tasks whose dependencies are done: what would run."""
        blocked = {w.approval.ident for w in self.waiting}
        return tuple(a for a in self.result.approved if a.ident not in blocked)


@dataclass(slots=True)
class Scanner:
    """Walks one repository's history into snapshots for the detector."""

    repo: Repo
    policy: Policy
    parser: Parser = field(default_factory=Parser)
    signers: str = ""
    prefetch_bytes: int = PREFETCH_BYTES  # task-file versions read (and parsed) ahead, at most
    # The state where the last scan ended: (tip, detector, position).
    checkpoint: tuple[str, Detector, Position] | None = None

    def snapshots(
        self, steps: list[Step], at: Position, prefetched: Prefetched
    ) -> Iterator[Snapshot]:
        """Snapshots of the commits in ``steps`` that change a task file or carry a trailer.

        ``at`` is the position just before ``steps[0]``; the walk moves it along.
        ``prefetched`` holds task-file versions already read, by blob id.
        """
        for step in steps:
            if not step.changes and not step.trailer:
                continue  # most commits: no task file, no trailer
            changed: dict[str, frozenset[str] | None] = {}
            for path, entry in step.changes:
                previous = at.tracked.get(path)
                if entry is None:
                    if previous is not None:
                        del at.tracked[path]
                        changed[path] = None
                elif previous is None or previous.entry != entry:
                    at.tracked[path], keys = self.parser.read(
                        self.repo, path, entry, previous, prefetched
                    )
                    if keys is None or keys:
                        changed[path] = keys
            if not changed and not step.trailer:
                continue
            read = self._reader(step.sha)
            # A message that holds no trailer is left unread: the commit is read only if
            # an approval needs its author (most commits approve nothing).
            commit = read() if step.trailer else None
            items = commit.approved_items if commit else ()
            unread = commit.unread if commit else ()
            if changed or items or unread:
                yield Snapshot(step.sha, at.files(), changed, items, read, unread)

    def _reader(self, sha: str) -> Callable[[], Commit]:
        """A function that reads the commit ``sha`` once, when first called.

        A closure, not ``functools.cache``: that copies the function's attributes each
        time it wraps one, and a scan makes one per snapshot.
        """
        found: list[Commit] = []

        def read() -> Commit:
            if not found:
                signed = self.policy.require_signed
                found.append(self.repo.commit(sha, check_signature=signed, signers=self.signers))
            return found[0]

        return read

    def _prefetch(self, steps: list[Step], at: Position) -> tuple[list[str], int]:
        """The task-file versions the first steps bring, to be read in one go, and how many steps.

        Reading stops at the step that would pass ``prefetch_bytes`` (at least one
        step is taken). Versions over the size limit are left to the parser's check.
        """
        known = {tracked.entry.blob for tracked in at.tracked.values()}
        wanted: list[str] = []
        budget = self.prefetch_bytes
        for taken, step in enumerate(steps):
            if not step.changes:
                continue
            before = len(wanted)  # this step's blobs are read with it, in one chunk or the next
            for path, entry in step.changes:
                if entry is None or not entry.regular or entry.blob in known:
                    continue
                if (path, entry.blob) in self.parser.ahead.versions:
                    continue
                known.add(entry.blob)
                try:
                    size = self.repo.blob_size(entry.blob)
                except RepositoryError:
                    continue
                if size > self.parser.max_bytes:
                    continue
                if size > budget and taken:
                    return wanted[:before], taken
                wanted.append(entry.blob)
                budget -= size
        return wanted, len(steps)

    def state_at(self, sha: str) -> Detector:
        """The approvals at ``sha``: its first-parent history replayed."""
        detector = Detector(self.policy)
        with self._walking():
            history = self._history(sha)
            self._feed(detector, history, Position(), _Counter(len(history), None))
        return detector

    def scan(
        self, new: str, old: str | None = None, progress: Progress | None = None
    ) -> ScanReport:
        """Newly approved and withdrawn tasks between ``old`` and ``new`` (DESIGN §3).

        The history shared by both tips is replayed once; after a force-push the
        old tip's own commits are replayed on a copy, to know what was approved there.
        When ``old`` is where this scanner's last scan ended, only the commits since
        are walked (the daemon's case: one push at a time).
        """
        with self._walking():
            return self._scan(new, old, progress)

    @contextlib.contextmanager
    def _walking(self) -> Iterator[None]:
        """A walk of history: the cycle collector paused, the versions read ahead let go after."""
        with collector.paused():  # a walk makes many objects and no cycles
            try:
                yield
            finally:
                self.parser.ahead = Ahead()  # the versions read ahead are for this walk only

    def _history(self, tip: str, since: str | None = None) -> list[Step]:
        """``tip``'s first-parent history, its task-file versions parsed while git walks it."""
        steps, ahead = read_ahead(
            self.repo, tip, since, max_bytes=self.parser.max_bytes, budget=self.prefetch_bytes
        )
        self.parser.ahead.merge(ahead)  # after a force-push, both tips' walks
        self.parser.full_parses += ahead.full_parses
        self.parser.incremental += ahead.incremental
        return steps

    def _scan(self, new: str, old: str | None, progress: Progress | None) -> ScanReport:
        resumed = self._resume(new, old)
        if resumed is not None:
            detector, at, steps = resumed
            counter = _Counter(len(steps), progress)
            start = dict(detector.approvals)
            self._feed(detector, steps, at, counter)
            counter.finish()
            return self._report(old, new, len(steps), start, detector=detector, at=at)
        chain_new = self._history(new)
        chain_old: list[Step] = []
        if old is not None:
            position = next((i for i, step in enumerate(chain_new) if step.sha == old), None)
            chain_old = chain_new[: position + 1] if position is not None else self._history(old)
        shared = 0
        for a, b in zip(chain_old, chain_new, strict=False):
            if a.sha != b.sha:
                break
            shared += 1
        counter = _Counter(len(chain_new) + len(chain_old) - shared, progress)
        detector = Detector(self.policy)
        at = Position()
        self._feed(detector, chain_new[:shared], at, counter)
        rewritten = old is not None and shared < len(chain_old)
        before: dict[tuple[str, str], Approval] = dict(detector.approvals)
        if rewritten:
            old_detector = detector.copy()
            self._feed(old_detector, chain_old[shared:], at.copy(), counter)
            before = dict(old_detector.approvals)
        detector = detector.copy()
        self._feed(detector, chain_new[shared:], at, counter)
        counter.finish()
        reachable = {step.sha for step in chain_new} if rewritten else None
        commits = len(chain_new) - shared
        return self._report(
            old, new, commits, before, detector=detector, at=at, reachable=reachable
        )

    def _resume(self, new: str, old: str | None) -> tuple[Detector, Position, list[Step]] | None:
        """The saved state at ``old`` and the commits from there to ``new``, if it applies."""
        saved = self.checkpoint
        if old is None or saved is None or saved[0] != old:
            return None
        steps = self._history(new, since=old)
        if steps and self.repo.first_parent(steps[0].sha) != old:
            return None  # old is merged in, not on the first-parent line: replay in full
        if not steps and new != old:
            return None
        return saved[1].copy(), saved[2].copy(), steps

    def _report(
        self,
        old: str | None,
        new: str,
        commits: int,
        before: dict[tuple[str, str], Approval],
        *,
        detector: Detector,
        at: Position,
        reachable: set[str] | None = None,
    ) -> ScanReport:
        result = compare(before, detector, reachable)
        _log_ignored(result)
        tasks, detail_findings = self._details(result.approved, at)
        files = at.files()
        waiting = tuple(_waiting(result.approved, tasks, files))
        findings = [f for core in files.values() for f in core.findings] + detail_findings
        self.checkpoint = (new, detector.copy(), at.copy())
        rewritten = reachable is not None
        return ScanReport(
            old, new, commits, rewritten, result, tasks, waiting, tuple(findings), detector, files
        )

    def _feed(self, detector: Detector, steps: list[Step], at: Position, counter: _Counter) -> None:
        done = 0
        while done < len(steps):
            wanted, taken = self._prefetch(steps[done:], at)
            with self.repo.blob_stream(wanted) as prefetched:  # read while parsing
                for start in range(done, done + taken, _TICK):
                    chunk = steps[start : min(start + _TICK, done + taken)]
                    for snapshot in self.snapshots(chunk, at, prefetched):
                        detector.feed(snapshot)
                    counter.add(len(chunk))
            done += taken

    def _details(
        self, approved: tuple[Approval, ...], at: Position
    ) -> tuple[dict[tuple[str, str], Task], list[Finding]]:
        """Full tasks for the newly approved ones (the detail pass, on those tasks only)."""
        wanted: dict[str, set[str]] = {}
        for approval in approved:
            wanted.setdefault(approval.path, set()).add(approval.key)
        tasks: dict[tuple[str, str], Task] = {}
        findings: list[Finding] = []
        for path, keys in wanted.items():
            tracked = at.tracked[path]
            data = content(self.repo, tracked)
            if data is None:  # git lost the version since the scan began: no details
                continue
            parsed = parse_tasks_at(tracked.core, data, only=keys, max_bytes=self.parser.max_bytes)
            tasks.update({(path, task.key): task for task in parsed.tasks})
            findings += [f for f in parsed.findings if f not in tracked.core.findings]
        return tasks, findings


def _log_ignored(result: ScanResult) -> None:
    for ignored in result.ignored:
        log.warning(
            "approval.ignored",
            commit=ignored.commit,
            author=str(ignored.author),
            signal=str(ignored.signal),
            item=ignored.item,
            file=ignored.path,
            reason=ignored.reason,
        )


@dataclass(slots=True)
class _Counter:
    total: int
    progress: Progress | None
    done: int = 0

    def add(self, count: int) -> None:
        self.done += count
        if self.progress is not None and self.done < self.total:
            self.progress(self.done, self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total)


def _waiting(
    approved: tuple[Approval, ...],
    tasks: Mapping[tuple[str, str], Task],
    files: Mapping[str, CoreFile],
) -> Iterator[Waiting]:
    for approval in approved:
        task = tasks.get((approval.path, approval.key))
        core_file = files.get(approval.path)
        if task is None or core_file is None:
            continue
        pending = []
        for dependency in task.depends_on:
            other = core_file.task(dependency)
            if other is None or not other.done:
                pending.append(other.id if other else dependency)
        if pending:
            yield Waiting(approval, tuple(pending))


def policy_of(settings: Settings) -> Policy:
    """The approval policy from ``[approval]``."""
    approval = settings.approval
    signals = frozenset(Signal(s) for s in approval.signals if s in set(Signal))
    return Policy(frozenset(approval.approvers), approval.require_signed, signals)


def scanner_for(repo: Repo, settings: Settings) -> Scanner:
    """A scanner of ``repo`` under the settings' approval policy and parser limits."""
    parser = Parser(max_bytes=settings.spec.max_file_bytes)
    return Scanner(repo, policy_of(settings), parser, settings.approval.allowed_signers)
