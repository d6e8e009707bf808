"""Publishing through the local forge, to a bare remote: one PR or issue per task, always."""

from __future__ import annotations

import json

import pytest

from daemon.cli import main
from daemon.forge.local import LocalForge
from daemon.git.write import add_worktree, remove_worktree
from daemon.naming import marker
from daemon.publish.branches import prepare_branch
from daemon.trailers import parse as trailers
from tests.publish.support import (
    CLARIFY,
    COMPLETED,
    SERVICE_PATH,
    TASK_PATH,
    human_push,
    make_site,
)


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


def publish(site, forge, outcome=COMPLETED, **job):
    return site.publisher(forge).publish(
        site.job(**job), outcome, site.worktree, task=site.task, task_file=site.task_file()
    )


def test_happy_path_opens_one_pull_request_with_two_commits(site, tmp_path):
    """The agent's commit (with trailers) and the tick commit are pushed; one PR is recorded."""
    forge = LocalForge(tmp_path / "state")
    done = publish(site, forge)
    assert done.kind == "pull"
    assert done.number == 1
    assert site.remote_commits() == ["speckitd: mark T009 done", f"T009: {site.task.title}"]
    message = site.remote_git("log", "-1", "--format=%B", f"{site.branch}~1")
    assert ("Task", "T009") in trailers(message)
    assert ("Speckitd-Digest", site.task.digest[:12]) in trailers(message)
    assert ("Spec-Refs", "plan.md §3.1") in trailers(message)
    ticked = site.remote_git("show", f"{site.branch}:{TASK_PATH}")
    assert "- [x] T009" in ticked
    assert site.remote_git("show", f"{site.branch}:{SERVICE_PATH}").startswith('"""')
    [pull] = forge.records("acme/todo", "pulls")
    assert pull["head"] == site.branch
    assert pull["base"] == "main"
    assert marker("T9", site.task.digest) in pull["body"]
    assert pull["labels"] == ["speckitd"]
    assert pull["reviewers"] == ["alice"]


def test_the_body_says_what_reviewers_need_and_neutralizes_agent_text(site, tmp_path):
    """Task, approval, spec links, summary, gates, usage, transcript; no live mention or closer."""
    forge = LocalForge(tmp_path / "state")
    publish(site, forge)
    body = forge.records("acme/todo", "pulls")[0]["body"]
    for expected in (
        "T009",
        site.base[:12],
        "alice",
        "plan.md §3.1",
        "| SK001 |",
        "$0.0421",
        "transcript.jsonl",
        "Merging marks the task done",
        "```text\nAdded the task service; thanks @bob, fixes #3\n```",
    ):
        assert expected in body


def test_publishing_five_times_leaves_one_branch_one_pr_one_set_of_commits(site, tmp_path):
    """Re-running the publish step, as after crashes, adds nothing."""
    forge = LocalForge(tmp_path / "state")
    for _ in range(5):
        done = publish(site, forge)
        assert done.number == 1
    assert len(forge.records("acme/todo", "pulls")) == 1
    assert len(site.remote_commits()) == 2
    branches = site.remote_git("for-each-ref", "--format=%(refname)", "refs/heads/")
    assert branches.split() == ["refs/heads/main", f"refs/heads/{site.branch}"]


def test_publishing_again_after_the_worktree_is_gone_adds_nothing(site, tmp_path):
    """Clean-up removed the worktree; a rerun recreates it from the kept branch, no new commit."""
    forge = LocalForge(tmp_path / "state")
    publish(site, forge)
    remove_worktree(site.repo.path, site.worktree)
    add_worktree(site.repo.path, site.worktree, site.branch, site.base)
    publish(site, forge)
    assert len(site.remote_commits()) == 2
    assert len(forge.records("acme/todo", "pulls")) == 1


def test_a_clarification_opens_one_issue_and_no_branch(site, tmp_path):
    """A clarification becomes one issue with the questions; reruns find it by marker."""
    forge = LocalForge(tmp_path / "state")
    first = publish(site, forge, CLARIFY)
    again = publish(site, forge, CLARIFY)
    assert first.kind == again.kind == "issue"
    assert first.number == again.number
    [issue] = forge.records("acme/todo", "issues")
    assert "Are archived tasks listed?" in issue["body"]
    assert "spec.md §FR-003" in issue["body"]
    assert "approve it again" in issue["body"]
    assert marker("T9", site.task.digest) in issue["body"]
    assert forge.records("acme/todo", "pulls") == []
    assert site.remote_git("for-each-ref", "refs/heads/speckitd") == ""


def test_a_human_commit_on_the_bot_branch_is_never_pushed_over(site, tmp_path):
    """After Bob pushes to the branch, new work is not pushed; one comment says why."""
    forge = LocalForge(tmp_path / "state")
    publish(site, forge)
    bob = human_push(site, tmp_path)
    site.agent_work(site.worktree.joinpath(SERVICE_PATH).read_text() + "# more\n")
    for _ in range(2):
        done = publish(site, forge)
        assert "did not make" in done.note
    assert site.remote_git("rev-parse", f"refs/heads/{site.branch}") == bob
    comments = forge.comments("acme/todo", 1)
    assert len(comments) == 1
    assert "did not make" in comments[0].body


def test_a_pr_closed_unmerged_is_not_recreated(site, tmp_path):
    """Closing the PR without merging stops the daemon for this approval."""
    forge = LocalForge(tmp_path / "state")
    publish(site, forge)
    forge.update_pull("acme/todo", 1, state="closed")
    done = publish(site, forge)
    assert done.kind == "none"
    assert "closed unmerged" in done.note
    assert len(forge.records("acme/todo", "pulls")) == 1


def test_reapproval_with_a_new_digest_updates_the_open_pr(site, tmp_path):
    """New approval: the branch is rebuilt from our own commits only, and the one PR updated."""
    forge = LocalForge(tmp_path / "state")
    publish(site, forge)
    new_digest = "f" * 64
    remove_worktree(site.repo.path, site.worktree)
    email = "speckitd@localhost"
    assert prepare_branch(site.repo.path, site.branch, site.base, new_digest, email) == "rebuilt"
    add_worktree(site.repo.path, site.worktree, site.branch, site.base)
    site.agent_work("x = 1\n")
    done = publish(site, forge, digest=new_digest)
    assert done.number == 1
    assert len(forge.records("acme/todo", "pulls")) == 1
    body = forge.records("acme/todo", "pulls")[0]["body"]
    assert marker("T9", new_digest) in body
    assert site.remote_git("show", f"{site.branch}:{SERVICE_PATH}") == "x = 1"
    assert len(site.remote_commits()) == 2


def test_without_a_remote_the_branch_stays_local_and_the_record_is_written(site, tmp_path):
    """The local forge needs no network and no remote."""
    forge = LocalForge(tmp_path / "state")
    done = site.publisher(forge, remote=None).publish(
        site.job(), COMPLETED, site.worktree, task=site.task, task_file=site.task_file()
    )
    assert done.kind == "pull"
    assert site.remote_git("for-each-ref", "refs/heads/speckitd") == ""
    log = site.repo.git("log", "--format=%s", f"main..{site.branch}")
    assert log.splitlines()[0] == "speckitd: mark T009 done"
    record = json.loads((tmp_path / "state/forge/acme__todo/pulls/1.json").read_text())
    assert record["state"] == "open"


def test_status_lists_the_local_forge_records(site, tmp_path, capsys):
    """``speckitd status`` shows the PR and the issue, as text and JSON."""
    state = tmp_path / "state"
    forge = LocalForge(state)
    publish(site, forge)
    publish(site, forge, CLARIFY, digest="e" * 64)
    config = tmp_path / "speckitd.toml"
    config.write_text(f'[daemon]\nstate_dir = "{state}"\n')
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "acme/todo" in out
    assert f"PR    #1    open    T009: {site.task.title} [{site.branch}]" in out
    assert "issue #2    open    T009 needs clarification" in out
    assert main(["--config", str(config), "status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "speckitd.status/1"
    assert [(r["kind"], r["number"]) for r in data["repos"][0]["records"]] == [
        ("pull", 1),
        ("issue", 2),
    ]


def test_a_branch_is_reused_for_the_same_approval_and_kept_with_human_work(site, tmp_path):
    """Same digest: reused. A person's commit on it: kept, never reset."""
    forge = LocalForge(tmp_path / "state")
    publish(site, forge)
    repo, email = site.repo.path, "speckitd@localhost"
    remove_worktree(repo, site.worktree)
    assert prepare_branch(repo, site.branch, site.base, site.task.digest, email) == "reused"
    assert prepare_branch(repo, "speckitd/new", site.base, "0" * 64, email) == "created"
    site.repo.git("checkout", "-q", site.branch)
    site.repo.commit("a person's fix", {"backend/app/x.py": "x = 1\n"})
    site.repo.git("checkout", "-q", "main")
    tip = site.repo.head(site.branch)
    said = prepare_branch(repo, site.branch, site.base, "1" * 64, email)
    assert said.startswith("kept")
    assert site.repo.head(site.branch) == tip
