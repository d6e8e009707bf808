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
    CommitInfo,
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
    settled: Literal["", "merged", "closed"] = ""  # with kind "none": why nothing was done


def commit_message(job: Job, attribution: tuple[str, ...]) -> str:
    """The agent's commit: the task's title and the trailers of DESIGN §4.

    No text the agent wrote goes into a commit: git hosts act on commit messages
    (closing keywords, mentions) once they reach the default branch, with no code
    formatting to hide behind. The summary is in the pull request, shown as code.
    """
    refs = ", ".join(ref.label for ref in job.refs)
    trailers = [f"Task: {job.task_id}", f"Speckitd-Digest: {job.digest[:12]}"]
    if refs:
        trailers.append(f"Spec-Refs: {' '.join(refs.split())}")
    body = "Implemented by speckitd's agent and checked by its gates; see the pull request."
    return f"{title_of(job)}\n\n{body}\n\n" + "\n".join([*trailers, *attribution]) + "\n"


def _tick_message(job: Job) -> str:
    return (
        f"speckitd: mark {job.task_id} done\n\n"
        f"Task: {job.task_id}\nSpeckitd-Digest: {job.digest[:12]}\n"
    )


def _ours(commit: CommitInfo, email: str, key_id: str) -> bool:
    """Whether a commit is one the daemon made for this task.

    Both author and committer are the daemon: an amend or rebase by a person keeps
    the author but makes them the committer.
    """
    tasks = [v.strip() for k, v in parse_trailers(commit.message) if k.lower() == "task"]
    return commit.author_email == email and commit.committer_email == email and tasks == [key_id]


def _inside(worktree: Path, path: str) -> Path:
    """``worktree / path`` when no part of it is a symbolic link (the repo is untrusted)."""
    target = worktree
    for part in Path(path).parts:
        if part in {"", ".", ".."} or target.is_symlink():
            raise PublishError(f"{path}: not a plain path inside the worktree")
        target = target / part
    if target.is_symlink():
        raise PublishError(f"{path}: a symbolic link; the daemon does not write through links")
    return target


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
        previous: tuple[str, ...] = (),
    ) -> Published:
        """Publish ``outcome``: a pull request when it passed the gates, else an issue.

        ``previous`` are branches of earlier approvals of the same task (another title
        gives another branch): their open pull requests are closed as superseded, so a
        task never has two open at once.
        """
        if not outcome.publishable:
            return self._issue(job, outcome)
        branch = branch_name(job.key, job.title)
        decision = decide(self.forge.find_pull(job.repo, branch), job.digest)
        if decision.action in {Action.DONE, Action.LEAVE}:
            settled: Literal["merged", "closed"] = (
                "merged" if decision.action is Action.DONE else "closed"
            )
            return Published("none", None, "", branch, decision.reason, settled)
        self._commit(job, worktree, task=task, task_file=task_file, phr=phr)
        log.info("publish.committed", task=job.task_id, branch=branch)
        blocked = self._push(job, worktree, branch)
        log.info("publish.pushed", task=job.task_id, branch=branch, blocked=bool(blocked))
        if blocked:
            # The branch is not what the gates checked: say so, change nothing else.
            existing = self.forge.find_pull(job.repo, branch)
            if existing is not None and existing.state == "open":
                self._note_human_commit(job, existing, branch)
                return Published("pull", existing.number, existing.url, branch, blocked)
            return Published("none", None, "", branch, blocked)
        ticked = task.done or self._ticked(worktree, job, task)
        pull = self._pull(job, outcome, branch, ticked=ticked)
        for old in previous:
            self._supersede(job, old, pull)
        self._close_question(job, pull)
        return Published("pull", pull.number, pull.url, branch, decision.reason)

    def _commit(
        self,
        job: Job,
        worktree: Path,
        *,
        task: Task,
        task_file: bytes,
        phr: tuple[str, str] | None,
    ) -> None:
        identity = self.config.identity
        own = (job.task_path, *((phr[0],) if phr else ()))
        commit_worktree(worktree, commit_message(job, self.config.attribution), identity, skip=own)
        extra: list[tuple[str, bytes]] = []
        if not self._ticked(worktree, job, task):
            edited = mark_done(task_file, job.task_path, task)
            if edited is not None:
                extra.append((job.task_path, edited))
        if phr is not None and not (worktree / phr[0]).exists():
            extra.append((phr[0], phr[1].encode()))
        for path, data in extra:
            target = _inside(worktree, path)
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
                    if not _ours(c, self.config.identity.email, job.task_id)
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
                existing = self.forge.update_pull(job.repo, existing.number, title=title, body=body)
            self._dress(job, existing)  # a crash may have come between create and dress
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
        self._dress(job, made)
        log.info("publish.pull", task=job.task_id, pull=made.number)
        return made

    def _dress(self, job: Job, pull: PullRequest) -> None:
        """Labels and the review request (both idempotent on the forge)."""
        if self.config.labels:
            self.forge.add_labels(job.repo, pull.number, self.config.labels)
        if self.config.request_review and job.approver and "@" not in job.approver:
            self.forge.request_review(job.repo, pull.number, [job.approver])

    def _close_question(self, job: Job, pull: PullRequest) -> None:
        """Close this approval's clarification issue once its answer led to a pull request."""
        question = self.forge.find_issue(job.repo, marker(job.key, job.digest))
        if question is None or question.state != "open":
            return
        self.forge.comment(job.repo, question.number, f"Answered: see #{pull.number}.")
        self.forge.update_issue(job.repo, question.number, state="closed")

    def _supersede(self, job: Job, branch: str, current: PullRequest) -> None:
        """Close the open pull request of an earlier approval's branch, saying why."""
        if branch == current.head:
            return
        old = self.forge.find_pull(job.repo, branch)
        if old is None or old.state != "open":
            return
        self.forge.comment(job.repo, old.number, f"Superseded by #{current.number}: the task "
                           "was approved again with new text.")  # fmt: skip
        self.forge.update_pull(job.repo, old.number, state="closed")
        log.info("publish.superseded", task=job.task_id, old=old.number, new=current.number)

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


def publish_config(
    settings: Settings, auth: PushAuth | None = None, *, remote: str | None = None
) -> PublishConfig:
    """The publisher's configuration from ``[publish]`` (``remote`` overrides its remote)."""
    chosen = settings.publish
    return PublishConfig(
        remote=(remote if remote is not None else chosen.remote) or None,
        identity=Identity(chosen.author_name, chosen.author_email),
        attribution=tuple(chosen.attribution),
        draft=chosen.draft,
        labels=tuple(chosen.labels),
        allowed_hosts=tuple(chosen.allowed_hosts),
        request_review=chosen.request_review,
        auth=auth or PushAuth(settings.forge.github.token, chosen.ssh_key_path),
    )
