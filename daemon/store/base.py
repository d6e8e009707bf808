"""The store seam: what the daemon keeps between runs, as frozen values. Pure.

The store is a cache of git and the forge (DESIGN §4): deleting it and starting again
must converge on the same pull requests, so nothing here is the only record of
anything that matters. What it adds is the queue: which job runs next, one run per
task key at a time, what a crash interrupted, and which webhook deliveries were seen.

Every implementation answers with the values below and raises :class:`StoreError`
when its backend fails (and :class:`~daemon.store.lifecycle.IllegalTransitionError`
for a transition the lifecycle table does not allow).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from daemon.errors import SpeckitdError
from daemon.store.lifecycle import JobState

DELIVERY_WINDOW: Final = 24 * 3600.0
"""Seconds a webhook delivery id is remembered."""

# What transition() and update() may change, with the types each accepts.
FIELDS: Final[dict[str, tuple[type, ...]]] = {
    "branch": (str,),
    "pr_number": (int, type(None)),
    "pr_url": (str,),
    "issue_number": (int, type(None)),
    "issue_url": (str,),
    "transcript": (str,),
    "cost_usd": (float, int),
    "detail": (str,),
}


class StoreError(SpeckitdError):
    """The state store failed: it cannot be opened, read or written."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message if path is None else f"{path}: {message}")
        self.path = path


@dataclass(frozen=True, slots=True)
class Job:
    """One run of one approved task text: ``(repo, key, digest)`` is unique."""

    id: int
    repo: str
    key: str
    task_id: str
    digest: str
    title: str
    state: JobState
    approving_commit: str
    approver: str
    depends_on: tuple[str, ...]
    attempts: int
    created: float
    updated: float
    branch: str
    pr_number: int | None
    pr_url: str
    issue_number: int | None
    issue_url: str
    transcript: str
    cost_usd: float
    detail: str


@dataclass(frozen=True, slots=True)
class RepoState:
    """The last scanned tip of a repository's watched branch (None: not yet known)."""

    name: str
    tip: str | None
    scanned_at: float


def check_fields(fields: dict[str, object]) -> None:
    """Raise TypeError for a field that transition() may not set or a value of a wrong type."""
    for name, value in fields.items():
        kinds = FIELDS.get(name)
        if kinds is None:
            raise TypeError(f"a job has no field {name!r} to update")
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise TypeError(f"job field {name!r} cannot be {value!r}")


class Store(Protocol):
    """Jobs, repository tips and webhook deliveries; each call is one transaction."""

    def repo(self, name: str) -> RepoState | None:
        """The recorded state of repository ``name``, or None on first sight."""
        ...

    def set_tip(self, name: str, tip: str | None, now: float) -> None:
        """Record ``tip`` as the last scanned commit of repository ``name``."""
        ...

    def enqueue(
        self,
        repo: str,
        key: str,
        digest: str,
        *,
        task_id: str,
        title: str,
        approving_commit: str,
        approver: str,
        depends_on: tuple[str, ...],
        now: float,
        state: JobState = JobState.QUEUED,
    ) -> Job | None:
        """Add the job ``(repo, key, digest)``; None when it exists already.

        Older jobs of the same ``(repo, key)`` that are QUEUED, WAITING or PUBLISHED
        become SUPERSEDED in the same transaction. A job in flight (RUNNING or
        PUBLISHING) is left to finish, so one task never has two runs at once; the
        newer job waits for it, and :meth:`claim` supersedes it then. ``state`` is the
        new job's first state; it may not be RUNNING or PUBLISHING (only claim does that).
        """
        ...

    def claim(self, now: float) -> Job | None:
        """Move the oldest runnable QUEUED job to RUNNING (attempts + 1) and return it.

        Runnable: no job of the same ``(repo, key)`` is RUNNING or PUBLISHING, and no
        newer job of it exists (such a stale job is superseded instead). Two stores on
        one database never hand out the same job.
        """
        ...

    def transition(self, job_id: int, to: JobState, *, now: float, **fields: object) -> Job:
        """Move a job to ``to`` if the lifecycle table allows it, setting ``fields``.

        ``fields`` are among: branch, pr_number, pr_url, issue_number, issue_url,
        transcript, cost_usd, detail (TypeError for anything else).
        """
        ...

    def update(self, job_id: int, *, now: float, **fields: object) -> Job:
        """Set ``fields`` (as for :meth:`transition`) without changing the job's state."""
        ...

    def get(self, job_id: int) -> Job | None:
        """The job ``job_id``, or None."""
        ...

    def jobs(
        self, *, repo: str | None = None, states: Collection[JobState] | None = None
    ) -> list[Job]:
        """Jobs of ``repo`` (None: all) in ``states`` (None: any), by id."""
        ...

    def find(self, repo: str, key: str, digest: str) -> Job | None:
        """The job ``(repo, key, digest)``, or None."""
        ...

    def interrupted(self) -> list[Job]:
        """Jobs left RUNNING or PUBLISHING (by a crash, when called at start), by id."""
        ...

    def seen_delivery(self, delivery_id: str, now: float) -> bool:
        """Record a webhook delivery id; True if it was seen in the last 24 hours."""
        ...

    def counts(self) -> dict[JobState, int]:
        """The number of jobs in each state (every state, zeros included)."""
        ...

    def close(self) -> None:
        """Release the backend; the store cannot be used afterwards."""
        ...
