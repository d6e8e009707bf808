"""The cycle collector paused while scans run (daemon.collector)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon import collector
from daemon.detect import Detector, Policy, Snapshot
from daemon.git import Repo
from daemon.scan import Parser, Scanner
from daemon.spec.layout import DEFAULT_TASK_FILES
from tests.gitrepo import GitRepo


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_paused_within_and_resumed_after_even_on_error():
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("scan failed")
    assert gc.isenabled()


def test_an_interrupt_as_the_pause_begins_leaves_the_collector_on(
    monkeypatch: pytest.MonkeyPatch,
):
    """A KeyboardInterrupt right after the collector is turned off still turns it back on."""
    turn_off = gc.disable

    def interrupted() -> None:
        turn_off()
        raise KeyboardInterrupt  # as a signal handler may, once the call returns

    monkeypatch.setattr(gc, "disable", interrupted)
    with pytest.raises(KeyboardInterrupt), collector.paused():
        pytest.fail("the block must not run")
    monkeypatch.undo()
    assert gc.isenabled()
    assert collector._PAUSES.holders == 0
    with collector.paused():  # and the next pause works as before
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_kept_off_stays_off():
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()


def test_overlapping_blocks_resume_after_the_last():
    """Two threads' scans: the first to end leaves the collector paused for the other."""
    entered, first_ended, done = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with collector.paused():
            entered.set()
            assert first_ended.wait(timeout=30)
            seen.append(gc.isenabled())
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(timeout=30)
    with collector.paused():
        pass
    first_ended.set()
    assert done.wait(timeout=30)
    thread.join(timeout=30)
    assert seen == [False]  # still paused: the other thread's block had not ended
    assert gc.isenabled()


def test_a_scan_runs_with_the_collector_paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    git = GitRepo(tmp_path / "repo")
    git.commit("tasks", {"specs/001-a/tasks.md": "# Tasks\n\n- [ ] T001 [approved] One\n"})
    states: list[bool] = []
    feed = Detector.feed

    def watched(self: Detector, snapshot: Snapshot) -> None:
        states.append(gc.isenabled())
        feed(self, snapshot)

    monkeypatch.setattr(Detector, "feed", watched)
    repo = Repo(git.path, DEFAULT_TASK_FILES)
    scanner = Scanner(repo, Policy(), Parser())
    report = scanner.scan(repo.resolve("HEAD"))
    assert [a.task_id for a in report.result.approved] == ["T001"]
    scanner.state_at(repo.resolve("HEAD"))
    assert states == [False, False]  # the scan's commit, then state_at's replay of it
    assert gc.isenabled()


def test_overlapping_scans_collect_now_and_then(monkeypatch: pytest.MonkeyPatch):
    """Scans that keep overlapping still let a collection run every LONGEST_PAUSE seconds."""
    now = [0.0]
    monkeypatch.setattr(collector._PAUSES, "clock", lambda: now[0])
    runs: list[str] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(phase)

    gc.callbacks.append(watch)
    try:
        with collector.paused():
            with collector.paused():  # another thread's scan, ending before the first
                pass
            assert runs == []  # a short overlap: no collection
            with collector.paused():
                now[0] += collector.LONGEST_PAUSE + 1
            assert runs == ["start"]  # a long one: one collection as the inner scan ended
            assert not gc.isenabled()
    finally:
        gc.callbacks.remove(watch)
    assert gc.isenabled()
