"""The daemon end to end: a process watching a clone of a bare remote, a scripted model."""

from __future__ import annotations

import signal

from daemon.cli import main
from daemon.demo.modelserver import FakeMessagesAPI
from daemon.forge.local import LocalForge
from tests.fakegithub import FakeGitHub
from tests.service.support import Daemon, Upstream, implement, write_config


def test_a_push_approving_three_tasks_yields_three_prs_then_one_more(tmp_path):
    """3 approvals in one push → 3 PRs in the local forge; 1 more approval → exactly 1 more."""
    upstream = Upstream(tmp_path)
    state = tmp_path / "state"
    with FakeMessagesAPI() as model:
        model.responder = implement
        config = write_config(
            tmp_path / "speckitd.toml",
            state=state,
            clone=tmp_path / "clone",
            remote=upstream.remote,
            model_url=model.url,
        )
        daemon = Daemon(config)
        try:
            daemon.wait_for("scan.first_sight")
            upstream.approve("T006", "T007", "T008")
            done = daemon.wait_for("job.published", 3)
            assert {e["task"] for e in done} == {"T006", "T007", "T008"}
            upstream.approve("T009")
            [last] = daemon.wait_for("job.published")
            assert last["task"] == "T009"
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
    pulls = LocalForge(state).records("acme/todo", "pulls")
    assert sorted(p["title"][:4] for p in pulls) == ["T006", "T007", "T008", "T009"]
    branches = upstream.work.git("ls-remote", "--heads", str(upstream.remote))
    assert branches.count("refs/heads/speckitd/") == 4
    assert not list((state / "worktrees").rglob("*.py"))


def test_the_same_flow_through_the_fake_github(tmp_path):
    """With the github forge, the pushed approvals become pull requests on GitHub."""
    upstream = Upstream(tmp_path)
    with FakeMessagesAPI() as model, FakeGitHub(tokens={"gh-token-1": "bot"}) as github:
        github.add_repo("acme/todo")
        model.responder = implement
        config = write_config(
            tmp_path / "speckitd.toml",
            state=tmp_path / "state",
            clone=tmp_path / "clone",
            remote=upstream.remote,
            model_url=model.url,
            forge="github",
            github_url=github.url,
            token="gh-token-1",  # noqa: S106 - a test token of the fake
        )
        daemon = Daemon(config)
        try:
            daemon.wait_for("scan.first_sight")
            upstream.approve("T006", "T007", "T008")
            daemon.wait_for("job.published", 3)
            upstream.approve("T009")
            daemon.wait_for("job.published")
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
        pulls = github.pulls("acme/todo")
    assert sorted(p["title"][:4] for p in pulls) == ["T006", "T007", "T008", "T009"]
    assert all(p["head"]["ref"].startswith("speckitd/") for p in pulls)


def test_the_demo_runs_offline_and_leaves_a_pr_and_an_issue(tmp_path, capsys):
    """`speckitd demo` shows the flow and ends with one PR and one clarification issue."""
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "2 newly approved task(s) queued" in out
    assert "T009: gates and publish done: pull request" in out
    assert "T010: gates and publish done: clarification issue" in out
    forge = LocalForge(tmp_path / "demo" / "state")
    assert [r["title"][:4] for r in forge.records("demo/todo", "pulls")] == ["T009"]
    assert [r["title"][:4] for r in forge.records("demo/todo", "issues")] == ["T010"]
    assert not list((tmp_path / "demo" / "state" / "worktrees").rglob("*.py"))


PHASES = ["scan.start", "agent.turn", "publish.committed", "publish.pushed", "publish.pull"]


def test_sigkill_at_five_phases_still_gives_one_pr_per_task(tmp_path):
    """Killed during a scan, mid-agent, after the commit, the push and the PR: one PR each."""
    upstream = Upstream(tmp_path)
    state = tmp_path / "state"
    clone = tmp_path / "clone"
    with FakeMessagesAPI() as model:
        model.responder = implement
        config = write_config(
            tmp_path / "speckitd.toml",
            state=state,
            clone=clone,
            remote=upstream.remote,
            model_url=model.url,
        )
        daemon = Daemon(config)
        daemon.wait_for("scan.first_sight")
        upstream.approve("T006", "T007", "T008")
        for phase in PHASES:
            daemon.wait_for(phase)
            assert daemon.kill() == -signal.SIGKILL
            daemon = Daemon(config)
        daemon.wait_for("service.ready")
        assert daemon.kill(signal.SIGTERM) == 0
        assert main(["--config", str(config), "once"]) == 0
    pulls = LocalForge(state).records("acme/todo", "pulls")
    titles = sorted(p["title"][:4] for p in pulls)
    assert titles == ["T006", "T007", "T008"]
    heads = upstream.work.git("ls-remote", "--heads", str(upstream.remote))
    assert heads.count("refs/heads/speckitd/") == 3
    worktrees = upstream.work.git("-C", str(clone), "worktree", "list", "--porcelain")
    assert worktrees.count("worktree ") == 1
    assert not list((state / "worktrees").rglob("*.py"))
