"""The SQLite state store: idempotent queue, one run per task, durable, private, WAL."""

from __future__ import annotations

import sqlite3
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from daemon.errors import SpeckitdError
from daemon.store.base import DELIVERY_WINDOW, Job, RepoState, StoreError
from daemon.store.lifecycle import IllegalTransitionError, JobState
from daemon.store.sqlite import SqliteStore

S = JobState
REPO = "acme/todo"
# A legal route from QUEUED to each state ("claim" is how a job starts running).
ROUTE = {
    S.QUEUED: (),
    S.WAITING: (S.WAITING,),
    S.RUNNING: ("claim",),
    S.PUBLISHING: ("claim", S.PUBLISHING),
    S.PUBLISHED: ("claim", S.PUBLISHING, S.PUBLISHED),
    S.DONE: ("claim", S.PUBLISHING, S.PUBLISHED, S.DONE),
    S.CLOSED: ("claim", S.PUBLISHING, S.PUBLISHED, S.CLOSED),
    S.SUPERSEDED: (S.SUPERSEDED,),
    S.FAILED: ("claim", S.FAILED),
}


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state" / "speckitd.db"


@pytest.fixture
def store(path):
    with SqliteStore(path) as opened:
        yield opened


def add(store, key="T1", digest="d1", *, repo=REPO, now=10.0, state=S.QUEUED, depends_on=()):
    return store.enqueue(
        repo,
        key,
        digest,
        task_id=f"{key[0]}-{key[1:]}",
        title=f"Task {key}",
        approving_commit="c0ffee",
        approver="alice@example.com",
        depends_on=depends_on,
        now=now,
        state=state,
    )


def bring(store, job, state):
    """Walk ``job`` (the only queued one) to ``state`` along legal edges."""
    for step in ROUTE[state]:
        if step == "claim":
            assert store.claim(11.0).id == job.id
        else:
            store.transition(job.id, step, now=11.0)
    return store.get(job.id)


def expected_job(**changes):
    values = {
        "id": 1,
        "repo": REPO,
        "key": "T1",
        "task_id": "T-1",
        "digest": "d1",
        "title": "Task T1",
        "state": S.QUEUED,
        "approving_commit": "c0ffee",
        "approver": "alice@example.com",
        "depends_on": (),
        "attempts": 0,
        "created": 10.0,
        "updated": 10.0,
        "branch": "",
        "pr_number": None,
        "pr_url": "",
        "issue_number": None,
        "issue_url": "",
        "transcript": "",
        "cost_usd": 0.0,
        "detail": "",
    }
    return Job(**(values | changes))


def test_enqueue_returns_the_new_job(store):
    """A new job starts with its approval's values and empty results."""
    job = add(store, depends_on=("T0", "T-9"), state=S.WAITING)
    assert job == expected_job(state=S.WAITING, depends_on=("T0", "T-9"))
    assert store.get(1) == job
    assert store.find(REPO, "T1", "d1") == job


@pytest.mark.parametrize(
    ("repo", "key", "digest", "added", "first"),
    [
        (REPO, "T1", "d1", False, S.QUEUED),
        ("acme/other", "T1", "d1", True, S.QUEUED),
        (REPO, "T2", "d1", True, S.QUEUED),
        (REPO, "T1", "d2", True, S.SUPERSEDED),
    ],
    ids=["same", "other-repo", "other-key", "other-digest"],
)
def test_enqueue_is_idempotent_on_repo_key_and_digest(store, repo, key, digest, added, first):
    """The same (repo, key, digest) is queued once; None says it was there already."""
    add(store)
    again = add(store, key, digest, repo=repo, now=20.0)
    if added:
        assert again == expected_job(
            id=2,
            repo=repo,
            key=key,
            task_id=f"T-{key[1:]}",
            title=f"Task {key}",
            digest=digest,
            created=20.0,
            updated=20.0,
        )
    else:
        assert again is None
    assert [job.state for job in store.jobs()] == [first, S.QUEUED][: 1 + added]


@pytest.mark.parametrize(
    ("old", "after"),
    [
        (S.QUEUED, S.SUPERSEDED),
        (S.WAITING, S.SUPERSEDED),
        (S.RUNNING, S.RUNNING),
        (S.PUBLISHING, S.PUBLISHING),
        (S.PUBLISHED, S.SUPERSEDED),
        (S.DONE, S.DONE),
        (S.CLOSED, S.CLOSED),
        (S.SUPERSEDED, S.SUPERSEDED),
        (S.FAILED, S.FAILED),
    ],
)
def test_a_newer_digest_supersedes_the_older_job_unless_in_flight(store, old, after):
    """QUEUED, WAITING and PUBLISHED give way at once; a run in flight finishes first."""
    older = bring(store, add(store), old)
    newer = add(store, digest="d2", now=30.0)
    assert newer.state is S.QUEUED
    now = store.get(older.id)
    assert now.state is after
    if after is not old:
        assert (now.detail, now.updated) == ("superseded by job 2", 30.0)
    else:
        assert now == older


@pytest.mark.parametrize("state", [S.RUNNING, S.PUBLISHING])
def test_a_job_cannot_be_enqueued_in_flight(store, state):
    """Only claim() makes a job RUNNING; nothing enqueues one PUBLISHING."""
    with pytest.raises(ValueError, match=f"a job cannot start {state}"):
        add(store, state=state)
    assert store.jobs() == []


def test_claim_takes_the_oldest_queued_job(store):
    """Claims go by id, skip jobs that are not QUEUED, and count the attempt."""
    for key in ("T1", "T2"):
        add(store, key)
    add(store, "T3", state=S.WAITING)
    add(store, "T4")
    claimed = [store.claim(20.0) for _ in range(4)]
    assert [job.id if job else None for job in claimed] == [1, 2, 4, None]
    assert claimed[0] == expected_job(state=S.RUNNING, attempts=1, updated=20.0)
    assert store.get(3).state is S.WAITING


def test_a_retried_job_counts_its_attempts(store):
    """Each claim of the same job adds one attempt."""
    job = add(store)
    for attempt in (1, 2, 3):
        assert store.claim(20.0).attempts == attempt
        store.transition(job.id, S.QUEUED, now=21.0)


def test_one_run_per_task_key(store):
    """A task's newer job waits for its run in flight; other tasks and repos don't."""
    add(store, "T1", "d1")
    assert store.claim(20.0).id == 1
    add(store, "T1", "d2")  # job 2: waits for job 1
    add(store, "T1", "d1", repo="acme/other")  # job 3: another repository
    add(store, "T2", "d1")  # job 4
    assert [store.claim(21.0).id, store.claim(21.0).id, store.claim(21.0)] == [3, 4, None]
    store.transition(1, S.PUBLISHING, now=22.0)
    assert store.claim(22.0) is None
    store.transition(1, S.PUBLISHED, now=23.0, pr_number=7)
    assert store.claim(24.0).id == 2
    assert store.get(1).state is S.SUPERSEDED
    assert store.get(1).detail == "superseded by job 2"


def test_an_interrupted_stale_job_is_superseded_not_run_again(store):
    """A job re-queued after a newer digest arrived gives way to the newer one."""
    add(store)
    store.claim(20.0)
    add(store, digest="d2")
    store.transition(1, S.QUEUED, now=21.0, detail="resumed after an interruption")
    assert store.claim(22.0).id == 2
    assert store.get(1).state is S.SUPERSEDED
    assert store.claim(23.0) is None


@pytest.mark.parametrize("stores", [1, 2], ids=["one-store-four-threads", "two-stores"])
def test_concurrent_claims_never_hand_out_a_job_twice(path, stores):
    """Four threads claiming at once, through one or two connections, share the jobs out."""
    opened = [SqliteStore(path) for _ in range(stores)]
    barrier = threading.Barrier(4)

    def drain(store):
        barrier.wait(timeout=10)
        got = []
        while (job := store.claim(20.0)) is not None:
            got.append(job.id)
        return got

    try:
        for number in range(40):
            add(opened[0], f"T{number}")
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(drain, opened[i % stores]) for i in range(4)]
            claimed = [job_id for future in futures for job_id in future.result(timeout=30)]
    finally:
        for store in opened:
            store.close()
    assert sorted(claimed) == list(range(1, 41))


def test_transition_moves_and_records(store):
    """An allowed transition sets the state, the time and the fields it is given."""
    add(store)
    store.claim(20.0)
    store.transition(1, S.PUBLISHING, now=21.0, branch="speckitd/t1-task", cost_usd=1)
    job = store.transition(1, S.PUBLISHED, now=22.0, pr_number=7, pr_url="https://x/pull/7")
    assert job == expected_job(
        state=S.PUBLISHED,
        attempts=1,
        updated=22.0,
        branch="speckitd/t1-task",
        cost_usd=1.0,
        pr_number=7,
        pr_url="https://x/pull/7",
    )
    assert store.get(1) == job


def test_an_illegal_transition_raises_and_changes_nothing(store):
    """QUEUED cannot jump to PUBLISHED; the job stays as it was."""
    job = add(store)
    with pytest.raises(IllegalTransitionError, match="from queued to published"):
        store.transition(1, S.PUBLISHED, now=20.0, pr_number=7)
    assert store.get(1) == job


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"state": "done"}, "a job has no field 'state' to update"),
        ({"attempts": 3}, "a job has no field 'attempts' to update"),
        ({"pr_number": "7"}, "job field 'pr_number' cannot be '7'"),
        ({"pr_number": True}, "job field 'pr_number' cannot be True"),
        ({"cost_usd": None}, "job field 'cost_usd' cannot be None"),
        ({"detail": 1}, "job field 'detail' cannot be 1"),
    ],
)
def test_only_result_fields_can_be_set(store, fields, message):
    """transition() and update() refuse other fields and values of the wrong type."""
    job = add(store)
    with pytest.raises(TypeError, match=message):
        store.transition(1, S.WAITING, now=20.0, **fields)
    with pytest.raises(TypeError, match=message):
        store.update(1, now=20.0, **fields)
    assert store.get(1) == job


def test_update_sets_fields_and_keeps_the_state(store):
    """update() records progress (a transcript, the cost so far) without a transition."""
    add(store)
    store.claim(20.0)
    job = store.update(1, now=21.0, transcript="runs/1.jsonl", cost_usd=0.25)
    assert (job.state, job.transcript, job.cost_usd, job.updated) == (
        S.RUNNING,
        "runs/1.jsonl",
        0.25,
        21.0,
    )


def test_a_missing_job_is_a_store_error(store, path):
    """transition() on an unknown id names the job and the file; get() says None."""
    with pytest.raises(StoreError) as caught:
        store.transition(99, S.RUNNING, now=1.0)
    assert str(caught.value) == f"{path}: there is no job 99"
    assert store.get(99) is None
    assert store.find(REPO, "T1", "d1") is None


def test_everything_survives_reopening_the_file(path):
    """Jobs with every field, repository tips and deliveries are on disk, not in memory."""
    with SqliteStore(path) as store:
        add(store, depends_on=("T0",))
        store.claim(20.0)
        store.transition(1, S.PUBLISHING, now=21.0, branch="speckitd/t1-task")
        job = store.transition(
            1,
            S.PUBLISHED,
            now=22.0,
            pr_number=7,
            pr_url="https://x/pull/7",
            issue_number=8,
            issue_url="https://x/issues/8",
            transcript="runs/1.jsonl",
            cost_usd=1.5,
            detail="opened #7",
        )
        store.set_tip(REPO, "abc123", 23.0)
        store.seen_delivery("guid-1", 24.0)
    with SqliteStore(path) as store:
        assert store.get(1) == job
        assert store.jobs() == [job]
        assert store.repo(REPO) == RepoState(REPO, "abc123", 23.0)
        assert store.seen_delivery("guid-1", 25.0) is True


def test_repository_tips(store):
    """Unknown on first sight; then the last tip recorded, replaced by the next."""
    assert store.repo(REPO) is None
    store.set_tip(REPO, None, 1.0)
    assert store.repo(REPO) == RepoState(REPO, None, 1.0)
    store.set_tip(REPO, "abc", 2.0)
    store.set_tip(REPO, "def", 3.0)
    store.set_tip("acme/other", "123", 4.0)
    assert store.repo(REPO) == RepoState(REPO, "def", 3.0)


@pytest.mark.parametrize(
    ("repo", "states", "ids"),
    [
        (None, None, [1, 2, 3, 4]),
        (REPO, None, [1, 2, 4]),
        ("acme/other", None, [3]),
        ("acme/none", None, []),
        (None, {S.QUEUED}, [2, 3]),
        (None, [S.WAITING, S.RUNNING], [1, 4]),
        (REPO, {S.QUEUED, S.WAITING}, [2, 4]),
        (None, set(), []),
    ],
)
def test_jobs_filter_by_repo_and_state(store, repo, states, ids):
    """jobs() lists by id, narrowed to a repository and to states."""
    add(store, "T1")
    store.claim(20.0)
    add(store, "T2")
    add(store, "T1", repo="acme/other")
    add(store, "T3", state=S.WAITING)
    assert [job.id for job in store.jobs(repo=repo, states=states)] == ids


def test_interrupted_lists_the_jobs_in_flight(store):
    """What a crash leaves RUNNING or PUBLISHING, by id."""
    for key in ("T1", "T2", "T3"):
        add(store, key)
    store.claim(20.0)
    store.claim(20.0)
    store.transition(2, S.PUBLISHING, now=21.0)
    assert [(job.id, job.state) for job in store.interrupted()] == [
        (1, S.RUNNING),
        (2, S.PUBLISHING),
    ]


@pytest.mark.parametrize(
    ("later", "seen"),
    [
        (100.0, True),
        (100.0 + DELIVERY_WINDOW - 1, True),
        (100.0 + DELIVERY_WINDOW, False),
        (100.0 + 2 * DELIVERY_WINDOW, False),
    ],
    ids=["same-moment", "within-a-day", "a-day-later", "two-days-later"],
)
def test_seen_delivery_remembers_ids_for_a_day(store, later, seen):
    """A redelivered webhook is recognised for 24 hours, by the clock passed in."""
    assert store.seen_delivery("guid-1", 100.0) is False
    assert store.seen_delivery("guid-1", later) is seen
    assert store.seen_delivery("guid-2", later) is False
    assert store.seen_delivery("guid-1", later) is True


def test_counts_every_state(store):
    """counts() has every state, with zeros."""
    add(store, "T1")
    add(store, "T2")
    add(store, "T3", state=S.WAITING)
    store.claim(20.0)
    add(store, "T2", "d2")
    assert store.counts() == {
        S.QUEUED: 1,
        S.WAITING: 1,
        S.RUNNING: 1,
        S.PUBLISHING: 0,
        S.PUBLISHED: 0,
        S.DONE: 0,
        S.CLOSED: 0,
        S.SUPERSEDED: 1,
        S.FAILED: 0,
    }


@pytest.mark.parametrize(
    "content",
    [b"\x00\xffnot a database\x13" * 200, b"SQLite format 3\x00" + b"\xee" * 4000],
    ids=["random-bytes", "damaged-header"],
)
def test_a_corrupted_file_is_a_store_error_naming_it(path, content):
    """A file that is not a database is refused with its path, not used or overwritten."""
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        SqliteStore(path)
    assert str(caught.value).startswith(f"{path}: cannot open the state database: ")
    assert caught.value.path == path
    assert isinstance(caught.value, SpeckitdError)
    assert path.read_bytes() == content


def test_a_directory_in_the_way_is_a_store_error(path):
    """An unopenable path is a StoreError too."""
    path.mkdir(parents=True)
    with pytest.raises(StoreError, match="cannot open the state database"):
        SqliteStore(path)


def test_a_closed_store_raises_store_error(path):
    """Using a store after close() is a StoreError, not a sqlite3 error."""
    store = SqliteStore(path)
    store.close()
    with pytest.raises(StoreError, match="state database"):
        store.jobs()


def test_the_journal_is_wal(store, path):
    """The database runs in WAL mode (it persists in the file)."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_the_files_are_private(store, path):
    """The database and its WAL are readable by their owner only."""
    add(store)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_name(path.name + "-wal").stat().st_mode) == 0o600


def test_an_existing_file_is_made_private(path):
    """A database file left world-readable is tightened on open."""
    path.parent.mkdir()
    path.touch(mode=0o644)
    path.chmod(0o644)
    SqliteStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_schema_version_is_recorded_once(path):
    """Version 1 is applied at the first open and not again."""
    SqliteStore(path).close()
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    finally:
        db.close()


def test_a_newer_schema_is_refused(path):
    """A database from a newer speckitd is not touched by an older one."""
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute("INSERT INTO schema_version (version) VALUES (2)")
    finally:
        db.close()
    with pytest.raises(StoreError) as caught:
        SqliteStore(path)
    assert str(caught.value) == (f"{path}: schema version 2 is newer than this speckitd knows (1)")
