"""From a repository's new tip to jobs in the store (DESIGN §3, §4). Runs in a thread.

The first sight of a repository records its tip and starts nothing, unless backfill
was asked for: then every approved open task without a pull request is queued.
Newly approved tasks become jobs (idempotent on task key and digest); those whose
dependencies are not done wait, and a later scan that finds them done queues them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from daemon.detect import Approval
from daemon.git import Repo
from daemon.scan import scanner_for
from daemon.settings import RepoSettings, Settings
from daemon.spec.ids import task_key
from daemon.spec.model import CoreFile, TaskState
from daemon.store.base import Store
from daemon.store.lifecycle import IllegalTransitionError, JobState

log = structlog.get_logger("speckitd.scan")


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """What one scan of a repository did."""

    repo: str
    tip: str
    queued: int = 0
    waiting: int = 0
    released: int = 0
    first_sight: bool = False


def watched_ref(repo: RepoSettings) -> str:
    """The ref scans read: the remote's branch when there is a remote, else the local one."""
    return f"refs/remotes/origin/{repo.branch}" if repo.url else f"refs/heads/{repo.branch}"


def _done(files: Mapping[str, CoreFile], dependency: str) -> bool:
    key = task_key(dependency)
    for core_file in files.values():
        task = core_file.task(key)
        if task is not None:
            return core_file.state(task) is TaskState.DONE
    return False


def _enqueue(
    store: Store,
    repo: str,
    approval: Approval,
    depends_on: tuple[str, ...],
    now: float,
    *,
    waiting: bool,
) -> bool:
    job = store.enqueue(
        repo,
        approval.key,
        approval.digest,
        task_id=approval.task_id,
        title=approval.title,
        approving_commit=approval.commit,
        approver=approval.approver.email,
        depends_on=depends_on,
        now=now,
        state=JobState.WAITING if waiting else JobState.QUEUED,
    )
    return job is not None


def scan_repository(
    settings: Settings,
    repo_settings: RepoSettings,
    store: Store,
    *,
    now: float,
    backfill: bool = False,
    has_pull: Callable[[Approval], bool] = lambda _approval: False,
) -> ScanSummary:
    """Scan the watched branch from the last recorded tip; queue what became runnable."""
    name = repo_settings.name
    log.info("scan.start", repo=name)
    repo = Repo(repo_settings.path, tuple(settings.spec.task_files))
    tip = repo.resolve(watched_ref(repo_settings))
    scanner = scanner_for(repo, settings)
    known = store.repo(name)
    if known is None and not backfill:
        store.set_tip(name, tip, now)
        log.info("scan.first_sight", repo=name, tip=tip[:12])
        return ScanSummary(name, tip, first_sight=True)
    if known is not None and known.tip == tip:
        return ScanSummary(name, tip, released=_release(store, name, None, now))
    if known is not None and known.tip is not None and not repo.has_commit(known.tip):
        # The recorded tip is gone (history rewritten, then collected): start over from
        # here as on first sight, rather than stay stuck or replay every approval.
        store.set_tip(name, tip, now)
        log.warning("scan.tip_lost", repo=name, old=known.tip[:12], tip=tip[:12])
        return ScanSummary(name, tip, first_sight=True)
    report = scanner.scan(tip, None if known is None else known.tip)
    approved = report.detector.approvals.values() if known is None else report.result.approved
    blocked = {w.approval.ident: w.pending for w in report.waiting}
    queued = waiting = 0
    for approval in approved:
        if known is None and (report.files.get(approval.path) is None or has_pull(approval)):
            continue  # backfill: only open tasks without a pull request yet
        task = report.tasks.get((approval.path, approval.key))
        depends = task.depends_on if task is not None else ()
        pending = approval.ident in blocked or (
            known is None and any(not _done(report.files, d) for d in depends)
        )
        if _enqueue(store, name, approval, depends, now, waiting=pending):
            waiting += pending
            queued += not pending
    released = _release(store, name, report.files, now)
    store.set_tip(name, tip, now)
    log.info("scan.done", repo=name, tip=tip[:12], queued=queued, waiting=waiting)
    return ScanSummary(name, tip, queued, waiting, released, first_sight=known is None)


def _release(store: Store, repo: str, files: Mapping[str, CoreFile] | None, now: float) -> int:
    """Queue waiting jobs whose dependencies are now done."""
    if files is None:
        return 0
    released = 0
    for job in store.jobs(repo=repo, states={JobState.WAITING}):
        if all(_done(files, key) for key in job.depends_on):
            try:
                store.transition(job.id, JobState.QUEUED, now=now)
            except IllegalTransitionError:
                continue  # superseded by a newer approval meanwhile
            released += 1
    return released
