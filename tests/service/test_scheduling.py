"""When jobs start: dependencies, first sight of a repository, backfill, SIGTERM."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time

from daemon.demo.modelserver import FakeMessagesAPI
from daemon.forge.local import LocalForge
from daemon.naming import branch_name
from daemon.spec.ids import task_key
from daemon.spec.tasks import parse_tasks
from tests.service.support import TASKS, Daemon, Upstream, implement, write_config

MANY = [f"T1{n:02d}" for n in range(1, 21)]


def config_for(tmp_path, upstream, model, name="speckitd.toml", state="state"):
    return write_config(
        tmp_path / name,
        state=tmp_path / state,
        clone=tmp_path / f"clone-{state}",
        remote=upstream.remote,
        model_url=model.url,
    )


def test_a_dependent_task_waits_until_its_dependency_is_merged(tmp_path):
    """T011 depends on T009: it waits; merging T009's PR ticks T009 and T011 starts by itself."""
    upstream = Upstream(tmp_path)
    tasks = upstream.work.path / TASKS
    tasks.write_text(
        tasks.read_text() + "- [ ] T011 Add a helper module, depends on T009 (plan.md §3.1)\n"
    )
    upstream.work.commit("Add T011")
    upstream.work.git("push", "-q", "origin", "main")
    with FakeMessagesAPI() as model:
        model.responder = implement
        daemon = Daemon(config_for(tmp_path, upstream, model))
        try:
            daemon.wait_for("scan.first_sight")
            upstream.approve("T009", "T011")
            [scan] = daemon.wait_for(
                "scan.done", where=lambda e: e.get("queued") or e.get("waiting")
            )
            assert (scan["queued"], scan["waiting"]) == (1, 1)
            [first] = daemon.wait_for("job.published")
            assert first["task"] == "T009"
            heads = upstream.work.git("ls-remote", "--heads", "origin", "speckitd/*")
            [branch] = [line.split("refs/heads/")[1] for line in heads.splitlines()]
            upstream.work.git("fetch", "-q", "origin", branch)
            upstream.work.git("merge", "-q", "--no-ff", "-m", "Merge T009", "FETCH_HEAD")
            upstream.work.git("push", "-q", "origin", "main")
            [second] = daemon.wait_for("job.published")
            assert second["task"] == "T011"
        finally:
            assert daemon.kill(signal.SIGTERM) == 0


def with_many_approved(tmp_path):
    upstream = Upstream(tmp_path)
    tasks = upstream.work.path / TASKS
    extra = "".join(f"- [ ] {t} [approved] Add module {t} (plan.md §3.1)\n" for t in MANY)
    upstream.work.commit("Twenty approved tasks", {TASKS: tasks.read_text() + extra})
    upstream.work.git("push", "-q", "origin", "main")
    return upstream


def test_first_sight_of_a_repository_with_approved_tasks_starts_nothing(tmp_path):
    """20 approved open tasks already there: the daemon records the tip and runs none."""
    upstream = with_many_approved(tmp_path)
    with FakeMessagesAPI() as model:
        model.responder = implement
        daemon = Daemon(config_for(tmp_path, upstream, model))
        try:
            daemon.wait_for("scan.first_sight")
            upstream.work.commit("An unrelated change", {"README.md": "hello\n"})
            upstream.work.git("push", "-q", "origin", "main")
            daemon.wait_for("scan.done")
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
    assert not any('"job.start"' in line for line in daemon.lines)
    assert model.requests == []


def test_backfill_starts_exactly_the_approved_tasks_without_a_pr(tmp_path):
    """--backfill on first sight: the 20 approved tasks, less the 2 that have a PR already."""
    upstream = with_many_approved(tmp_path)
    forge = LocalForge(tmp_path / "state")
    parsed = parse_tasks((upstream.work.path / TASKS).read_bytes(), TASKS)
    for task in MANY[:2]:
        found = parsed.task(task_key(task))
        branch = branch_name(found.key, found.title)
        forge.open_pull("acme/todo", head=branch, base="main", title=task, body="made by hand")
    with FakeMessagesAPI() as model:
        model.responder = implement
        daemon = Daemon(config_for(tmp_path, upstream, model), "--backfill")
        try:
            done = daemon.wait_for("job.published", 18, timeout=180)
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
    assert sorted(e["task"] for e in done) == MANY[2:]
    assert len(forge.records("acme/todo", "pulls")) == 20


def test_sigterm_during_a_run_exits_0_and_the_run_resumes(tmp_path):
    """SIGTERM mid-run: exit 0 within the stop timeout; after a restart the run completes.

    The agent is waiting on the model when the signal comes, so the run is cancelled at
    that checkpoint; the restarted daemon queues it again and it resumes.
    """
    upstream = Upstream(tmp_path)
    stalled = threading.Event()

    def slow_first(index, body):
        reply = implement(index, body)
        return dataclasses.replace(reply, hold=stalled) if index == 0 else reply

    with FakeMessagesAPI() as model:
        model.responder = slow_first
        config = write_config(
            tmp_path / "speckitd.toml",
            state=tmp_path / "state",
            clone=tmp_path / "clone",
            remote=upstream.remote,
            model_url=model.url,
            stop_timeout=3,
        )
        daemon = Daemon(config)
        daemon.wait_for("scan.first_sight")
        upstream.approve("T006")
        model.wait_for_requests(1, timeout=60)
        started = time.monotonic()
        assert daemon.kill(signal.SIGTERM, timeout=60) == 0
        assert time.monotonic() - started < 3
        assert any('"cancelled": 1' in line for line in daemon.lines)
        stalled.set()
        daemon = Daemon(config)
        try:
            [done] = daemon.wait_for("job.published")
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
    assert done["task"] == "T006"
    assert len(LocalForge(tmp_path / "state").records("acme/todo", "pulls")) == 1


def test_sighup_reloads_the_configuration_in_the_same_process(tmp_path):
    """SIGHUP: the daemon starts again from the edited settings file, with the same PID."""
    upstream = Upstream(tmp_path)
    other = Upstream(tmp_path / "other")
    with FakeMessagesAPI() as model:
        model.responder = implement
        config = config_for(tmp_path, upstream, model)
        daemon = Daemon(config)
        try:
            daemon.wait_for("scan.first_sight")
            pid = daemon.process.pid
            config.write_text(
                config.read_text()
                + f'\n[[repos]]\nname = "acme/other"\npath = "{tmp_path / "clone-other"}"\n'
                f'url = "{other.remote}"\nbranch = "main"\npoll_seconds = 1\n'
            )
            daemon.process.send_signal(signal.SIGHUP)
            daemon.wait_for("service.reexec")
            daemon.wait_for("scan.first_sight", where=lambda e: e.get("repo") == "acme/other")
            assert daemon.process.pid == pid
            assert daemon.process.poll() is None
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
