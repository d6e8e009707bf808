"""One job, start to end: branch, worktree, agent run, publish, clean-up (DESIGN §1).

Every step can be repeated after a crash: the branch is reused for the same approval,
the worktree is re-added, the run resumes from its transcript (a finished run returns
its outcome at once), and publishing looks before it creates.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from daemon.agent.gating import WorktreeGates
from daemon.agent.model import Model
from daemon.agent.outcome import Outcome
from daemon.agent.phr import RunRecord, phr_path, phr_text
from daemon.agent.retry import Retrier, RetryPolicy
from daemon.agent.runner import Runner
from daemon.agent.session import documents, prepare
from daemon.agent.transcript import Transcript
from daemon.forge.base import Forge
from daemon.gates.sandbox import Sandbox
from daemon.git import Repo
from daemon.git.write import (
    PushAuth,
    add_worktree,
    has_remote,
    is_ancestor,
    local_branch,
    remove_worktree,
)
from daemon.naming import branch_name, key_part
from daemon.publish.bodies import Job as PublishJob
from daemon.publish.bodies import SpecLink
from daemon.publish.branches import prepare_branch
from daemon.publish.publisher import Published, Publisher, publish_config
from daemon.service.scanning import watched_ref
from daemon.settings import RepoSettings, Settings
from daemon.spec.layout import feature_of
from daemon.spec.model import Task
from daemon.spec.refs import resolve
from daemon.store.base import Job

log = structlog.get_logger("speckitd.job")


def spec_links(task: Task, repo: Repo, tree: str, task_path: str) -> tuple[SpecLink, ...]:
    """The task's references, each pointing at the section it resolves to (if any)."""
    indexes = {kind: doc.index for kind, doc in documents(repo, tree, task_path).items()}
    links = []
    for ref in task.refs:
        found = resolve(ref, indexes)
        if found.path is None:
            links.append(SpecLink(ref.raw, task_path, task.line))
        else:
            line = found.sections[0].line if found.sections else 0
            links.append(SpecLink(ref.raw, found.path, line))
    return tuple(links)


@dataclass(frozen=True, slots=True)
class Places:
    """Where a job keeps its files in the state directory."""

    worktree: Path
    transcript: Path
    answer: str | None = None  # an approver's reply to the job's clarification issue


def places(state_dir: Path, job: Job) -> Places:
    """The job's worktree and transcript paths.

    After an approver answered the job's clarification issue (``answers/<comment>.md``),
    the job runs again with a transcript of its own for that answer.
    """
    repo = job.repo.replace("/", "__")
    worktree = state_dir / "worktrees" / repo / key_part(job.key)
    runs = state_dir / "runs" / repo / str(job.id)
    answers = sorted((runs / "answers").glob("*.md"), key=lambda p: int(p.stem))
    if not answers:
        return Places(worktree, runs / "transcript.jsonl")
    latest = answers[-1]
    transcript = runs / f"answer-{latest.stem}" / "transcript.jsonl"
    return Places(worktree, transcript, latest.read_text(encoding="utf-8"))


def record_answer(state_dir: Path, job: Job, comment_id: int, text: str) -> bool:
    """Keep an approver's answer for the job's next run; False when it was kept before."""
    folder = state_dir / "runs" / job.repo.replace("/", "__") / str(job.id) / "answers"
    target = folder / f"{comment_id}.md"
    if target.exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return True


@dataclass(slots=True)
class JobRunner:
    """Runs jobs of one repository."""

    settings: Settings
    repo_settings: RepoSettings
    forge: Forge
    model: Callable[[], Model]
    sandbox: Sandbox | None = None
    clock: Callable[[], float] = time.time  # wall time: a resumed run counts from its start
    sleep: Callable[[float], object] = asyncio.sleep

    def _setup(self, job: Job) -> tuple[Path, Places, str]:
        repo_path = Path(self.repo_settings.path)
        where = places(self.settings.daemon.state_dir, job)
        branch = branch_name(job.key, job.title)
        said = prepare_branch(
            repo_path,
            branch,
            job.approving_commit,
            job.digest,
            self.settings.publish.author_email,
            worktree=where.worktree,
        )
        log.info("job.branch", branch=branch, branch_state=said)
        add_worktree(repo_path, where.worktree, branch, job.approving_commit)
        return repo_path, where, branch

    def merged(self, branch: str) -> bool:
        """Whether ``branch`` is part of the watched branch (its pull request was merged)."""
        repo = Path(self.repo_settings.path)
        tip = local_branch(repo, branch)
        watched = Repo(repo).resolve(watched_ref(self.repo_settings))
        return tip is not None and is_ancestor(repo, tip, watched)

    async def run(self, job: Job, previous: tuple[str, ...] = ()) -> tuple[Outcome, Published]:
        """Run the agent for ``job`` and publish the result.

        ``previous`` are the branches of earlier approvals of the same task.
        """
        repo_path, where, branch = await asyncio.to_thread(self._setup, job)
        repo = Repo(repo_path, tuple(self.settings.spec.task_files))
        tree = repo.tree_of(job.approving_commit)
        setup = await asyncio.to_thread(
            prepare,
            self.settings,
            repo=repo,
            tree=tree,
            task=job.key,
            worktree=where.worktree,
            answer=where.answer,
        )
        gates = WorktreeGates(
            where.worktree,
            job.approving_commit,
            (setup.task.id,),
            setup.agent.rules,
            commands=tuple(self.settings.checks.commands) if self.sandbox else (),
            sandbox=self.sandbox,
            timeout=float(self.settings.checks.timeout_seconds),
        )
        anthropic = self.settings.anthropic
        retrier = Retrier(
            RetryPolicy(anthropic.max_retry_wait_seconds, anthropic.max_requests_per_minute),
            self.sleep,  # type: ignore[arg-type]
            self.clock,
            random.Random(),  # noqa: S311 - backoff jitter
        )
        secrets = [anthropic.api_key.get_secret_value()]
        model = self.model()
        try:
            runner = Runner(
                model,
                setup.workspace,
                gates,
                Transcript(where.transcript, secrets=secrets),
                retrier=retrier,
                clock=self.clock,
            )
            outcome = await runner.run(setup.spec)
        finally:
            await model.close()
        task_file = repo.read(tree, setup.task_path) or b""
        record = RunRecord(
            task_id=setup.task.id,
            title=setup.task.title,
            feature=feature_of(setup.task_path),
            branch=branch,
            model=setup.spec.model,
            date=datetime.datetime.fromtimestamp(job.created, datetime.UTC).date().isoformat(),
            prompt=f"Implement {setup.task.id}: {setup.task.title}",
        )
        publish_job = PublishJob(
            repo=job.repo,
            task_id=setup.task.id,
            key=job.key,
            title=job.title,
            digest=job.digest,
            task_path=setup.task_path,
            task_line=setup.task.line,
            approving_commit=job.approving_commit,
            approver=job.approver,
            refs=await asyncio.to_thread(spec_links, setup.task, repo, tree, setup.task_path),
            transcript=str(where.transcript),
            rules=setup.agent.rules.rules,
        )
        remote = self.settings.publish.remote
        # Without a remote of that name (a local repository), branches stay local.
        keep_local = not remote or not has_remote(repo_path, remote)
        push_auth = None
        push_token = getattr(self.forge, "push_token", None)
        if push_token is not None and not keep_local:
            # A GitHub App's installation token expires within the hour: fetch one per push.
            token = await asyncio.to_thread(push_token, job.repo)
            push_auth = PushAuth(token, self.settings.publish.ssh_key_path)
        config = publish_config(self.settings, push_auth, remote="" if keep_local else remote)
        publisher = Publisher(self.forge, repo_path, config, base=self.repo_settings.branch)
        published = await asyncio.to_thread(
            publisher.publish,
            publish_job,
            outcome,
            where.worktree,
            task=setup.task,
            task_file=task_file,
            phr=(phr_path(record), phr_text(record, outcome)) if outcome.publishable else None,
            previous=previous,
        )
        await asyncio.to_thread(remove_worktree, repo_path, where.worktree)
        return outcome, published
