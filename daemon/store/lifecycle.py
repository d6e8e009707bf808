"""The job lifecycle as a table of allowed transitions. Pure.

A job is one run of one approved task text: ``(repo, task key, digest)``. Its state
moves only along these edges; anything else raises :class:`IllegalTransitionError`::

    from         allowed next states
    ----------   ------------------------------------------
    QUEUED       RUNNING, WAITING, SUPERSEDED
    WAITING      QUEUED, SUPERSEDED
    RUNNING      PUBLISHING, QUEUED, FAILED, SUPERSEDED
    PUBLISHING   PUBLISHED, QUEUED, FAILED
    PUBLISHED    DONE, CLOSED, SUPERSEDED, QUEUED
    FAILED       QUEUED
    DONE         (terminal)
    CLOSED       (terminal)
    SUPERSEDED   (terminal)

RUNNING or PUBLISHING go back to QUEUED when a crash or a stop interrupted them,
PUBLISHED does when a clarification was answered, FAILED on a retry. A publish in
progress is never superseded: it finishes, and the newer job supersedes it afterwards.
"""

from __future__ import annotations

import enum
from typing import Final

from daemon.errors import SpeckitdError


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"  # ready to run
    WAITING = "waiting"  # its dependencies are not done yet
    RUNNING = "running"  # the agent works on it
    PUBLISHING = "publishing"  # the daemon commits, pushes, opens the PR or issue
    PUBLISHED = "published"  # a pull request or clarification issue exists
    DONE = "done"  # the pull request was merged (the task is done)
    CLOSED = "closed"  # closed unmerged: not recreated for this digest
    SUPERSEDED = "superseded"  # a newer digest of the same task replaced it
    FAILED = "failed"  # given up; the reason is in the job's detail


_S = JobState

TABLE: Final[dict[JobState, frozenset[JobState]]] = {
    _S.QUEUED: frozenset({_S.RUNNING, _S.WAITING, _S.SUPERSEDED}),
    _S.WAITING: frozenset({_S.QUEUED, _S.SUPERSEDED}),
    _S.RUNNING: frozenset({_S.PUBLISHING, _S.QUEUED, _S.FAILED, _S.SUPERSEDED}),
    _S.PUBLISHING: frozenset({_S.PUBLISHED, _S.QUEUED, _S.FAILED}),
    _S.PUBLISHED: frozenset({_S.DONE, _S.CLOSED, _S.SUPERSEDED, _S.QUEUED}),
    _S.FAILED: frozenset({_S.QUEUED}),
    _S.DONE: frozenset(),
    _S.CLOSED: frozenset(),
    _S.SUPERSEDED: frozenset(),
}

TERMINAL: Final = frozenset(state for state, exits in TABLE.items() if not exits)
IN_FLIGHT: Final = frozenset({_S.RUNNING, _S.PUBLISHING})
"""A worker holds the job: at most one per task key, and what a crash leaves behind."""
ACTIVE: Final = frozenset({_S.QUEUED, _S.WAITING, _S.RUNNING, _S.PUBLISHING, _S.PUBLISHED})
"""The task's current job: a newer digest supersedes it."""


class IllegalTransitionError(SpeckitdError):
    """A job was asked to move along an edge the lifecycle table does not have."""

    def __init__(self, frm: JobState, to: JobState) -> None:
        super().__init__(f"a job cannot go from {frm} to {to}")
        self.frm = frm
        self.to = to


def allowed(frm: JobState, to: JobState) -> bool:
    """Whether a job may go from ``frm`` to ``to``."""
    return to in TABLE[frm]


def check(frm: JobState, to: JobState) -> None:
    """Raise :class:`IllegalTransitionError` unless a job may go from ``frm`` to ``to``."""
    if not allowed(frm, to):
        raise IllegalTransitionError(frm, to)
