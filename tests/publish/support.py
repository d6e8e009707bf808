"""A repository with a bare remote, a task worktree with the agent's work, and a publisher."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from daemon.agent.outcome import Ending, Outcome, Usage
from daemon.forge.base import Forge
from daemon.git.write import add_worktree
from daemon.naming import branch_name
from daemon.publish.bodies import Job, SpecLink
from daemon.publish.publisher import PublishConfig, Publisher
from daemon.spec.model import Task
from daemon.spec.tasks import parse_tasks
from tests.agent.support import SERVICE, make_project
from tests.gitrepo import BOB, GitRepo

TASK_PATH = "specs/001-todo/tasks.md"
SERVICE_PATH = "backend/app/services/tasks.py"

COMPLETED = Outcome(
    Ending.COMPLETED,
    summary="Added the task service; thanks @bob, fixes #3",
    assumptions=("tasks are never shared",),
    spec_refs=("plan.md §3.1",),
    turns=4,
    usage=Usage(1200, 300, 9000, 800, 0.0421, 4),
    files=(SERVICE_PATH,),
)
CLARIFY = Outcome(
    Ending.CLARIFICATION,
    missing="whether archived tasks are listed",
    consulted=("spec.md §FR-003",),
    questions=("Are archived tasks listed?",),
)


@dataclass
class Site:
    """The main repository (watched branch main), its bare remote, and a task worktree."""

    repo: GitRepo
    remote: Path
    worktree: Path
    base: str
    task: Task
    root: Path

    def job(self, **changes: object) -> Job:
        """The publish job of T009 approved at the current base."""
        job = Job(
            repo="acme/todo",
            task_id=self.task.id,
            key=self.task.key,
            title=self.task.title,
            digest=self.task.digest,
            task_path=TASK_PATH,
            task_line=self.task.line,
            approving_commit=self.base,
            approver="alice",
            refs=(SpecLink("plan.md §3.1", "specs/001-todo/plan.md", 18),),
            transcript="/var/lib/speckitd/runs/1/transcript.jsonl",
            rules=frozenset({"SK001", "SK002"}),
        )
        return replace(job, **changes)  # type: ignore[arg-type]

    @property
    def branch(self) -> str:
        """The task's branch."""
        return branch_name(self.task.key, self.task.title)

    def task_file(self) -> bytes:
        """The task file at the base commit (the watched branch)."""
        return self.repo.git("show", f"{self.base}:{TASK_PATH}").encode() + b"\n"

    def remote_git(self, *args: str) -> str:
        """Run git in the bare remote (re-running ``git init`` on it changes nothing)."""
        return GitRepo(self.remote, bare=True).git(*args)

    def remote_commits(self) -> list[str]:
        """The subjects of the bot branch's commits on the remote that main lacks."""
        out = self.remote_git("log", "--format=%s", f"main..refs/heads/{self.branch}")
        return out.splitlines()

    def publisher(self, forge: Forge, *, remote: str | None = "origin") -> Publisher:
        """A publisher pushing to ``remote`` (None: branches stay local)."""
        return Publisher(forge, self.repo.path, PublishConfig(remote=remote), base="main")

    def agent_work(self, text: str = SERVICE) -> None:
        """What the agent wrote in the worktree."""
        target = self.worktree / SERVICE_PATH
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def make_site(root: Path) -> Site:
    """The fixture backend on main, pushed to a bare remote, and T009's worktree."""
    project = make_project(root, "unused")
    remote = root / "remote.git"
    GitRepo(remote, bare=True)
    project.repo.git("remote", "add", "origin", str(remote))
    project.repo.git("push", "-q", "origin", "main")
    data = (project.repo.path / TASK_PATH).read_bytes()
    task = parse_tasks(data, TASK_PATH).task("T9")
    assert task is not None
    site = Site(project.repo, remote, root / "wt", project.base, task, root)
    add_worktree(project.repo.path, site.worktree, site.branch, project.base)
    site.agent_work()
    return site


def human_push(site: Site, root: Path) -> str:
    """Bob pushes a commit of his own onto the bot's branch on the remote."""
    clone = GitRepo(root / "bob")
    clone.git("fetch", "-q", str(site.remote), f"{site.branch}:{site.branch}")
    clone.git("checkout", "-q", site.branch)
    sha = clone.commit("bob's tweak", {"backend/app/services/notes.py": "# bob\n"}, author=BOB)
    clone.git("push", "-q", str(site.remote), f"{site.branch}:{site.branch}", author=BOB)
    return sha
