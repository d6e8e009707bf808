"""Shared parts of the agent-runner tests.

A real repository with a worktree, a fake clock, and a runner wired to the fake Messages
API exactly as the daemon wires it.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from daemon.agent.client import AnthropicModel
from daemon.agent.gating import WorktreeGates
from daemon.agent.outcome import Outcome
from daemon.agent.retry import Retrier, RetryPolicy
from daemon.agent.runner import Runner
from daemon.agent.session import Prepared, prepare
from daemon.agent.transcript import Transcript
from daemon.git import Repo
from daemon.settings import load_settings
from tests.gitrepo import GitRepo

FIXTURE = Path(__file__).resolve().parent.parent / "data" / "todo-backend"
TASK = "T009"
API_KEY = "canary-7f3e9b1c-key"  # not secret-shaped: only literal redaction can hide it
CONSTITUTION = "# Constitution\n\n## I. Spec first\n\nEvery change cites the spec.\n"

SERVICE = '''"""
[Task]: T009
[From]: plan.md §3.1
[Description]: The task service: queries scoped to their owner.
"""

from sqlmodel import Session, select

from app.models import Task


def tasks_of(session: Session, user_id: int) -> list[Task]:
    """The tasks owned by ``user_id``."""
    return list(session.exec(select(Task).where(Task.user_id == user_id)))
'''


class FakeClock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        """The current time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once."""
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Project:
    """The fixture backend as a repository on main, and a linked worktree for the task."""

    repo: GitRepo
    worktree: Path
    base: str
    outside: Path

    def read(self, path: str) -> str:
        """A worktree file's text."""
        return (self.worktree / path).read_text(encoding="utf-8")


def make_project(root: Path, name: str = "wt") -> Project:
    """Commit the fixture (plus a constitution) on main and add a worktree on a task branch."""
    repo = GitRepo(root / "main")
    if not (root / "main" / "specs").exists():
        shutil.copytree(FIXTURE, root / "main", dirs_exist_ok=True)
        repo.write(".specify/memory/constitution.md", CONSTITUTION)
        repo.git("add", "-A")
        repo.git("commit", "-q", "-m", "todo backend")
    base = repo.git("rev-parse", "HEAD")
    worktree = root / name
    repo.git("worktree", "add", "-q", "-b", f"speckitd/{name}", str(worktree), base)
    outside = root / "outside"
    outside.mkdir(exist_ok=True)
    return Project(repo, worktree, base, outside)


def settings(**agent: Any) -> Any:
    """Settings as the daemon builds them, with ``[agent]`` overrides."""
    return load_settings(None, environ={}, overrides={"agent": agent} if agent else None)


def prepared(project: Project, **agent: Any) -> Prepared:
    """The run of T009 in the project's worktree."""
    built = settings(**agent)
    repo = Repo(project.repo.path, tuple(built.spec.task_files))
    return prepare(
        built,
        repo=repo,
        tree=repo.tree_of(project.base),
        task=TASK,
        worktree=project.worktree,
    )


def run_agent(
    project: Project,
    url: str,
    transcript: Path,
    *,
    clock: FakeClock | None = None,
    policy: RetryPolicy | None = None,
    max_output_tokens: int = 1024,
    timeout: float = 30.0,
    **agent: Any,
) -> Outcome:
    """Run T009's agent against the API at ``url`` until it ends."""
    setup = prepared(project, **agent)
    spec = replace(setup.spec, max_output_tokens=max_output_tokens, request_timeout=timeout)
    clock = clock or FakeClock()
    gates = WorktreeGates(project.worktree, project.base, (setup.task.id,), setup.agent.rules)
    model = AnthropicModel(base_url=url, api_key=SecretStr(API_KEY))
    runner = Runner(
        model,
        setup.workspace,
        gates,
        Transcript(transcript, secrets=[API_KEY]),
        # A seeded generator: the jitter repeats from run to run.
        retrier=Retrier(policy or RetryPolicy(), clock.sleep, clock, random.Random(7)),  # noqa: S311
        clock=clock,
    )

    async def go() -> Outcome:
        try:
            return await runner.run(spec)
        finally:
            await model.close()

    return asyncio.run(go())


def events(transcript: Path) -> list[dict[str, Any]]:
    """The transcript's events."""
    return [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines()]
