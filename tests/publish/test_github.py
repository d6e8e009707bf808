"""Publishing through the GitHub forge (against the fake GitHub) and a bare-repository remote."""

from __future__ import annotations

import random
import ssl
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from daemon.forge.github import GitHub
from daemon.forge.githubauth import AppAuth, TokenAuth
from daemon.git.write import add_worktree, remove_worktree
from daemon.naming import marker
from daemon.publish.branches import prepare_branch
from tests.fakegithub import FakeGitHub
from tests.publish.support import CLARIFY, COMPLETED, SERVICE_PATH, human_push, make_site

REPO = "acme/todo"
TOKEN = "canary-github-token-7c1d"  # noqa: S105 - a canary, not a credential
APP_ID = 777
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}


class Clock:
    """Fake time; ``sleep`` jumps ahead."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        """The current time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once."""
        self.now += seconds


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def tls():
    return ssl.create_default_context()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock, key) -> Iterator[FakeGitHub]:
    numbers = key.public_key().public_numbers()
    with FakeGitHub(
        tokens={TOKEN: "speckitd-bot"},
        app_id=APP_ID,
        app_key=(numbers.n, numbers.e),
        clock=clock,
        repos=[REPO],
    ) as server:
        yield server


def github(fake, clock, tls, auth=None) -> GitHub:
    return GitHub(
        fake.url,
        auth or TokenAuth(SecretStr(TOKEN)),
        transport=httpx.HTTPTransport(verify=tls),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(3),  # noqa: S311 - reproducible jitter
    )


@pytest.fixture
def site(tmp_path):
    return make_site(tmp_path)


def publish(site, forge, outcome=COMPLETED, **job):
    return site.publisher(forge).publish(
        site.job(repo=REPO, **job),
        outcome,
        site.worktree,
        task=site.task,
        task_file=site.task_file(),
    )


def test_happy_path_opens_one_pull_request(site, fake, clock, tls):
    """One PR from the task branch into main, labelled, the approver asked to review."""
    fake.set_permission(REPO, "alice", "write")
    with github(fake, clock, tls) as forge:
        done = publish(site, forge)
    [pull] = fake.pulls(REPO)
    assert done.number == pull["number"]
    assert pull["head"]["ref"] == site.branch
    assert pull["base"]["ref"] == "main"
    assert marker("T9", site.task.digest) in pull["body"]
    assert [label["name"] for label in pull["labels"]] == ["speckitd"]
    assert fake.requested_reviewers(REPO, pull["number"]) == ["alice"]
    assert len(site.remote_commits()) == 2


def test_a_clarification_opens_one_issue(site, fake, clock, tls):
    """A clarification outcome opens one labelled issue; a rerun finds it."""
    with github(fake, clock, tls) as forge:
        first = publish(site, forge, CLARIFY)
        again = publish(site, forge, CLARIFY)
    [issue] = fake.issues(REPO)
    assert first.number == again.number == issue["number"]
    assert "Are archived tasks listed?" in issue["body"]
    assert fake.pulls(REPO) == []


def test_create_then_502_leaves_exactly_one_pull_request(site, fake, clock, tls):
    """GitHub creates the PR but answers 502: the publisher finds it instead of a second."""
    fake.fail_next("POST", r"/pulls$", 502, after_effect=True)
    with github(fake, clock, tls) as forge:
        done = publish(site, forge)
    assert len(fake.pulls(REPO)) == 1
    assert done.number == fake.pulls(REPO)[0]["number"]
    assert fake.count("POST", r"/pulls$") == 1


def test_a_pull_request_already_exists_422_is_looked_up(site, fake, clock, tls):
    """A PR opened meanwhile (GitHub answers 422) is found and used; still one PR."""
    fake.fail_next("GET", r"/pulls$", 200, body=[], times=2)  # the lookups miss it
    existing = fake.add_pull(REPO, head=site.branch, base="main", title="x", body="raced")
    with github(fake, clock, tls) as forge:
        done = publish(site, forge)
    assert done.number == existing
    assert len(fake.pulls(REPO)) == 1
    assert fake.count("POST", r"/pulls$") == 1


def test_a_secondary_rate_limit_is_waited_out_before_retrying(site, fake, clock, tls):
    """A 403 secondary limit with retry-after 30: no request comes before 30 s have passed."""
    fake.fail_next("POST", r"/pulls$", 403, headers={"retry-after": "30"}, body=SECONDARY)
    with github(fake, clock, tls) as forge:
        publish(site, forge)
    posts = [r.at for r in fake.requests if r.method == "POST" and r.path.endswith("/pulls")]
    assert len(posts) == 2
    assert posts[1] - posts[0] >= 30
    first = next(i for i, r in enumerate(fake.requests) if r.method == "POST" and r.at == posts[0])
    assert all(r.at >= posts[0] + 30 for r in fake.requests[first + 1 :])
    assert len(fake.pulls(REPO)) == 1


def test_an_installation_token_expiring_mid_job_is_refreshed_once(site, fake, clock, tls, key):
    """With a GitHub App, an expired token is replaced once and the job goes on."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    auth = AppAuth(APP_ID, SecretStr(pem), clock)
    with github(fake, clock, tls, auth) as forge:
        assert forge.find_pull(REPO, site.branch) is None  # the job starts: one token
        fake.expire_tokens()
        done = publish(site, forge)
    assert len(fake.minted) == 2
    assert done.kind == "pull"
    assert len(fake.pulls(REPO)) == 1


def test_a_human_commit_is_not_pushed_over_and_commented_once(site, fake, clock, tls, tmp_path):
    """Bob's commit on the bot branch stays; the PR gets one comment, however often it runs."""
    with github(fake, clock, tls) as forge:
        publish(site, forge)
        bob = human_push(site, tmp_path)
        site.agent_work(site.worktree.joinpath(SERVICE_PATH).read_text() + "# newer\n")
        publish(site, forge)
        publish(site, forge)
    assert site.remote_git("rev-parse", f"refs/heads/{site.branch}") == bob
    [pull] = fake.pulls(REPO)
    comments = fake.comments_on(REPO, pull["number"])
    assert len(comments) == 1
    assert "did not make" in comments[0]["body"]


def test_a_pr_closed_unmerged_is_not_recreated(site, fake, clock, tls):
    """Closed without merging: the same approval never opens another PR."""
    with github(fake, clock, tls) as forge:
        first = publish(site, forge)
        fake.close_pull(REPO, first.number)
        again = publish(site, forge)
    assert again.kind == "none"
    assert len(fake.pulls(REPO)) == 1


def test_reapproval_with_a_new_digest_updates_the_one_pr(site, fake, clock, tls):
    """A new approval rebuilds the branch (our commits only) and updates the open PR."""
    with github(fake, clock, tls) as forge:
        publish(site, forge)
        remove_worktree(site.repo.path, site.worktree)
        prepare_branch(site.repo.path, site.branch, site.base, "a" * 64, "speckitd@localhost")
        add_worktree(site.repo.path, site.worktree, site.branch, site.base)
        site.agent_work("y = 2\n")
        done = publish(site, forge, digest="a" * 64)
    [pull] = fake.pulls(REPO)
    assert done.number == pull["number"]
    assert marker("T9", "a" * 64) in pull["body"]
    assert site.remote_git("show", f"{site.branch}:{SERVICE_PATH}") == "y = 2"


def test_five_publish_runs_leave_one_branch_one_pr_one_set_of_commits(site, fake, clock, tls):
    """Repeated publish runs, as after crashes, change nothing after the first."""
    with github(fake, clock, tls) as forge:
        numbers = {publish(site, forge).number for _ in range(5)}
    assert len(numbers) == 1
    assert len(fake.pulls(REPO)) == 1
    assert len(site.remote_commits()) == 2
    assert fake.count("POST", r"/pulls$") == 1
