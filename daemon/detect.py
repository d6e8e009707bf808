"""Which tasks did a human newly approve? The pure core of detection (DESIGN §3).

Input: the watched branch's commits in first-parent order, each with its author,
trailers and the parsed task files at that commit. The :class:`Detector` folds
them into the set of current approvals, one per ``(task file, key)``, and
records every event on the way. A scan compares the approvals at the previous
scanned commit with those at the new tip:

- *newly approved*: approved at the tip with a digest that was not approved at
  the previous scanned commit; attributed to the commit that made it so;
- *withdrawn*: approved at the previous commit, not (with that digest) at the tip,
  with the reason (edited, held, done, marker removed, task removed, history
  rewritten);
- *ignored*: approvals that do not count (unauthorized approver, unsigned
  commit, trailer naming no task or an ambiguous one, done or held task).

An approval binds to content: a per-task marker or front matter approves the
task's digest at the commit that first made "marked with this digest" true; a
trailer approves the digest the task has at the trailer's commit. Editing the
task (a new digest) withdraws it; the edit's author re-approves it only by
keeping or adding a marker in that same commit, or by a new trailer.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from daemon.spec.fields import UNCLEAR_APPROVAL
from daemon.spec.ids import task_key
from daemon.spec.layout import feature_of
from daemon.spec.model import CoreFile, TaskCore
from daemon.trailers import Unread


class Signal(enum.StrEnum):
    """How an approval was written (DESIGN §3)."""

    MARKER = "marker"
    FRONTMATTER = "frontmatter"
    TRAILER = "trailer"


class SignatureStatus(enum.StrEnum):
    """Whether a commit's signature verifies (only checked when signatures are required)."""

    UNCHECKED = "unchecked"
    GOOD = "good"
    BAD = "bad"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Person:
    """A commit author as git records it (free text unless the commit is signed)."""

    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True, slots=True)
class Commit:
    """What detection needs to know about one commit."""

    sha: str
    author: Person
    approved_items: tuple[str, ...] = ()
    signature: SignatureStatus = SignatureStatus.UNCHECKED
    signer: str = ""  # the identity the signature verifies for (an email, or "Name <email>")
    unread: tuple[Unread, ...] = ()  # near misses of an Approved-Tasks trailer, as written


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A commit and its task files, and what changed since the previous snapshot.

    ``files`` holds every task file at the commit. ``changed`` maps each file that
    differs from the parent to the keys of the tasks that changed in it, or to
    None when the whole file must be re-read (new, re-parsed, or deleted: absent
    from ``files``). Unchanged files and tasks cost the detector nothing.
    ``approved_items`` are the items of its ``Approved-Tasks`` trailers. ``commit``
    gives the whole commit (its author, its signature), read only when an approval
    or a refusal needs it: most commits approve nothing. ``unread`` are near misses of
    the trailer (``Approved-Task: T001``, or ``Approved-Tasks:`` outside the trailer
    block), as written and why they approve nothing: reported, not obeyed.
    """

    sha: str
    files: Mapping[str, CoreFile]
    changed: Mapping[str, frozenset[str] | None]
    approved_items: tuple[str, ...]
    commit: Callable[[], Commit]
    unread: tuple[Unread, ...] = ()


@dataclass(frozen=True, slots=True)
class Policy:
    """Who may approve, and how (``[approval]`` settings)."""

    approvers: frozenset[str] = frozenset()
    require_signed: bool = False
    signals: frozenset[Signal] = frozenset(Signal)

    @property
    def open(self) -> bool:
        """Whether anyone may approve: no approvers named, no signatures required."""
        return not (self.approvers or self.require_signed)

    def refusal(self, commit: Commit) -> str | None:
        """Why ``commit``'s author may not approve, or None when they may."""
        if self.approvers and commit.author.email.lower() not in self.approvers:
            return f"{commit.author} is not in approval.approvers"
        if self.require_signed:
            if commit.signature is not SignatureStatus.GOOD:
                return f"commit signature is {commit.signature} (approval.require_signed)"
            signer = commit.signer.rpartition("<")[2].rstrip(">").strip().lower()
            if signer != commit.author.email.lower():
                return f"signed by {commit.signer or 'nobody'}, not by the author {commit.author}"
        return None


@dataclass(frozen=True, slots=True)
class Approval:
    """A task approved with a given digest, by whom, where and how."""

    path: str
    key: str
    task_id: str
    title: str
    digest: str
    commit: str
    approver: Person
    signal: Signal
    signature: SignatureStatus = SignatureStatus.UNCHECKED

    @property
    def ident(self) -> tuple[str, str, str]:
        """The job identity: task file, task key and digest."""
        return self.path, self.key, self.digest


class Reason(enum.StrEnum):
    """Why an approval stopped counting."""

    EDITED = "edited"
    HELD = "held"
    DONE = "done"
    UNMARKED = "marker removed"
    REMOVED = "task removed"
    UNAUTHORIZED = "re-approved by an unauthorized author"
    REWRITTEN = "history rewritten"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """An approval that no longer holds, and at which commit it ended."""

    approval: Approval
    commit: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class Ignored:
    """An approval signal that did not count, for the audit log."""

    commit: str
    author: Person
    signal: Signal
    item: str
    reason: str
    path: str | None = None


class _Fact(NamedTuple):
    """What the document said about a task at the last commit that touched it.

    A tuple: a history's first commit makes one per task, and tuples are made faster.
    """

    digest: str
    signals: frozenset[Signal]  # the document's own approvals: marker, front matter
    runnable: bool  # neither done nor held
    unclear: str  # a status that reads as approval and does not count (TaskCore.unclear)


_NONE: frozenset[Signal] = frozenset()
# A _Fact from its fields, made in C (the generated ``__new__`` is a Python call per task).
_fact: Final = functools.partial(tuple.__new__, _Fact)


_PREFERENCE = (Signal.MARKER, Signal.FRONTMATTER, Signal.TRAILER)


@dataclass(slots=True)
class Detector:
    """Fold commits into approvals. Feed it snapshots in first-parent order.

    A task is approved at the commit that *introduces* an approval signal for its
    current text while it is runnable: a marker or front matter it did not have, a
    trailer naming it, new text that keeps a marker (the editor approves the edit),
    or lifting a hold (or un-ticking a done task) that leaves a signal in place.
    That commit's author is the approver, and must be authorized.
    """

    policy: Policy = field(default_factory=Policy)
    approvals: dict[tuple[str, str], Approval] = field(default_factory=dict)
    facts: dict[str, dict[str, _Fact]] = field(default_factory=dict)
    withdrawals: list[Withdrawal] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)

    def copy(self) -> Detector:
        """An independent detector in the same state, without its event history."""
        facts = {path: dict(keys) for path, keys in self.facts.items()}
        return Detector(self.policy, dict(self.approvals), facts, [], [])

    def feed(self, snapshot: Snapshot) -> None:
        """Apply one commit."""
        sha = snapshot.sha
        if Signal.TRAILER in self.policy.signals:
            for unread in snapshot.unread:
                self._ignore(snapshot, Signal.TRAILER, unread.written, unread.why, None)
        targets = self._trailer_targets(snapshot)
        work = _work(snapshot, targets)
        gone = [path for path in work if path not in snapshot.files]
        moved = self._vanished(gone)
        for path in sorted(work):
            parsed = snapshot.files.get(path)
            if parsed is None:
                continue
            known = self.facts.setdefault(path, {})
            wanted = work[path]
            if wanted is None:  # every task, in document order
                tasks = parsed.cores
                for stale in [key for key in known if key not in parsed.index]:
                    self._withdraw((path, stale), sha, Reason.REMOVED)
                    del known[stale]
            else:
                ordered = sorted(wanted, key=lambda k: parsed.index.get(k, -1))
                tasks = tuple(task for key in ordered if (task := parsed.task(key)) is not None)
            document = parsed.approval
            # No signal in the document: a task nothing approves, nor did, only gets its fact
            # (what _apply does for most tasks, inline: a first commit has hundreds).
            quiet = not (document.approved_all or document.approved_keys)
            approvals = self.approvals
            for task in tasks:
                key = task.key
                if moved and key not in known and (key, task.digest) in moved:
                    self._move(moved.pop((key, task.digest)), path)
                trailer = (path, key) in targets
                if (
                    quiet
                    and not task.approved
                    and not trailer
                    and not task.unclear
                    and (parsed.path, key) not in approvals
                ):
                    runnable = not (task.done or parsed.held(task))
                    known[key] = _fact((task.digest, _NONE, runnable, ""))
                    continue
                self._apply(parsed, task, snapshot, trailer)
        for path in gone:
            for key in self.facts.pop(path, {}):
                self._withdraw((path, key), sha, Reason.REMOVED)

    def _vanished(self, gone: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
        """Tasks of deleted files by (key, digest).

        A file renamed in the same commit takes them over, approvals included
        (DESIGN §3: an approval binds to content, not to a path).
        """
        return {
            (key, fact.digest): (path, key)
            for path in gone
            for key, fact in self.facts.get(path, {}).items()
        }

    def _move(self, source: tuple[str, str], path: str) -> None:
        old_path, key = source
        self.facts.setdefault(path, {})[key] = self.facts[old_path].pop(key)
        approval = self.approvals.pop(source, None)
        if approval is not None:
            self.approvals[(path, key)] = dataclasses.replace(approval, path=path)

    def _signals(self, parsed: CoreFile, task: TaskCore) -> frozenset[Signal]:
        approval = parsed.approval
        if not (task.approved or approval.approved_all or approval.approved_keys):
            return _NONE  # most tasks, at most commits
        found = set()
        if task.approved:
            found.add(Signal.MARKER)
        if approval.approved_all or task.key in approval.approved_keys:
            found.add(Signal.FRONTMATTER)
        return frozenset(found) & self.policy.signals

    def _apply(
        self,
        parsed: CoreFile,
        task: TaskCore,
        snapshot: Snapshot,
        trailer: bool,
    ) -> None:
        sha, ident = snapshot.sha, (parsed.path, task.key)
        known = self.facts.setdefault(parsed.path, {})
        before = known.get(task.key)
        signals = self._signals(parsed, task)
        runnable = not (task.done or parsed.held(task))
        if task.unclear:
            self._unclear(snapshot, parsed.path, task, before, runnable)
        known[task.key] = _fact((task.digest, signals, runnable, task.unclear))
        current = self.approvals.get(ident)
        if current is None and not signals and not trailer:
            return  # nothing approves it, nor did: only its fact changes (most tasks)
        if not runnable:
            if current is not None:
                self._withdraw(ident, sha, Reason.DONE if task.done else Reason.HELD)
            if trailer:
                state = "done" if task.done else "held"
                self._ignore(snapshot, Signal.TRAILER, task.id, f"task is {state}", parsed.path)
            return
        if current is not None and current.digest == task.digest:
            if current.signal is Signal.TRAILER or signals:
                return  # still approved, still supported
            self._withdraw(ident, sha, Reason.UNMARKED)
            current = None
        unchanged = before is not None and before.digest == task.digest and before.runnable
        introduced = set(signals - before.signals) if unchanged and before else set(signals)
        if trailer:
            introduced.add(Signal.TRAILER)
        refusal = self._refusal(snapshot) if introduced else None
        if current is not None:
            reason = Reason.UNAUTHORIZED if refusal is not None else Reason.EDITED
            self._withdraw(ident, sha, reason)
        if not introduced:
            return
        signal = next(s for s in _PREFERENCE if s in introduced)
        if refusal is not None:
            self._ignore(snapshot, signal, task.id, refusal, parsed.path)
            return
        commit = snapshot.commit()
        self.approvals[ident] = Approval(
            parsed.path,
            task.key,
            task.id,
            task.title,
            task.digest,
            commit.sha,
            commit.author,
            signal,
            commit.signature,
        )

    def _unclear(
        self, snapshot: Snapshot, path: str, task: TaskCore, before: _Fact | None, runnable: bool
    ) -> None:
        """Report a status that reads as approval and does not count, where it is written.

        Once: not again while the status stays as it is and the task runnable, and not
        for a task that is done or held (it would not run either way).
        """
        written = before is not None and before.unclear == task.unclear and before.runnable
        if runnable and not written and Signal.MARKER in self.policy.signals:
            self._ignore(
                snapshot, Signal.MARKER, task.id, UNCLEAR_APPROVAL.format(task.unclear), path
            )

    def _withdraw(self, ident: tuple[str, str], sha: str, reason: Reason) -> None:
        approval = self.approvals.pop(ident, None)
        if approval is not None:
            self.withdrawals.append(Withdrawal(approval, sha, reason))

    def _refusal(self, snapshot: Snapshot) -> str | None:
        """Why the commit's author may not approve (read only when the policy asks who it is)."""
        return None if self.policy.open else self.policy.refusal(snapshot.commit())

    def _ignore(
        self, snapshot: Snapshot, signal: Signal, item: str, reason: str, path: str | None
    ) -> None:
        author = snapshot.commit().author
        self.ignored.append(Ignored(snapshot.sha, author, signal, item, reason, path))

    def _trailer_targets(self, snapshot: Snapshot) -> set[tuple[str, str]]:
        """Resolve ``Approved-Tasks`` items to ``(path, key)``; report those that name nothing.

        Items are ``T-001``, ``001-auth/T-001`` (feature folder) or
        ``specs/001-auth/tasks.md:T-001`` (file).
        """
        if not snapshot.approved_items or Signal.TRAILER not in self.policy.signals:
            return set()
        targets: set[tuple[str, str]] = set()
        for item in snapshot.approved_items:
            separator = ":" if ":" in item else "/"
            scope, _, literal = item.rpartition(separator)
            key = task_key(literal)
            matches = [
                path
                for path, parsed in snapshot.files.items()
                if key in parsed.index and in_scope(path, scope)
            ]
            if not matches:
                self._ignore(snapshot, Signal.TRAILER, item, "no task file defines it", None)
            elif len(matches) > 1:
                where = ", ".join(sorted(matches))
                reason = f"ambiguous: defined in {where}; write <feature>/{literal}"
                self._ignore(snapshot, Signal.TRAILER, item, reason, None)
            else:
                targets.add((matches[0], key))
        return targets


def _work(snapshot: Snapshot, targets: set[tuple[str, str]]) -> dict[str, set[str] | None]:
    """Per file, the keys to re-read (None: every task): changed ones and trailer targets."""
    work: dict[str, set[str] | None] = {
        path: None if keys is None else set(keys) for path, keys in snapshot.changed.items()
    }
    for path, key in targets:
        if path not in work:
            work[path] = {key}
        elif (pending := work[path]) is not None:
            pending.add(key)
    return work


def in_scope(path: str, scope: str) -> bool:  # shared with the commit-msg hook
    """Whether a trailer's scope (``001-auth``, ``specs/001-auth``, a file path) covers ``path``."""
    if not scope:
        return True
    scope = scope.strip("/")
    return (
        path == scope
        or path.startswith(scope + "/")
        or feature_of(path) == scope
        or ("/" + scope + "/" in "/" + path)
    )


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan from one commit to another found."""

    approved: tuple[Approval, ...]
    withdrawn: tuple[Withdrawal, ...]
    ignored: tuple[Ignored, ...]


def compare(
    before: Mapping[tuple[str, str], Approval],
    after: Detector,
    reachable: set[str] | None = None,
) -> ScanResult:
    """Newly approved and withdrawn approvals between two states (see module doc).

    ``after`` must have been fed the commits since ``before``'s commit (or since
    the merge base, after a force-push); ``reachable``, when given, is the set of
    commits in the new tip's first-parent history, used to tell "history
    rewritten" from other reasons.
    """
    old = {approval.ident for approval in before.values()}
    new = {approval.ident: approval for approval in after.approvals.values()}
    # An approval that moved with its file (same key, digest and approving commit) is the same.
    old_moved = {(a.key, a.digest, a.commit) for a in before.values()}
    new_moved = {(a.key, a.digest, a.commit) for a in new.values()}
    approved = tuple(
        a
        for ident, a in new.items()
        if ident not in old and (a.key, a.digest, a.commit) not in old_moved
    )
    reasons = {w.approval.ident: w for w in after.withdrawals}
    withdrawn: list[Withdrawal] = []
    for approval in before.values():
        if approval.ident in new or (approval.key, approval.digest, approval.commit) in new_moved:
            continue
        seen = reasons.get(approval.ident)
        if reachable is not None and approval.commit not in reachable:
            withdrawn.append(Withdrawal(approval, seen.commit if seen else "", Reason.REWRITTEN))
        elif seen is not None:
            withdrawn.append(seen)
        else:
            withdrawn.append(Withdrawal(approval, "", Reason.REMOVED))
    return ScanResult(approved, tuple(withdrawn), tuple(after.ignored))


def replay(policy: Policy, snapshots: Iterable[Snapshot]) -> Detector:
    """A detector fed every snapshot: the approval state at the last one."""
    detector = Detector(policy)
    for snapshot in snapshots:
        detector.feed(snapshot)
    return detector
