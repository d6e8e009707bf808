"""A daemon process against real repositories.

A bare remote, the daemon's clone, a scripted model, and the daemon's JSON log lines
read as events (no sleeping).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.demo.modelserver import Reply, tool_use
from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "daemon" / "demo" / "sample-repo"
TASKS = "specs/001-todo/tasks.md"
CONSTITUTION = "# Constitution\n\n## I. Spec first\n\nEvery change cites the spec.\n"
_TASK = re.compile(r'<task id="([^"]+)"[^>]*>\n(.*?)\n</task>', re.S)
_REF = re.compile(r"\((\S+\.md §[\w.-]+)\)")


def implement(_index: int, body: dict[str, Any]) -> Reply:
    """A scripted agent for any fixture task: write one cited, typed module, then complete."""
    context = " ".join(block.get("text", "") for block in body["messages"][0]["content"])
    found = _TASK.search(context)
    task_id, line = (found.group(1), found.group(2)) if found else ("T000", "")
    ref = _REF.search(line)
    cite = ref.group(1) if ref else "plan.md §3.1"
    name = task_id.lower()
    source = (
        f'"""\n[Task]: {task_id}\n[From]: {cite}\n[Description]: Work for {task_id}.\n"""\n\n\n'
        f"def {name}_ready() -> bool:\n"
        f'    """Whether {task_id} is in place."""\n'
        "    return True\n"
    )
    turn = sum(m["role"] == "assistant" for m in body["messages"])
    if turn == 0:
        data = {"command": "create", "path": f"backend/app/services/{name}.py", "file_text": source}
        return Reply.message([tool_use("toolu_1", "str_replace_based_edit_tool", data)], "tool_use")
    done = {"summary": f"{task_id} done", "assumptions": [], "spec_refs": [cite]}
    return Reply.message([tool_use("toolu_2", "complete_task", done)], "tool_use")


class Upstream:
    """The team's side: a bare remote and a working clone that pushes to it."""

    def __init__(self, root: Path) -> None:
        self.remote = root / "remote.git"
        GitRepo(self.remote, bare=True)
        self.work = GitRepo(root / "team")
        shutil.copytree(SAMPLE, self.work.path, dirs_exist_ok=True)
        self.work.write(".specify/memory/constitution.md", CONSTITUTION)
        self.work.commit("Add the Todo API and its specs")
        self.work.git("remote", "add", "origin", str(self.remote))
        self.work.git("push", "-q", "origin", "main")

    def approve(self, *task_ids: str) -> str:
        """Mark tasks approved in one commit and push it; the pushed commit."""
        path = self.work.path / TASKS
        text = path.read_text()
        for task in task_ids:
            text = text.replace(f"- [ ] {task} ", f"- [ ] {task} [approved] ")
        sha = self.work.commit(f"Approve {', '.join(task_ids)}", {TASKS: text})
        self.work.git("push", "-q", "origin", "main")
        return sha


def write_config(
    path: Path,
    *,
    state: Path,
    clone: Path,
    remote: Path | None,
    model_url: str,
    forge: str = "local",
    github_url: str = "",
    token: str = "",
    secret: str = "",
    stop_timeout: int = 60,
) -> Path:
    """A settings file for the daemon under test (HTTP on a free port)."""
    github = f'\n[forge.github]\napi_url = "{github_url or "http://127.0.0.1:9"}"\n'
    github += f'token = "{token}"\nwebhook_secret = "{secret}"\n'
    url = f'url = "{remote}"\n' if remote is not None else ""
    path.write_text(
        f'[daemon]\nstate_dir = "{state}"\nhttp = "127.0.0.1:0"\n'
        f"stop_timeout_seconds = {stop_timeout}\n\n"
        f'[[repos]]\nname = "acme/todo"\npath = "{clone}"\n{url}'
        'branch = "main"\npoll_seconds = 1\n\n'
        '[approval]\napprovers = ["alice@example.com"]\n\n'
        f'[anthropic]\nbase_url = "{model_url}"\napi_key = "test-key"\n\n'
        "[checks]\ncommands = []\n\n"
        f'[forge]\nkind = "{forge}"\n{github}'
    )
    return path


class Daemon:
    """``speckitd run`` in a child process; its log events arrive on a queue."""

    def __init__(self, config: Path, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECKITD_", "ANTHROPIC"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daemon", "--config", str(config), "-v", "run", *extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self.events.put({"event": "process.exit"})

    def wait_for(
        self,
        event: str,
        count: int = 1,
        *,
        timeout: float = 60,
        where: Callable[[dict[str, Any]], bool] = lambda _e: True,
    ) -> list[dict[str, Any]]:
        """The next ``count`` log events named ``event`` (waiting at most ``timeout`` s)."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            try:
                item = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                tail = "".join(self.lines[-30:])
                raise TimeoutError(f"no {event} within {timeout} s:\n{tail}") from None
            if item.get("event") == "process.exit":
                raise RuntimeError(f"the daemon exited:\n{''.join(self.lines[-30:])}")
            if item.get("event") == event and where(item):
                found.append(item)
        return found

    def kill(self, signum: int = signal.SIGKILL, timeout: float = 30) -> int:
        """Send ``signum`` and wait for the process; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
            self._reader.join(timeout=10)
            tail = "".join(self.lines[-20:])
            raise TimeoutError(f"the daemon did not stop within {timeout} s:\n{tail}") from None
        self._reader.join(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return code
