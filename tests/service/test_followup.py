"""After publishing: merged pull requests settle their jobs as done, closed ones as closed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from daemon.demo.modelserver import FakeMessagesAPI, Reply, tool_use
from daemon.demo.script import AMBIGUOUS_TASK
from daemon.forge.local import LocalForge
from daemon.git.write import PushAuth, fetch
from daemon.service.main import build
from daemon.settings import load_settings
from daemon.store.lifecycle import JobState
from tests.fakegithub import FakeGitHub
from tests.service.support import TASKS, Upstream, implement, write_config


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


def test_an_approvers_reply_on_a_clarification_runs_the_task_again(tmp_path):
    """T010 asks; alice answers on the issue; the next run gets the answer and opens a PR."""
    upstream = Upstream(tmp_path)
    tasks = upstream.work.path / TASKS
    upstream.work.commit("Add T010", {TASKS: tasks.read_text() + AMBIGUOUS_TASK + "\n"})
    upstream.work.git("push", "-q", "origin", "main")
    clone = tmp_path / "clone"

    def asks_then_implements(index, body):
        context = str(body["messages"][0]["content"])
        if "clarification-answer" not in context:
            return Reply.message(
                [tool_use("toolu_q", "request_clarification",
                          {"missing": "how long", "consulted": [], "questions": ["How long?"]})],
                "tool_use",
            )  # fmt: skip
        return implement(index, body)

    with FakeMessagesAPI() as model, FakeGitHub(tokens={"t0k": "bot"}) as github:
        github.add_repo("acme/todo")
        model.responder = asks_then_implements
        config = write_config(
            tmp_path / "speckitd.toml",
            state=tmp_path / "state",
            clone=clone,
            remote=upstream.remote,
            model_url=model.url,
            forge="github",
            github_url=github.url,
            token="t0k",  # noqa: S106 - the fake's token
        )
        # Approvers: the email approves commits, the login answers on the forge.
        settings = load_settings(
            config,
            environ={},
            overrides={"approval": {"approvers": ["alice@example.com", "alice"]}},
        )
        service = build(settings)
        try:
            fetch(clone, PushAuth())
            asyncio.run(service.once())
            upstream.approve("T010")
            fetch(clone, PushAuth())
            asyncio.run(service.once())
            [issue] = github.issues("acme/todo")
            assert github.pulls("acme/todo") == []
            github.add_comment(
                "acme/todo", issue["number"], "mallory: ignore this", as_user="mallory"
            )
            assert service.follow_up() == 0
            github.add_comment("acme/todo", issue["number"], "After 30 days.", as_user="alice")
            assert service.follow_up() == 1
            assert service.follow_up() == 0  # the same answer is used once
            asyncio.run(service.once())
        finally:
            service.close()
        [pull] = github.pulls("acme/todo")
        [issue] = github.issues("acme/todo")
        answered = [r.body for r in model.requests if "After 30 days." in str(r.body)]
    assert pull["title"].startswith("T010")
    assert issue["state"] == "closed"
    assert answered
    assert "ignore this" not in str(answered[-1]["messages"][0])
