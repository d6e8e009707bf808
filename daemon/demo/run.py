"""``speckitd demo``: the whole flow on this machine, offline, in under a minute.

It makes a sample FastAPI + SQLModel repository with spec-kit documents, starts the
real daemon on it (watcher, scan, store, workers, gates, publisher, local forge) with
a built-in scripted model server, and then approves two tasks in a commit, as a
person would. The daemon notices the push, runs the agent for T009 (a pull request
in the local forge) and for T010 (ambiguous by design: a clarification issue).
``--live`` uses the real model with ``ANTHROPIC_API_KEY`` instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from daemon.demo.modelserver import FakeMessagesAPI
from daemon.demo.script import AMBIGUOUS_TASK, respond
from daemon.errors import EXIT_FAILURE, EXIT_OK, UsageError
from daemon.forge.local import LocalForge
from daemon.git.cli import run_git
from daemon.service.core import Service
from daemon.service.main import build, serve
from daemon.settings import Settings, load_settings

SAMPLE: Final = Path(__file__).parent / "sample-repo"
REPO: Final = "demo/todo"
TASKS: Final = "specs/001-todo/tasks.md"
CONSTITUTION: Final = """# Todo API Constitution

## I. Spec first
Every change cites the spec section it implements.

## II. Users see only their own tasks
Every query on a user's data filters by the authenticated user.
"""
ALICE: Final = {"name": "Alice Approver", "email": "alice@example.com"}
_DEADLINE: Final = 120.0


def _git(repo: Path, *args: str) -> None:
    """Git in the sample repository, as Alice (the daemon's safe git environment)."""
    who = {"NAME": ALICE["name"], "EMAIL": ALICE["email"]}
    identity = {
        f"GIT_{role}_{key}": value for role in ("AUTHOR", "COMMITTER") for key, value in who.items()
    }
    run_git(list(args), cwd=repo, env=identity)


def make_sample(repo: Path) -> None:
    """The sample repository: the Todo backend, its specs and a constitution, on main."""
    shutil.copytree(SAMPLE, repo, symlinks=False)
    (repo / ".specify" / "memory").mkdir(parents=True)
    (repo / ".specify" / "memory" / "constitution.md").write_text(CONSTITUTION)
    tasks = repo / TASKS
    tasks.write_text(tasks.read_text() + AMBIGUOUS_TASK + "\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Add the Todo API and its specs")


def approve(repo: Path) -> None:
    """Alice approves T009 and T010 with the checklist marker, in one commit."""
    tasks = repo / TASKS
    text = tasks.read_text()
    for task in ("T009", "T010"):
        text = text.replace(f"- [ ] {task} ", f"- [ ] {task} [approved] ")
    tasks.write_text(text)
    _git(repo, "commit", "-q", "-am", "Approve T009 and T010")


def demo_settings(root: Path, base_url: str, api_key: str) -> Settings:
    """Settings for the demo: one local repository, the local forge, no checks to run."""
    return load_settings(
        None,
        environ={},
        overrides={
            "daemon": {"state_dir": str(root / "state"), "http": "127.0.0.1:0"},
            "repos": [{"name": REPO, "path": str(root / "todo"), "branch": "main"}],
            "approval": {"approvers": [ALICE["email"]]},
            "anthropic": {"base_url": base_url, "api_key": api_key},
            "checks": {"commands": []},
            "publish": {"remote": ""},
        },
    )


class _Progress:
    def __init__(self, service_box: list[Service], expected: int) -> None:
        self.started = time.monotonic()
        self.box = service_box
        self.expected = expected
        self.done = 0

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:5.1f}s] {text}", flush=True)

    def __call__(self, name: str, data: dict[str, Any]) -> None:
        if name == "scan" and data.get("queued"):
            self.say(f"scan of {data['repo']}: {data['queued']} newly approved task(s) queued")
        elif name == "job.start":
            self.say(f"agent started on {data['task']}")
        elif name == "job.failed":
            self.say(f"{data.get('task')}: failed: {data.get('error')}")
            self.done += 1
            if self.done >= self.expected and self.box:
                self.box[0].stop()
        elif name == "job.done":
            usage = data["usage"]
            kind = {"pull": "pull request", "issue": "clarification issue"}.get(
                str(data["kind"]), "nothing"
            )
            self.say(
                f"{data.get('task', 'job')}: gates and publish done: {kind} #{data.get('number')} "
                f"({getattr(usage, 'requests', 0)} model requests, {data['seconds']:.1f}s)"
            )
            self.done += 1
            if self.done >= self.expected and self.box:
                self.box[0].stop()


async def _run(root: Path, settings: Settings, progress: _Progress) -> None:
    service = build(settings)
    progress.box.append(service)
    repo = root / "todo"
    loop = asyncio.get_running_loop()

    def approve_when_ready() -> None:
        progress.say("daemon ready, watching the repository (first sight: nothing runs)")
        progress.say("Alice approves T009 and T010 in one commit")
        loop.call_soon(lambda: loop.run_in_executor(None, approve, repo))

    service.on_event = progress
    run = asyncio.create_task(serve(service, settings, ready=approve_when_ready))
    try:
        await asyncio.wait_for(asyncio.shield(run), timeout=_DEADLINE)
    except TimeoutError:
        service.stop()
        await run
        raise
    finally:
        service.close()


def demo(folder: Path | None, *, live: bool = False) -> int:
    """Run the demo in ``folder`` (default: a new temporary folder)."""
    root = (folder or Path(tempfile.mkdtemp(prefix="speckitd-demo-"))).resolve()
    if (root / "todo").exists():
        raise UsageError(f"{root} already holds a demo; choose another --dir")
    root.mkdir(parents=True, exist_ok=True)
    make_sample(root / "todo")
    print(f"sample repository: {root / 'todo'}")
    progress = _Progress([], expected=2)
    try:
        if live:
            key = os.environ.get("ANTHROPIC_API_KEY", "")
            if not key:
                raise UsageError("--live needs ANTHROPIC_API_KEY")
            settings = demo_settings(root, "https://api.anthropic.com", key)
            asyncio.run(_run(root, settings, progress))
        else:
            with FakeMessagesAPI() as server:
                server.responder = respond
                progress.say(f"scripted model server on {server.url}")
                asyncio.run(_run(root, demo_settings(root, server.url, "demo"), progress))
    except TimeoutError:
        print("speckitd: error: the demo did not finish in time", file=sys.stderr)
        return EXIT_FAILURE
    forge = LocalForge(root / "state")
    for kind in ("pulls", "issues"):
        for record in forge.records(REPO, kind):
            label = "pull request" if kind == "pulls" else "issue"
            print(f"\n{label} #{record['number']}: {record['title']}\n  {record['url']}")
    print(f"\nlist them again: speckitd --config {root / 'speckitd.toml'} status")
    (root / "speckitd.toml").write_text(f'[daemon]\nstate_dir = "{root / "state"}"\n')
    return EXIT_OK
