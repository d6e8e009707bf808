"""A run killed mid-way resumes from its transcript without repeating a tool call."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from daemon.agent.outcome import Ending
from daemon.demo.modelserver import FakeMessagesAPI, Reply, tool_use
from tests.agent.support import SERVICE, events, make_project, run_agent

ROOT = Path(__file__).resolve().parents[2]
PATH = "backend/app/services/tasks.py"
LINES = SERVICE.count("\n")


def turn(n: int, hold: threading.Event | None = None) -> Reply:
    """Turn ``n`` of six: create the file, append four notes (not idempotent), complete."""
    if n == 1:
        data = {"command": "create", "path": PATH, "file_text": SERVICE}
        name = "str_replace_based_edit_tool"
    elif n < 6:
        data = {
            "command": "insert",
            "path": PATH,
            "insert_line": LINES + n - 2,
            "insert_text": f"# note {n}\n",
        }
        name = "str_replace_based_edit_tool"
    else:
        name, data = "complete_task", {"summary": "s", "assumptions": [], "spec_refs": []}
    return Reply.message([tool_use(f"toolu_{n}", name, data)], "tool_use", hold=hold)


def test_killed_after_turn_3_of_6_resumes_without_repeating_tool_calls(tmp_path):
    """SIGKILL while turn 4 is in flight; the resumed run sends turn 4 again, runs 4-6 once."""
    reference = make_project(tmp_path, "reference")
    with FakeMessagesAPI() as fake:
        fake.script(*(turn(n) for n in range(1, 7)))
        assert run_agent(reference, fake.url, tmp_path / "ref.jsonl").ending is Ending.COMPLETED

    project = make_project(tmp_path, "killed")
    transcript = tmp_path / "run.jsonl"
    hold = threading.Event()
    with FakeMessagesAPI() as fake:
        fake.script(turn(1), turn(2), turn(3), turn(4, hold))
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.agent.killable",
                str(project.repo.path),
                str(project.worktree),
                project.base,
                fake.url,
                str(transcript),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            fake.wait_for_requests(4, timeout=60)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            hold.set()
            if child.poll() is None:
                child.kill()
            child.communicate()
        assert child.returncode == -signal.SIGKILL
        assert not any(e["event"] == "outcome" for e in events(transcript))
        fake.script(turn(4), turn(5), turn(6))
        outcome = run_agent(project, fake.url, transcript)

    assert outcome.ending is Ending.COMPLETED
    assert len(fake.requests) == 7
    # The resumed run's first request is the killed run's fourth, byte for byte.
    assert fake.requests[4].body == fake.requests[3].body
    tools = [e["id"] for e in events(transcript) if e["event"] == "tool"]
    assert tools == ["toolu_1", "toolu_2", "toolu_3", "toolu_4", "toolu_5"]
    assert project.read(PATH) == reference.read(PATH)
    assert project.read(PATH).count("# note") == 4
    assert outcome.turns == 6  # the killed turn 4 was never answered, so it is not counted
