"""After publishing: merged pull requests settle their jobs as done, closed ones as closed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemon.demo.modelserver import FakeMessagesAPI
from daemon.forge.local import LocalForge
from daemon.git.write import PushAuth, fetch
from daemon.service.main import build
from daemon.settings import load_settings
from daemon.store.lifecycle import JobState
from tests.service.support import Upstream, implement, write_config


def test_merged_prs_settle_as_done_and_closed_ones_as_closed(tmp_path):
    """`once` publishes two PRs; merging one and closing the other settles both jobs."""
    upstream = Upstream(tmp_path)
    clone = tmp_path / "clone"
    with FakeMessagesAPI() as model:
        model.responder = implement
        config = write_config(
            tmp_path / "speckitd.toml",
            state=tmp_path / "state",
            clone=clone,
            remote=upstream.remote,
            model_url=model.url,
        )
        settings = load_settings(config, environ={})
        service = build(settings)
        fetch(clone, PushAuth())
        asyncio.run(service.once())  # first sight
        upstream.approve("T006", "T007")
        fetch(clone, PushAuth())
        asyncio.run(service.once())
    jobs = {job.task_id: job for job in service.store.jobs()}
    assert {job.state for job in jobs.values()} == {JobState.PUBLISHED}
    forge = LocalForge(Path(settings.daemon.state_dir))
    merged, closed = jobs["T006"], jobs["T007"]
    upstream.work.git("fetch", "-q", "origin", merged.branch)
    upstream.work.git("merge", "-q", "--no-ff", "-m", "Merge T006", "FETCH_HEAD")
    upstream.work.git("push", "-q", "origin", "main")
    forge.update_pull("acme/todo", closed.pr_number, state="closed")
    assert service.follow_up() == 1  # the clone has not fetched the merge yet: only the close
    fetch(clone, PushAuth())
    assert service.follow_up() == 1
    states = {job.task_id: job.state for job in service.store.jobs()}
    assert states == {"T006": JobState.DONE, "T007": JobState.CLOSED}
    assert forge.find_pull("acme/todo", merged.branch).merged
    service.close()
