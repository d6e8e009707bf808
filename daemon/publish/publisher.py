"""The publish step (DESIGN §1, §4): commits, push, and one pull request or issue per task.

Safe to run again at any point, as after a crash: every step first looks at what is
already there — commits on the branch, the remote branch, the pull request by head,
the issue by marker — and only adds what is missing. A create that fails in a way
that may have taken effect is looked up before it is tried again. A branch that
carries a commit the daemon did not make is never pushed over; the pull request gets
one comment saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeVar

import structlog

from daemon.agent.outcome import Outcome
from daemon.errors import SpeckitdError
from daemon.forge.base import Forge, ForgeError, Issue, PullRequest
from daemon.git.write import (
    Identity,
    PushAuth,
    commit_worktree,
    commits_only_in,
    fetch_branch,
    head,
    is_ancestor,
    push,
    remote_branch,
)
from daemon.naming import branch_name, marker
from daemon.publish.bodies import Job, issue_body, issue_title, pr_body, title_of
from daemon.publish.lifecycle import Action, decide
from daemon.settings import Settings
from daemon.spec.model import Task
from daemon.spec.tick import mark_done
from daemon.trailers import parse as parse_trailers

HUMAN_COMMIT_NOTE: Final = "<!-- speckitd:human-commit -->"
_CREATE_ATTEMPTS: Final = 3
T = TypeVar("T")

log = structlog.get_logger("speckitd.publish")


class PublishError(SpeckitdError):
    """The publish step could not finish; running it again is safe."""


@dataclass(frozen=True, slots=True)
class PublishConfig:
    """How results are published (``[publish]`` settings)."""

    remote: str | None = None  # a remote name or URL; None keeps branches local
    identity: Identity = field(default_factory=Identity)
    attribution: tuple[str, ...] = ()  # extra trailer lines, e.g. "Co-authored-by: ..."
    draft: bool = False
    labels: tuple[str, ...] = ("speckitd",)
    allowed_hosts: tuple[str, ...] = ("github.com",)
    request_review: bool = True
    auth: PushAuth = field(default_factory=PushAuth)


@dataclass(frozen=True, slots=True)
class Published:
    """What the publish step left: a pull request, an issue, or nothing (and why)."""

    kind: Literal["pull", "issue", "none"]
    number: int | None
    url: str
    branch: str
    note: str = ""


def commit_message(job: Job, outcome: Outcome, attribution: tuple[str, ...]) -> str:
    """The agent's commit: the task's title, the summary, and the trailers of DESIGN §4."""
    refs = ", ".join(outcome.spec_refs) or ", ".join(ref.label for ref in job.refs)
    trailers = [f"Task: {job.task_id}", f"Speckitd-Digest: {job.digest[:12]}"]
    if refs:
        trailers.append(f"Spec-Refs: {' '.join(refs.split())}")
    summary = outcome.summary.strip() or "Implemented by speckitd's agent."
    return f"{title_of(job)}\n\n{summary}\n\n" + "\n".join([*trailers, *attribution]) + "\n"


def _tick_message(job: Job) -> str:
    return (
        f"speckitd: mark {job.task_id} done\n\n"
        f"Task: {job.task_id}\nSpeckitd-Digest: {job.digest[:12]}\n"
    )


def _ours(message: str, email: str, author_email: str, key_id: str) -> bool:
    """Whether a commit is one the daemon made for this task."""
    tasks = [v.strip() for k, v in parse_trailers(message) if k.lower() == "task"]
    return author_email == email and tasks == [key_id]


class Publisher:
    """Publishes finished runs of one repository through one forge."""

    def __init__(self, forge: Forge, repo: Path, config: PublishConfig, *, base: str) -> None:
        self.forge = forge
        self.repo = repo
        self.config = config
        self.base = base

    def publish(
        self,
        job: Job,
        outcome: Outcome,
        worktree: Path,
        *,
        task: Task,
        task_file: bytes,
        phr: tuple[str, str] | None = None,
    ) -> Published:
        """Publish ``outcome``: a pull request when it passed the gates, else an issue."""
        if not outcome.publishable:
            return self._issue(job, outcome)
        branch = branch_name(job.key, job.title)
        decision = decide(self.forge.find_pull(job.repo, branch), job.digest)
        if decision.action in {Action.DONE, Action.LEAVE}:
            return Published("none", None, "", branch, decision.reason)
        self._commit(job, outcome, worktree, task=task, task_file=task_file, phr=phr)
        blocked = self._push(job, worktree, branch)
        ticked = task.done or self._ticked(worktree, job, task)
        pull = self._pull(job, outcome, branch, ticked=ticked)
        if blocked:
            self._note_human_commit(job, pull, branch)
            return Published("pull", pull.number, pull.url, branch, blocked)
        return Published("pull", pull.number, pull.url, branch, decision.reason)

    def _commit(
        self,
        job: Job,
        outcome: Outcome,
        worktree: Path,
        *,
        task: Task,
        task_file: bytes,
        phr: tuple[str, str] | None,
    ) -> None:
        identity = self.config.identity
        commit_worktree(worktree, commit_message(job, outcome, self.config.attribution), identity)
        extra: list[tuple[str, bytes]] = []
        if not self._ticked(worktree, job, task):
            edited = mark_done(task_file, job.task_path, task)
            if edited is not None:
                extra.append((job.task_path, edited))
        if phr is not None and not (worktree / phr[0]).exists():
            extra.append((phr[0], phr[1].encode()))
        for path, data in extra:
            target = worktree / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if extra:
            commit_worktree(worktree, _tick_message(job), identity)

    @staticmethod
    def _ticked(worktree: Path, job: Job, task: Task) -> bool:
        """Whether the worktree's task file already reads the task as done."""
        from daemon.spec.tasks import parse_tasks  # noqa: PLC0415

        path = worktree / job.task_path
        if not path.exists():
            return False
        parsed = parse_tasks(path.read_bytes(), job.task_path, only={task.key})
        found = parsed.task(task.key)
        return found is not None and found.done

    def _push(self, job: Job, worktree: Path, branch: str) -> str:
        """Push the branch; the reason it was not pushed, or "" when the remote has it."""
        remote = self.config.remote
        if remote is None:
            return ""
        auth = self.config.auth
        local = head(worktree)
        there = remote_branch(self.repo, remote, branch, auth)
        if there == local:
            return ""
        lease: str | None = None
        if there is not None and not is_ancestor(self.repo, there, local):
            fetched = fetch_branch(self.repo, remote, branch, auth) or there
            if not is_ancestor(self.repo, fetched, local):
                foreign = [
                    c
                    for c in commits_only_in(self.repo, fetched, local)
                    if not _ours(c.message, self.config.identity.email, c.author_email, job.task_id)
                ]
                if foreign:
                    log.warning("publish.human_commit", branch=branch, commit=foreign[0].sha)
                    return f"{branch} has commits speckitd did not make; it was left as it is"
                lease = fetched
        push(self.repo, remote, local, branch, auth, lease=lease)
        if remote_branch(self.repo, remote, branch, auth) != local:
            raise PublishError(f"the push of {branch} did not reach {remote}")
        return ""

    def _create(self, make: Callable[[], T], find: Callable[[], T | None]) -> T:
        """Create something at most once: a failed create is looked up before a retry."""
        for _ in range(_CREATE_ATTEMPTS):
            try:
                return make()
            except ForgeError as error:
                if not (error.maybe_created or error.exists):
                    raise
                found = find()
                if found is not None:
                    return found
                if error.exists:
                    raise
        raise PublishError("the forge kept failing to create; run the publish step again")

    def _pull(self, job: Job, outcome: Outcome, branch: str, *, ticked: bool) -> PullRequest:
        body = pr_body(job, outcome, self.config.allowed_hosts, ticked=ticked)
        title = title_of(job)
        existing = self.forge.find_pull(job.repo, branch)
        if existing is not None and existing.state == "open":
            if (existing.body, existing.title) != (body, title):
                return self.forge.update_pull(job.repo, existing.number, title=title, body=body)
            return existing
        repo = job.repo
        made = self._create(
            lambda: self.forge.open_pull(
                repo,
                head=branch,
                base=self.base,
                title=title,
                body=body,
                draft=self.config.draft,
            ),
            lambda: self._open_pull_for(repo, branch),
        )
        if self.config.labels:
            self.forge.add_labels(repo, made.number, self.config.labels)
        if self.config.request_review and job.approver and "@" not in job.approver:
            self.forge.request_review(repo, made.number, [job.approver])
        log.info("publish.pull", task=job.task_id, pull=made.number)
        return made

    def _open_pull_for(self, repo: str, branch: str) -> PullRequest | None:
        found = self.forge.find_pull(repo, branch)
        return found if found is not None and found.state == "open" else None

    def _note_human_commit(self, job: Job, pull: PullRequest, branch: str) -> None:
        """Say once on the pull request that a person's commit stopped the push."""
        if any(HUMAN_COMMIT_NOTE in c.body for c in self.forge.comments(job.repo, pull.number)):
            return
        self.forge.comment(
            job.repo,
            pull.number,
            f"{HUMAN_COMMIT_NOTE}\n`{branch}` has a commit that speckitd did not make, so "
            "speckitd did not push its newer work over it. Merge or close this pull request "
            "as it is, or remove the commit to let speckitd update the branch.",
        )

    def _issue(self, job: Job, outcome: Outcome) -> Published:
        """Open (or refresh) the one clarification issue of this approval."""
        tag = marker(job.key, job.digest)
        body = issue_body(job, outcome, self.config.allowed_hosts)
        branch = branch_name(job.key, job.title)
        existing = self.forge.find_issue(job.repo, tag)
        if existing is not None:
            if existing.body != body and existing.state == "open":
                existing = self.forge.update_issue(job.repo, existing.number, body=body)
            return Published("issue", existing.number, existing.url, branch, "already open")
        repo = job.repo
        made: Issue = self._create(
            lambda: self.forge.open_issue(
                repo, title=issue_title(job, outcome), body=body, labels=self.config.labels
            ),
            lambda: self.forge.find_issue(repo, tag),
        )
        log.info("publish.issue", task=job.task_id, issue=made.number)
        return Published("issue", made.number, made.url, branch)


def publish_config(settings: Settings, auth: PushAuth | None = None) -> PublishConfig:
    """The publisher's configuration from ``[publish]`` (and push credentials)."""
    chosen = settings.publish
    return PublishConfig(
        remote=chosen.remote or None,
        identity=Identity(chosen.author_name, chosen.author_email),
        attribution=tuple(chosen.attribution),
        draft=chosen.draft,
        labels=tuple(chosen.labels),
        allowed_hosts=tuple(chosen.allowed_hosts),
        request_review=chosen.request_review,
        auth=auth or PushAuth(settings.forge.github.token, chosen.ssh_key_path),
    )
