"""The service (DESIGN §8): triggers, one scan per repository at a time, and workers.

Triggers coalesce into one scan per repository at a time; a bounded pool of workers
takes queued jobs, one run per task key at a time.

``run_forever`` is ``speckitd run``; ``once`` scans every repository, drains the
queue and returns. On start, jobs a crash left running are queued again: their run
resumes from its transcript and publishing looks before it creates. ``stop`` stops
taking work and lets the jobs in flight reach a checkpoint (the transcript is
written after every turn) before the stop timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog

from daemon.detect import Approval
from daemon.errors import SpeckitdError
from daemon.naming import branch_name
from daemon.publish.lifecycle import answer
from daemon.service.pipeline import JobRunner, record_answer
from daemon.service.scanning import ScanSummary, scan_repository
from daemon.settings import RepoSettings, Settings
from daemon.store.base import Job, Store
from daemon.store.lifecycle import JobState

log = structlog.get_logger("speckitd.service")


@dataclass(slots=True)
class _RepoLoop:
    """Single-flight scanning of one repository: requests while scanning coalesce."""

    settings: RepoSettings
    dirty: asyncio.Event = field(default_factory=asyncio.Event)


class Service:
    """Scans repositories and runs their jobs."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        runners: Mapping[str, JobRunner],
        *,
        clock: Callable[[], float] = time.time,
        backfill: bool = False,
        on_event: Callable[[str, dict[str, object]], None] | None = None,
        stop_grace: float = 60.0,
        backoff: float = 2.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.runners = dict(runners)
        self.clock = clock
        self.backfill = backfill
        self.stop_grace = stop_grace
        self.backoff = backoff  # seconds before attempt n+1: backoff ** n, at most 60
        self.on_event = on_event or (lambda _name, _data: None)
        self._repos = {r.name: _RepoLoop(r) for r in settings.repos}
        self._work = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = False
        self.reload_requested = False
        self.resources: list[object] = []  # held until close() (the state directory's lock)

    # -- triggers -------------------------------------------------------------------

    def request_scan(self, name: str) -> None:
        """Ask for a scan of ``name`` (from any thread); bursts coalesce into one."""
        if self._loop is None or name not in self._repos:
            return
        self._loop.call_soon_threadsafe(self._repos[name].dirty.set)

    async def _scan(self, name: str) -> ScanSummary | None:
        loop = self._repos[name]
        started = time.monotonic()
        try:
            summary = await asyncio.to_thread(
                scan_repository,
                self.settings,
                loop.settings,
                self.store,
                now=self.clock(),
                backfill=self.backfill,
                has_pull=self._has_pull(name),
            )
        except Exception as error:  # noqa: BLE001 - one repository must not stop the others
            log.error("scan.failed", repo=name, error=f"{type(error).__name__}: {error}")  # noqa: TRY400
            return None
        self.on_event(
            "scan",
            {
                "repo": name,
                "seconds": time.monotonic() - started,
                "queued": summary.queued + summary.released,
            },
        )
        if summary.queued or summary.released:
            self._work.set()
        return summary

    def _has_pull(self, name: str) -> Callable[[Approval], bool]:
        """Whether a task already has a pull request (backfill skips those)."""
        runner = self.runners.get(name)

        def has_pull(approval: Approval) -> bool:
            if runner is None:
                return False
            return (
                runner.forge.find_pull(name, branch_name(approval.key, approval.title)) is not None
            )

        return has_pull

    async def _scan_loop(self, name: str) -> None:
        loop = self._repos[name]
        while not self._stopping.is_set():
            await loop.dirty.wait()
            loop.dirty.clear()
            await self._scan(name)

    # -- workers --------------------------------------------------------------------

    async def _run_job(self, job: Job) -> None:
        runner = self.runners.get(job.repo)
        if runner is None:
            self.store.transition(
                job.id,
                JobState.FAILED,
                now=self.clock(),
                detail=f"repository {job.repo} is not configured",
            )
            return
        started = time.monotonic()
        with structlog.contextvars.bound_contextvars(repo=job.repo, task=job.task_id, run=job.id):
            log.info("job.start", attempt=job.attempts)
            self.on_event("job.start", {"job": job.id, "task": job.task_id})
            try:
                earlier = self.store.jobs(repo=job.repo, states={JobState.SUPERSEDED})
                previous = tuple({j.branch for j in earlier if j.key == job.key and j.branch})
                outcome, published = await runner.run(job, previous)
            except asyncio.CancelledError:
                raise  # stopping: the job stays RUNNING and is queued again on start
            except Exception as error:  # noqa: BLE001 - one job must never stop a worker
                await self._failed(job, error)
                return
            current = self.store.get(job.id)
            if current is not None and current.state is JobState.RUNNING:
                self.store.transition(job.id, JobState.PUBLISHING, now=self.clock())
            fields: dict[str, object] = {
                "cost_usd": outcome.usage.cost_usd,
                "branch": published.branch,
                "detail": published.note,
            }
            if published.kind == "pull":
                fields.update(pr_number=published.number, pr_url=published.url)
            elif published.kind == "issue":
                fields.update(issue_number=published.number, issue_url=published.url)
            if published.kind == "none" and not published.settled:
                self.store.transition(job.id, JobState.FAILED, now=self.clock(), **fields)
            else:
                self.store.transition(job.id, JobState.PUBLISHED, now=self.clock(), **fields)
                if published.settled:  # merged or closed already: nothing more will happen
                    settled = JobState.DONE if published.settled == "merged" else JobState.CLOSED
                    self.store.transition(job.id, settled, now=self.clock())
            log.info(
                "job.published",
                kind=published.kind,
                number=published.number,
                ending=outcome.ending.value,
            )
            self.on_event(
                "job.done",
                {
                    "job": job.id,
                    "task": job.task_id,
                    "kind": published.kind,
                    "number": published.number,
                    "seconds": time.monotonic() - started,
                    "usage": outcome.usage,
                },
            )

    async def _failed(self, job: Job, error: BaseException) -> None:
        """Queue a failed job again after a backoff, or give up after three attempts."""
        text = (
            str(error) if isinstance(error, SpeckitdError) else f"{type(error).__name__}: {error}"
        )
        log.error("job.failed", error=text, attempt=job.attempts)
        final = job.attempts >= 3
        try:
            current = self.store.get(job.id)
            if current is not None and current.state in {JobState.RUNNING, JobState.PUBLISHING}:
                state = JobState.FAILED if final else JobState.QUEUED
                self.store.transition(job.id, state, now=self.clock(), detail=text[:500])
        except SpeckitdError as problem:
            log.error("job.state_lost", error=str(problem))  # noqa: TRY400 - said in full
        if final:
            self.on_event("job.failed", {"job": job.id, "task": job.task_id, "error": text})
            return
        # A transient fault (forge, network) gets time to pass before the next attempt.
        if self.backoff > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=min(60.0, self.backoff**job.attempts)
                )

    async def _worker(self, index: int) -> None:
        while not self._stopping.is_set():
            try:
                job = await asyncio.to_thread(self._claim)
            except SpeckitdError as error:  # e.g. the database stayed locked
                log.error("worker.claim_failed", worker=index, error=str(error))  # noqa: TRY400
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=5)
                continue
            if job is None:
                self._work.clear()
                if self._stopping.is_set():  # stop() may have run while we claimed
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), timeout=30)
                continue
            try:
                await self._run_job(job)
            finally:
                self._work.set()  # another job of this key may now run

    def _claim(self) -> Job | None:
        return self.store.claim(self.clock())

    # -- follow-up ------------------------------------------------------------------

    def follow_up(self) -> int:
        """Settle published pull requests that were merged or closed; how many changed.

        The local forge has no merge button: a pull request counts as merged once its
        branch is part of the watched branch (people merge with git).
        """
        changed = 0
        for job in self.store.jobs(states={JobState.PUBLISHED}):
            runner = self.runners.get(job.repo)
            if runner is not None and job.issue_number is not None:
                changed += self._answered(job, runner)
                continue
            if runner is None or job.pr_number is None or not job.branch:
                continue
            try:
                pull = runner.forge.find_pull(job.repo, job.branch)
                if pull is not None and pull.state == "open" and runner.merged(job.branch):
                    mark = getattr(runner.forge, "mark_merged", None)
                    if mark is not None:
                        pull = mark(job.repo, pull.number)
            except (SpeckitdError, OSError) as error:
                log.warning("follow_up.failed", repo=job.repo, task=job.task_id, error=str(error))
                continue
            if pull is None or pull.state == "open":
                continue
            settled = JobState.DONE if pull.merged else JobState.CLOSED
            try:
                self.store.transition(job.id, settled, now=self.clock())
            except SpeckitdError as error:  # superseded meanwhile, say
                log.info("follow_up.skipped", task=job.task_id, error=str(error))
                continue
            log.info("job.settled", task=job.task_id, state=settled.value, pull=pull.number)
            changed += 1
        return changed

    def _answered(self, job: Job, runner: JobRunner) -> int:
        """Queue a clarified job again when an approver replied on its issue (1), else 0."""
        if job.issue_number is None:
            return 0
        approvers = frozenset(a.lower() for a in self.settings.approval.approvers)
        try:
            comments = runner.forge.comments(job.repo, job.issue_number)
        except (SpeckitdError, OSError) as error:
            log.warning("follow_up.failed", repo=job.repo, task=job.task_id, error=str(error))
            return 0
        chosen = answer([(c.author, c.body) for c in comments], approvers)
        if chosen is None:
            return 0
        comment = comments[chosen]
        if not record_answer(self.settings.daemon.state_dir, job, comment.id, comment.body):
            return 0
        try:
            self.store.transition(job.id, JobState.QUEUED, now=self.clock(),
                                  detail=f"answered by {comment.author}")  # fmt: skip
        except SpeckitdError:
            return 0
        log.info("job.answered", task=job.task_id, by=comment.author)
        self._work.set()
        return 1

    # -- life cycle -----------------------------------------------------------------

    def recover(self) -> int:
        """Queue again what a crash left running; the count."""
        count = 0
        for job in self.store.interrupted():
            self.store.transition(
                job.id, JobState.QUEUED, now=self.clock(), detail="resumed after an interruption"
            )
            count += 1
        if count:
            log.info("service.recovered", jobs=count)
        return count

    async def once(self) -> None:
        """Scan every repository, run every job that is queued, and return."""
        self._loop = asyncio.get_running_loop()
        self.recover()
        for name in self._repos:
            await self._scan(name)
        while (job := await asyncio.to_thread(self._claim)) is not None:
            await self._run_job(job)

    async def run_forever(self, ready: Callable[[], None] | None = None) -> None:
        """Scan on every trigger and run jobs until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        self.recover()
        tasks = [asyncio.create_task(self._scan_loop(name)) for name in self._repos]
        workers = [
            asyncio.create_task(self._worker(i)) for i in range(self.settings.agent.concurrency)
        ]
        for name in self._repos:
            self.request_scan(name)
        self._work.set()
        self.ready = True
        if ready is not None:
            ready()
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        # Jobs in flight get the grace period to finish; then they are cancelled at their
        # next await. Their transcript holds every finished turn, and the store still
        # says RUNNING, so the next start queues them again and the run resumes.
        _, pending = await asyncio.wait(workers, timeout=self.stop_grace)
        for worker in pending:
            worker.cancel()
        await asyncio.gather(*tasks, *workers, return_exceptions=True)
        log.info("service.stopped", cancelled=len(pending))

    def close(self) -> None:
        """Release the store and what the service holds (the state directory's lock)."""
        self.store.close()
        for resource in self.resources:
            close = getattr(resource, "close", None)
            if close is not None:
                close()
        self.resources.clear()

    def stop(self) -> None:
        """Stop taking work (from the loop's thread); running jobs finish their step."""
        self.ready = False
        self._stopping.set()
        self._work.set()
