"""Faults the service survives: a crashing job, a lost tip, a second process."""

from __future__ import annotations

import asyncio
import signal

from daemon.cli import main
from daemon.demo.modelserver import FakeMessagesAPI
from daemon.forge.local import LocalForge
from daemon.service.core import Service
from daemon.service.scanning import scan_repository
from daemon.settings import load_settings
from daemon.store.lifecycle import JobState
from daemon.store.sqlite import SqliteStore
from tests.service.support import Daemon, Upstream, implement, write_config


class Exploding:
    """A job runner whose runs fail with an error that is not speckitd's own."""

    def __init__(self, forge):
        self.forge = forge
        self.runs = 0

    async def run(self, job, previous=()):
        """Fail, counting the attempt."""
        self.runs += 1
        raise KeyError("the approving commit is gone")


def settings_for(tmp_path):
    config = tmp_path / "speckitd.toml"
    config.write_text(
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[repos]]\nname = "acme/todo"\npath = "{tmp_path / "repo"}"\n'
    )
    return load_settings(config, environ={})


def test_a_job_that_crashes_is_retried_then_failed_and_the_worker_lives_on(tmp_path):
    """Three attempts of a crashing job, then FAILED with the reason; other jobs still run."""
    settings = settings_for(tmp_path)
    store = SqliteStore(tmp_path / "state" / "speckitd.db")
    runner = Exploding(LocalForge(tmp_path / "state"))
    for key in ("T1", "T2"):
        store.enqueue("acme/todo", key, key * 8, task_id=key, title="t", approving_commit="0" * 40,
                      approver="a@example.com", depends_on=(), now=0.0)  # fmt: skip
    service = Service(settings, store, {"acme/todo": runner}, backoff=0)

    async def drain():
        service._loop = asyncio.get_running_loop()  # as once() does, without scanning
        while (job := store.claim(0.0)) is not None:
            await service._run_job(job)

    asyncio.run(drain())
    jobs = store.jobs()
    assert [job.state for job in jobs] == [JobState.FAILED, JobState.FAILED]
    assert all("KeyError" in job.detail for job in jobs)
    assert runner.runs == 6


def test_a_lost_tip_starts_over_as_on_first_sight(tmp_path):
    """A recorded tip that no longer exists is replaced, and nothing is queued."""
    upstream = Upstream(tmp_path)
    settings = load_settings(
        write_config(
            tmp_path / "c.toml",
            state=tmp_path / "state",
            clone=upstream.work.path,
            remote=None,
            model_url="http://127.0.0.1:9",
        ),
        environ={},
    )
    store = SqliteStore(tmp_path / "state" / "speckitd.db")
    store.set_tip("acme/todo", "f" * 40, 0.0)
    upstream.approve("T006")
    summary = scan_repository(settings, settings.repos[0], store, now=1.0)
    assert summary.first_sight
    assert store.repo("acme/todo").tip == upstream.work.head()
    assert store.jobs() == []


def test_a_second_process_on_the_same_state_directory_is_refused(tmp_path, capsys):
    """`speckitd once` while `speckitd run` holds the state directory: exit 2, nothing taken."""
    upstream = Upstream(tmp_path)
    with FakeMessagesAPI() as model:
        model.responder = implement
        config = write_config(
            tmp_path / "speckitd.toml",
            state=tmp_path / "state",
            clone=tmp_path / "clone",
            remote=upstream.remote,
            model_url=model.url,
        )
        daemon = Daemon(config)
        try:
            daemon.wait_for("service.ready")
            assert main(["--config", str(config), "once"]) == 2
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
    assert "another speckitd process is using this state directory" in capsys.readouterr().err
