"""The state store on SQLite: one file in the state directory (DESIGN §8).

WAL journal with ``synchronous=NORMAL`` (a power cut may lose the last transactions,
never corrupt the file: the store is a cache that git and the forge rebuild), a busy
timeout so several processes can share the file, and one transaction per call. Writes
begin with ``BEGIN IMMEDIATE``, so the read-then-write of :meth:`SqliteStore.claim`
holds the write lock from the start and two processes can't claim the same job. One
connection per store, shared by threads under a lock. The file is private (0600).

Schema changes are migrations: ``MIGRATIONS[n - 1]`` takes the schema to version
``n``; the versions applied are rows of ``schema_version``, and the missing ones are
applied in one transaction when the store opens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final

from daemon.store.base import DELIVERY_WINDOW, Job, RepoState, Store, StoreError, check_fields
from daemon.store.lifecycle import IN_FLIGHT, TABLE, JobState, check

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE repos (
            name TEXT PRIMARY KEY,
            tip TEXT,
            scanned_at REAL NOT NULL
        )""",
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repo TEXT NOT NULL,
            key TEXT NOT NULL,
            digest TEXT NOT NULL,
            task_id TEXT NOT NULL,
            title TEXT NOT NULL,
            state TEXT NOT NULL,
            approving_commit TEXT NOT NULL,
            approver TEXT NOT NULL,
            depends_on TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            branch TEXT NOT NULL DEFAULT '',
            pr_number INTEGER,
            pr_url TEXT NOT NULL DEFAULT '',
            issue_number INTEGER,
            issue_url TEXT NOT NULL DEFAULT '',
            transcript TEXT NOT NULL DEFAULT '',
            cost_usd REAL NOT NULL DEFAULT 0,
            detail TEXT NOT NULL DEFAULT '',
            UNIQUE (repo, key, digest)
        )""",
        "CREATE INDEX jobs_by_state ON jobs (state, id)",
        "CREATE INDEX jobs_by_task ON jobs (repo, key, state)",
        "CREATE TABLE deliveries (id TEXT PRIMARY KEY, seen REAL NOT NULL)",
        "CREATE INDEX deliveries_by_time ON deliveries (seen)",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

_COLUMNS: Final = (
    "branch",
    "pr_number",
    "pr_url",
    "issue_number",
    "issue_url",
    "transcript",
    "cost_usd",
    "detail",
)
_JOB_FIELDS: Final = tuple(field.name for field in dataclasses.fields(Job))
# The oldest QUEUED job whose task has no job in flight.
_CLAIMABLE: Final = """
    SELECT * FROM jobs AS j WHERE j.state = ? AND NOT EXISTS (
        SELECT 1 FROM jobs AS r
        WHERE r.repo = j.repo AND r.key = j.key AND r.state IN (?, ?)
    ) ORDER BY j.id LIMIT 1
"""


class SqliteStore:
    """The :class:`~daemon.store.base.Store` in the SQLite file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            _create_private(path)
            self._db = sqlite3.connect(
                path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the state database: {error}", path=path) from error
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except StoreError:
            self._db.close()
            raise
        except sqlite3.Error as error:
            self._db.close()
            raise StoreError(f"cannot open the state database: {error}", path=path) from error

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (a checkpoint folds the WAL back into the file)."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; sqlite3's errors become StoreError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                self._rollback()
                raise StoreError(f"state database: {error}", path=self.path) from error
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    def _migrate(self) -> None:
        with self._tx(write=True) as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
            current = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            version: int = current.fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"schema version {version} is newer than this speckitd knows"
                    f" ({SCHEMA_VERSION})",
                    path=self.path,
                )
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    # -- repositories ---------------------------------------------------------------

    def repo(self, name: str) -> RepoState | None:
        """The recorded state of repository ``name``, or None on first sight."""
        with self._tx(write=False) as db:
            row = db.execute("SELECT * FROM repos WHERE name = ?", (name,)).fetchone()
        return None if row is None else RepoState(row["name"], row["tip"], row["scanned_at"])

    def set_tip(self, name: str, tip: str | None, now: float) -> None:
        """Record ``tip`` as the last scanned commit of repository ``name``."""
        with self._tx(write=True) as db:
            db.execute(
                "INSERT INTO repos (name, tip, scanned_at) VALUES (?, ?, ?) ON CONFLICT (name)"
                " DO UPDATE SET tip = excluded.tip, scanned_at = excluded.scanned_at",
                (name, tip, now),
            )

    # -- jobs -----------------------------------------------------------------------

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
        """Add the job ``(repo, key, digest)``; None when it exists already."""
        if state in IN_FLIGHT:
            raise ValueError(f"a job cannot start {state}: only claim() sets that")
        with self._tx(write=True) as db:
            cursor = db.execute(
                "INSERT INTO jobs (repo, key, digest, task_id, title, state, approving_commit,"
                " approver, depends_on, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (repo, key, digest) DO NOTHING",
                (
                    repo,
                    key,
                    digest,
                    task_id,
                    title,
                    state.value,
                    approving_commit,
                    approver,
                    json.dumps(list(depends_on)),
                    now,
                    now,
                ),
            )
            if cursor.rowcount == 0:
                return None
            job_id = cursor.lastrowid
            assert job_id is not None  # noqa: S101 - an INSERT that added a row has one
            _supersede(db, repo, key, job_id, now)
            return _get(db, job_id)

    def claim(self, now: float) -> Job | None:
        """Move the oldest runnable QUEUED job to RUNNING (attempts + 1) and return it."""
        with self._tx(write=True) as db:
            while True:
                row = db.execute(_CLAIMABLE, (JobState.QUEUED, *sorted(IN_FLIGHT))).fetchone()
                if row is None:
                    return None
                newest: int = db.execute(
                    "SELECT MAX(id) FROM jobs WHERE repo = ? AND key = ?",
                    (row["repo"], row["key"]),
                ).fetchone()[0]
                _supersede(db, row["repo"], row["key"], newest, now)
                if newest == row["id"]:
                    break
            check(JobState.QUEUED, JobState.RUNNING)
            db.execute(
                "UPDATE jobs SET state = ?, attempts = attempts + 1, updated = ? WHERE id = ?",
                (JobState.RUNNING, now, row["id"]),
            )
            return _get(db, row["id"])

    def transition(self, job_id: int, to: JobState, *, now: float, **fields: object) -> Job:
        """Move a job to ``to`` if the lifecycle table allows it, setting ``fields``."""
        return self._change(job_id, to, now, fields)

    def update(self, job_id: int, *, now: float, **fields: object) -> Job:
        """Set ``fields`` without changing the job's state."""
        return self._change(job_id, None, now, fields)

    def _change(
        self, job_id: int, to: JobState | None, now: float, fields: dict[str, object]
    ) -> Job:
        check_fields(fields)
        with self._tx(write=True) as db:
            job = _get(db, job_id)
            if job is None:
                raise StoreError(f"there is no job {job_id}", path=self.path)
            if to is not None:
                check(job.state, to)
            values = {name: getattr(job, name) for name in _COLUMNS} | fields
            db.execute(
                "UPDATE jobs SET state = ?, updated = ?, branch = ?, pr_number = ?, pr_url = ?,"
                " issue_number = ?, issue_url = ?, transcript = ?, cost_usd = ?, detail = ?"
                " WHERE id = ?",
                (job.state if to is None else to, now, *(values[c] for c in _COLUMNS), job_id),
            )
            changed = _get(db, job_id)
        assert changed is not None  # noqa: S101 - updated in this transaction
        return changed

    def get(self, job_id: int) -> Job | None:
        """The job ``job_id``, or None."""
        with self._tx(write=False) as db:
            return _get(db, job_id)

    def jobs(
        self, *, repo: str | None = None, states: Collection[JobState] | None = None
    ) -> list[Job]:
        """Jobs of ``repo`` (None: all) in ``states`` (None: any), by id."""
        wanted = sorted(JobState) if states is None else sorted(states)
        marks = ", ".join("?" * len(wanted))
        query = f"SELECT * FROM jobs WHERE (? IS NULL OR repo = ?) AND state IN ({marks})"  # noqa: S608 - only placeholders are formatted in
        with self._tx(write=False) as db:
            rows = db.execute(f"{query} ORDER BY id", (repo, repo, *wanted)).fetchall()
        return [_job(row) for row in rows]

    def find(self, repo: str, key: str, digest: str) -> Job | None:
        """The job ``(repo, key, digest)``, or None."""
        with self._tx(write=False) as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE repo = ? AND key = ? AND digest = ?", (repo, key, digest)
            ).fetchone()
        return None if row is None else _job(row)

    def interrupted(self) -> list[Job]:
        """Jobs left RUNNING or PUBLISHING, by id."""
        return self.jobs(states=IN_FLIGHT)

    def counts(self) -> dict[JobState, int]:
        """The number of jobs in each state (every state, zeros included)."""
        with self._tx(write=False) as db:
            rows = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        found = {_state(state): count for state, count in rows}
        return {state: found.get(state, 0) for state in JobState}

    # -- webhooks -------------------------------------------------------------------

    def seen_delivery(self, delivery_id: str, now: float) -> bool:
        """Record a webhook delivery id; True if it was seen in the last 24 hours."""
        with self._tx(write=True) as db:
            db.execute("DELETE FROM deliveries WHERE seen <= ?", (now - DELIVERY_WINDOW,))
            cursor = db.execute(
                "INSERT INTO deliveries (id, seen) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (delivery_id, now),
            )
            return cursor.rowcount == 0


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (or make it so)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


def _supersede(db: sqlite3.Connection, repo: str, key: str, newest: int, now: float) -> None:
    """Supersede the jobs of a task older than job ``newest`` that are not in flight."""
    rows = db.execute(
        "SELECT id, state FROM jobs WHERE repo = ? AND key = ? AND id < ?", (repo, key, newest)
    ).fetchall()
    for job_id, value in rows:
        state = _state(value)
        if state not in IN_FLIGHT and JobState.SUPERSEDED in TABLE[state]:
            db.execute(
                "UPDATE jobs SET state = ?, updated = ?, detail = ? WHERE id = ?",
                (JobState.SUPERSEDED, now, f"superseded by job {newest}", job_id),
            )


def _get(db: sqlite3.Connection, job_id: int) -> Job | None:
    row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else _job(row)


def _state(value: str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        raise StoreError(f"unknown job state {value!r} in the state database") from None


def _job(row: sqlite3.Row) -> Job:
    values = {name: row[name] for name in _JOB_FIELDS}
    values.update(state=_state(row["state"]), depends_on=tuple(json.loads(row["depends_on"])))
    return Job(**values)


if TYPE_CHECKING:  # mypy holds the class to the seam

    def _conforms(store: SqliteStore) -> Store:
        return store
