"""Scanning a repository: walk the watched branch, parse changed task files, detect approvals.

This joins the git edge (:mod:`daemon.git`), the parser (:mod:`daemon.spec`) and
the pure detector (:mod:`daemon.detect`). It has no side effects besides reading
the repository. The approval state at a commit is a function of its
first-parent history, so it is computed by replaying that history (task files
are parsed only when their blob changes, and each blob once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import structlog

from daemon.detect import (
    Approval,
    Detector,
    Policy,
    ScanResult,
    Snapshot,
    compare,
)
from daemon.git import FileEntry, Repo
from daemon.spec.model import Finding, Task, TaskFile
from daemon.spec.tasks import parse_tasks
from daemon.spec.text import MAX_FILE_BYTES

Progress = Callable[[int, int], None]
log = structlog.get_logger("speckitd.scan")


@dataclass(slots=True)
class Parser:
    """Parses task-file blobs once each (keyed by path and blob id)."""

    max_bytes: int = MAX_FILE_BYTES
    cache: dict[tuple[str, str], TaskFile] = field(default_factory=dict)

    def parse(self, repo: Repo, path: str, entry: FileEntry) -> TaskFile:
        """The parsed task file for ``entry`` at ``path``."""
        key = (path, entry.blob)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if not entry.regular:
            finding = Finding(
                path, 1, "input.not-regular", "not a regular file (symlink?); ignored"
            )
            parsed = TaskFile(path, (), (finding,))
        else:
            parsed = parse_tasks(repo.blob(entry.blob), path, max_bytes=self.max_bytes)
        self.cache[key] = parsed
        return parsed


@dataclass(frozen=True, slots=True)
class Waiting:
    """An approved task whose dependencies are not done yet."""

    approval: Approval
    pending: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScanReport:
    """The outcome of a scan from ``old`` (exclusive; None: from the start) to ``new``."""

    old: str | None
    new: str
    commits: int
    rewritten: bool
    result: ScanResult
    tasks: Mapping[tuple[str, str], Task]
    waiting: tuple[Waiting, ...]
    findings: tuple[Finding, ...]
    detector: Detector

    @property
    def runnable(self) -> tuple[Approval, ...]:
        """Newly approved tasks whose dependencies are done: what would run."""
        blocked = {w.approval.ident for w in self.waiting}
        return tuple(a for a in self.result.approved if a.ident not in blocked)


@dataclass(slots=True)
class Position:
    """Where a walk is: the last tree seen and the task files in it."""

    tree: str = ""
    entries: dict[str, FileEntry] = field(default_factory=dict)
    files: dict[str, TaskFile] = field(default_factory=dict)

    def copy(self) -> Position:
        """An independent position at the same place."""
        return Position(self.tree, dict(self.entries), dict(self.files))


@dataclass(slots=True)
class Scanner:
    """Walks one repository's history into snapshots for the detector."""

    repo: Repo
    policy: Policy
    parser: Parser = field(default_factory=Parser)
    signers: str = ""

    def snapshots(self, chain: list[str], at: Position) -> Iterator[Snapshot]:
        """Snapshots of the commits of ``chain`` that change a task file or carry a trailer.

        ``at`` is the position just before ``chain[0]``; the walk moves it along.
        """
        for sha in chain:
            tree = self.repo.tree_of(sha)
            changed: set[str] = set()
            if tree != at.tree:
                now = self.repo.task_files(tree)
                if now != at.entries:
                    for path in at.entries.keys() - now.keys():
                        at.files.pop(path, None)
                        changed.add(path)
                    for path, entry in now.items():
                        if at.entries.get(path) != entry:
                            at.files[path] = self.parser.parse(self.repo, path, entry)
                            changed.add(path)
                    at.entries = now
                at.tree = tree
            if not changed and not self.repo.has_approval_trailer(sha):
                continue
            commit = self.repo.commit(
                sha, check_signature=self.policy.require_signed, signers=self.signers
            )
            if not changed and not commit.approved_items:
                continue
            yield Snapshot(commit, dict(at.files), frozenset(changed))

    def state_at(self, sha: str) -> Detector:
        """The approvals at ``sha``: its first-parent history replayed."""
        detector = Detector(self.policy)
        for snapshot in self.snapshots(self.repo.first_parents(sha), Position()):
            detector.feed(snapshot)
        return detector

    def scan(
        self, new: str, old: str | None = None, progress: Progress | None = None
    ) -> ScanReport:
        """Newly approved and withdrawn tasks between ``old`` and ``new`` (DESIGN §3).

        The history shared by both tips is replayed once; after a force-push the
        old tip's own commits are replayed on a copy, to know what was approved there.
        """
        chain_new = self.repo.first_parents(new)
        chain_old: list[str] = []
        if old is not None:
            position = {sha: i for i, sha in enumerate(chain_new)}.get(old)
            chain_old = (
                chain_new[: position + 1] if position is not None else self.repo.first_parents(old)
            )
        shared = 0
        for a, b in zip(chain_old, chain_new, strict=False):
            if a != b:
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
        result = compare(before, detector, set(chain_new) if rewritten else None)
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
        tasks = {
            (path, task.key): task for path, parsed in at.files.items() for task in parsed.tasks
        }
        waiting = tuple(_waiting(result.approved, at.files))
        findings = tuple(f for parsed in at.files.values() for f in parsed.findings)
        commits = len(chain_new) - shared
        return ScanReport(old, new, commits, rewritten, result, tasks, waiting, findings, detector)

    def _feed(self, detector: Detector, chain: list[str], at: Position, counter: _Counter) -> None:
        for start in range(0, len(chain), _TICK):
            for snapshot in self.snapshots(chain[start : start + _TICK], at):
                detector.feed(snapshot)
            counter.add(len(chain[start : start + _TICK]))


_TICK = 512


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


def _waiting(approved: tuple[Approval, ...], files: Mapping[str, TaskFile]) -> Iterator[Waiting]:
    for approval in approved:
        parsed = files.get(approval.path)
        task = parsed.task(approval.key) if parsed else None
        if parsed is None or task is None:
            continue
        pending = []
        for dependency in task.depends_on:
            other = parsed.task(dependency)
            if other is None or not other.done:
                pending.append(other.id if other else dependency)
        if pending:
            yield Waiting(approval, tuple(pending))
