"""The daemon's state: a cache of git and the forge, and the job queue (DESIGN §4, §8).

The seam and its values are pure (:mod:`daemon.store.base`, the lifecycle table in
:mod:`daemon.store.lifecycle`); the SQLite implementation is
:class:`daemon.store.sqlite.SqliteStore`, imported from there so that importing the
seam never loads a database library.
"""

from __future__ import annotations

from daemon.store.base import Job, RepoState, Store, StoreError
from daemon.store.lifecycle import TABLE, IllegalTransitionError, JobState, check

__all__ = [
    "TABLE",
    "IllegalTransitionError",
    "Job",
    "JobState",
    "RepoState",
    "Store",
    "StoreError",
    "check",
]
