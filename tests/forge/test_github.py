"""The GitHub forge against the fake GitHub server: every call, auth, faults and retries."""

from __future__ import annotations

import base64
import itertools
import json
import random
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from structlog.testing import capture_logs

from daemon.errors import ConfigError
from daemon.forge.base import Forge, ForgeError
from daemon.forge.github import LABEL, GitHub
from daemon.forge.githubauth import AppAuth, TokenAuth, auth_from_settings
from daemon.settings import GitHubSettings
from tests.fakegithub import FakeGitHub

REPO = "octo/widgets"
APP_ID = 4242
START = 1_800_000_000.0
# Not secret-shaped on purpose: only the client's own redaction can hide it.
CANARY = "canary-7f3a9c1e5b"
MARKER = "<!-- speckitd:task=T001 digest=0123456789ab -->"
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}


class Clock:
    """A fake clock; ``sleep`` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        """The current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and jump ahead by it."""
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def pem(key: rsa.RSAPrivateKey) -> str:
    encoded = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return encoded.decode()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock, key: rsa.RSAPrivateKey) -> Iterator[FakeGitHub]:
    numbers = key.public_key().public_numbers()
    with FakeGitHub(
        tokens={CANARY: "speckitd-bot"},
        app_id=APP_ID,
        app_key=(numbers.n, numbers.e),
        clock=clock,
        repos=[REPO],
    ) as server:
        yield server


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    """One TLS context for the module: building one costs ~80 ms, and every client needs one."""
    return ssl.create_default_context()


@pytest.fixture
def transport(tls: ssl.SSLContext) -> httpx.HTTPTransport:
    return httpx.HTTPTransport(verify=tls)


@pytest.fixture
def make(fake: FakeGitHub, clock: Clock, transport: httpx.HTTPTransport) -> Callable[..., GitHub]:
    """A client of the fake with injected clock, sleep and seeded jitter."""

    def build(auth: TokenAuth | AppAuth, **options: float) -> GitHub:
        rng = random.Random(7)  # noqa: S311 - reproducible jitter
        return GitHub(
            fake.url, auth, transport=transport, sleep=clock.sleep, clock=clock, rng=rng, **options
        )

    return build


@pytest.fixture
def gh(make: Callable[..., GitHub]) -> Iterator[GitHub]:
    with make(TokenAuth(SecretStr(CANARY))) as forge:
        yield forge


@pytest.fixture
def app(make: Callable[..., GitHub], clock: Clock, pem: str) -> Iterator[GitHub]:
    with make(AppAuth(APP_ID, SecretStr(pem), clock)) as forge:
        yield forge


def arrivals(fake: FakeGitHub, method: str, suffix: str) -> list[float]:
    return [r.at for r in fake.requests if r.method == method and r.path.endswith(suffix)]


# -- the protocol ----------------------------------------------------------------


def test_github_satisfies_the_forge_protocol(gh: GitHub) -> None:
    """GitHub type-checks as a Forge (and the assignment runs)."""
    forge: Forge = gh
    assert forge is gh


def test_open_pull_then_find_it_by_head(gh: GitHub, fake: FakeGitHub) -> None:
    """A pull request opened from a branch is found by that branch, with its fields."""
    opened = gh.open_pull(
        REPO, head="speckitd/t001-x", base="main", title="T001", body=MARKER, draft=True
    )
    assert gh.find_pull(REPO, "speckitd/t001-x") == opened
    assert (opened.head, opened.base, opened.title, opened.body) == (
        "speckitd/t001-x",
        "main",
        "T001",
        MARKER,
    )
    assert opened.draft
    assert opened.state == "open"
    assert not opened.merged
    assert opened.url.endswith(f"/pull/{opened.number}")
    assert gh.find_pull(REPO, "speckitd/other") is None
    listing = fake.requests[-1]
    assert listing.query["head"] == ["octo:speckitd/other"]
    assert listing.query["state"] == ["all"]
    assert listing.query["per_page"] == ["100"]


def test_requests_carry_the_api_headers(gh: GitHub, fake: FakeGitHub) -> None:
    """Every request sends GitHub's media type, API version, user agent and the token."""
    gh.find_pull(REPO, "b")
    headers = fake.requests[-1].headers
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["user-agent"] == "speckitd"
    assert headers["authorization"] == f"Bearer {CANARY}"


def test_find_pull_returns_the_newest_and_maps_merged(gh: GitHub, fake: FakeGitHub) -> None:
    """A merged pull request reads as merged; a newer one from the same head wins."""
    first = fake.add_pull(REPO, head="b")
    fake.merge_pull(REPO, first)
    merged = gh.find_pull(REPO, "b")
    assert merged is not None
    assert (merged.number, merged.state, merged.merged) == (first, "closed", True)
    second = fake.add_pull(REPO, head="b")
    newest = gh.find_pull(REPO, "b")
    assert newest is not None
    assert (newest.number, newest.state, newest.merged) == (second, "open", False)


def test_open_pull_twice_raises_exists(gh: GitHub, fake: FakeGitHub) -> None:
    """GitHub's 422 "A pull request already exists" becomes ForgeError(exists=True)."""
    gh.open_pull(REPO, head="b", base="main", title="t", body="x")
    with pytest.raises(ForgeError) as caught:
        gh.open_pull(REPO, head="b", base="main", title="t", body="x")
    assert caught.value.exists
    assert caught.value.status == 422
    assert not caught.value.maybe_created
    assert "already exists" in str(caught.value)
    assert len(fake.pulls(REPO)) == 1


def test_other_422_on_open_pull_is_not_exists(gh: GitHub) -> None:
    """A different validation failure is a plain 422 with GitHub's reason."""
    with pytest.raises(ForgeError) as caught:
        gh.open_pull(REPO, head="main", base="main", title="t", body="x")
    assert caught.value.status == 422
    assert not caught.value.exists
    assert "No commits between" in str(caught.value)


def test_update_pull_sends_only_the_changes(gh: GitHub, fake: FakeGitHub) -> None:
    """update_pull changes title and state and sends no other field."""
    number = fake.add_pull(REPO, head="b", body="keep")
    updated = gh.update_pull(REPO, number, title="new", state="closed")
    assert (updated.title, updated.body, updated.state) == ("new", "keep", "closed")
    assert fake.requests[-1].json == {"title": "new", "state": "closed"}
    assert fake.pulls(REPO)[0]["state"] == "closed"


def test_open_issue_is_labelled_and_found_by_marker(gh: GitHub, fake: FakeGitHub) -> None:
    """open_issue adds the speckitd label; find_issue finds it by its marker."""
    issue = gh.open_issue(REPO, title="Question", body=f"Which?\n{MARKER}", labels=["question"])
    labels = [label["name"] for label in fake.issues(REPO)[0]["labels"]]
    assert labels == ["question", LABEL]
    assert gh.find_issue(REPO, MARKER) == issue
    assert gh.find_issue(REPO, "<!-- speckitd:task=T999 -->") is None


def test_find_issue_skips_pulls_and_unlabelled_issues(gh: GitHub, fake: FakeGitHub) -> None:
    """Pull requests and issues without the label never match; the newest match wins."""
    older = fake.add_issue(REPO, body=MARKER, labels=[LABEL])
    newer = fake.add_issue(REPO, body=f"again {MARKER}", labels=[LABEL])
    fake.add_issue(REPO, body=MARKER)  # no label: not the daemon's
    pull = fake.add_pull(REPO, head="b", body=MARKER)
    gh.add_labels(REPO, pull, [LABEL])  # a labelled pull request is still not an issue
    found = gh.find_issue(REPO, MARKER)
    assert found is not None
    assert found.number == newer != older


def test_find_issue_follows_pagination(gh: GitHub, fake: FakeGitHub) -> None:
    """The marker on the last page is found through the Link header."""
    fake.max_per_page = 2
    wanted = fake.add_issue(REPO, body=MARKER, labels=[LABEL])
    for _ in range(4):
        fake.add_issue(REPO, body="other", labels=[LABEL])
    found = gh.find_issue(REPO, MARKER)
    assert found is not None
    assert found.number == wanted
    assert fake.count("GET", r"/issues$") == 3


def test_update_issue_body_and_state(gh: GitHub, fake: FakeGitHub) -> None:
    """update_issue edits the body and closes the issue."""
    number = fake.add_issue(REPO, body="old", labels=[LABEL])
    updated = gh.update_issue(REPO, number, body="new", state="closed")
    assert (updated.body, updated.state) == ("new", "closed")
    assert fake.issues(REPO)[0]["body"] == "new"


def test_comments_oldest_first_across_pages(gh: GitHub, fake: FakeGitHub) -> None:
    """Comments come back oldest first with their authors, over several pages."""
    fake.max_per_page = 2
    number = fake.add_issue(REPO)
    fake.add_comment(REPO, number, "first", as_user="alice")
    fake.add_comment(REPO, number, "second", as_user="bob")
    mine = gh.comment(REPO, number, "third")
    comments = gh.comments(REPO, number)
    assert [(c.author, c.body) for c in comments] == [
        ("alice", "first"),
        ("bob", "second"),
        ("speckitd-bot", "third"),
    ]
    assert comments[-1] == mine
    assert fake.count("GET", r"/comments$") == 2


def test_add_labels(gh: GitHub, fake: FakeGitHub) -> None:
    """Labels are added to what the issue already has."""
    number = fake.add_issue(REPO, labels=["a"])
    gh.add_labels(REPO, number, ["b", "a"])
    assert [label["name"] for label in fake.issues(REPO)[0]["labels"]] == ["a", "b"]


def test_request_review(gh: GitHub, fake: FakeGitHub) -> None:
    """A collaborator is asked to review."""
    fake.set_permission(REPO, "carol", "write")
    number = fake.add_pull(REPO, head="b", user="speckitd-bot")
    gh.request_review(REPO, number, ["carol"])
    assert fake.requested_reviewers(REPO, number) == ["carol"]


@pytest.mark.parametrize("reviewer", ["speckitd-bot", "stranger"])
def test_refused_review_request_is_logged_not_raised(
    gh: GitHub, fake: FakeGitHub, reviewer: str
) -> None:
    """GitHub refusing the author or a non-collaborator as reviewer is logged and ignored."""
    number = fake.add_pull(REPO, head="b", user="speckitd-bot")
    with capture_logs() as logs:
        gh.request_review(REPO, number, [reviewer])
    assert fake.requested_reviewers(REPO, number) == []
    assert [entry["event"] for entry in logs] == ["github.review_request_refused"]


@pytest.mark.parametrize("role", ["admin", "maintain", "write", "triage", "read", "none"])
def test_permission_reports_the_role(gh: GitHub, fake: FakeGitHub, role: str) -> None:
    """Built-in roles come back as such, including maintain and triage."""
    fake.set_permission(REPO, "dave", role)
    assert gh.permission(REPO, "dave") == role


def test_permission_of_an_unknown_user_is_none(gh: GitHub, fake: FakeGitHub) -> None:
    """A 404 from the permission endpoint means no permission."""
    assert gh.permission(REPO, "nobody") == "none"
    assert fake.requests[-1].status == 404


def test_reviews_oldest_first(gh: GitHub, fake: FakeGitHub) -> None:
    """Reviews carry author, state and the reviewed commit."""
    number = fake.add_pull(REPO, head="b")
    fake.add_review(REPO, number, "erin", "CHANGES_REQUESTED", commit="a" * 40)
    fake.add_review(REPO, number, "erin", "APPROVED")
    reviews = gh.reviews(REPO, number)
    head_sha = fake.pulls(REPO)[0]["head"]["sha"]
    assert [(r.author, r.state, r.commit) for r in reviews] == [
        ("erin", "CHANGES_REQUESTED", "a" * 40),
        ("erin", "APPROVED", head_sha),
    ]


def test_bad_repository_names_never_reach_the_network(gh: GitHub, fake: FakeGitHub) -> None:
    """A repository that is not owner/name is refused before any request."""
    for bad in ("octo", "../etc/passwd", "octo/widgets/pulls", "octo/wid gets"):
        with pytest.raises(ForgeError, match="owner/name"):
            gh.find_pull(bad, "b")
    assert fake.requests == []


# -- faults and retries --------------------------------------------------------------


def test_create_then_502_is_maybe_created_and_not_retried(gh: GitHub, fake: FakeGitHub) -> None:
    """A 502 after the pull request was made raises maybe_created; exactly one PR exists."""
    fake.fail_next("POST", r"/pulls$", 502, after_effect=True)
    with pytest.raises(ForgeError) as caught:
        gh.open_pull(REPO, head="b", base="main", title="t", body=MARKER)
    assert caught.value.maybe_created
    assert caught.value.status == 502
    assert fake.count("POST", r"/pulls$") == 1
    assert len(fake.pulls(REPO)) == 1
    found = gh.find_pull(REPO, "b")  # what the caller does next
    assert found is not None
    assert found.body == MARKER


def test_dropped_connection_on_create_is_maybe_created(gh: GitHub, fake: FakeGitHub) -> None:
    """A connection lost after the issue was made raises maybe_created; lookup finds it."""
    fake.drop_next("POST", r"/issues$", after_effect=True)
    with pytest.raises(ForgeError) as caught:
        gh.open_issue(REPO, title="q", body=MARKER)
    assert caught.value.maybe_created
    assert caught.value.status is None
    assert fake.count("POST", r"/issues$") == 1
    assert gh.find_issue(REPO, MARKER) is not None


def test_5xx_before_a_comment_is_still_maybe_created(gh: GitHub, fake: FakeGitHub) -> None:
    """The client cannot tell a 5xx before from one after the effect: no retry."""
    number = fake.add_issue(REPO)
    fake.fail_next("POST", r"/comments$", 503)
    with pytest.raises(ForgeError) as caught:
        gh.comment(REPO, number, "hello")
    assert caught.value.maybe_created
    assert fake.comments_on(REPO, number) == []
    assert fake.count("POST", r"/comments$") == 1


def test_secondary_limit_waits_retry_after(gh: GitHub, fake: FakeGitHub) -> None:
    """A secondary-limit 403 with retry-after: 30 is retried no sooner than 30 s later."""
    fake.fail_next("POST", r"/issues$", 403, headers={"retry-after": "30"}, body=SECONDARY)
    gh.open_issue(REPO, title="q", body=MARKER)
    first, second = arrivals(fake, "POST", "/issues")
    assert second - first >= 30
    assert len(fake.issues(REPO)) == 1


def test_secondary_limit_without_headers_waits_a_minute(gh: GitHub, fake: FakeGitHub) -> None:
    """A 403 that says "secondary rate limit" only in its body waits at least 60 s."""
    fake.fail_next("POST", r"/pulls$", 403, body=SECONDARY)
    gh.open_pull(REPO, head="b", base="main", title="t", body="x")
    first, second = arrivals(fake, "POST", "/pulls")
    assert second - first >= 60
    assert len(fake.pulls(REPO)) == 1


def test_429_on_create_is_retried(gh: GitHub, fake: FakeGitHub) -> None:
    """A 429 means not processed: the comment is retried and made once."""
    number = fake.add_issue(REPO)
    fake.fail_next("POST", r"/comments$", 429, headers={"retry-after": "5"})
    gh.comment(REPO, number, "hello")
    first, second = arrivals(fake, "POST", "/comments")
    assert second - first >= 5
    assert len(fake.comments_on(REPO, number)) == 1


def test_ratelimit_reset_is_honoured(gh: GitHub, fake: FakeGitHub, clock: Clock) -> None:
    """With x-ratelimit-remaining: 0 the retry waits until x-ratelimit-reset."""
    reset = int(clock.now) + 300
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    body = {"message": "API rate limit exceeded for installation ID 1."}
    fake.fail_next("GET", r"/pulls$", 403, headers=headers, body=body)
    assert gh.find_pull(REPO, "b") is None
    first, second = arrivals(fake, "GET", "/pulls")
    assert first < reset <= second


def test_5xx_on_get_is_retried_with_growing_gaps(gh: GitHub, fake: FakeGitHub) -> None:
    """Three 502s on a read are retried with growing backoff, then the read succeeds."""
    number = fake.add_pull(REPO, head="b")
    fake.fail_next("GET", r"/reviews$", 502, times=3)
    assert gh.reviews(REPO, number) == []
    times = arrivals(fake, "GET", "/reviews")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 4
    assert gaps == sorted(gaps)
    assert gaps[0] < gaps[-1]
    assert all(0 < gap <= 60 for gap in gaps)


def test_dropped_connection_on_get_is_retried(gh: GitHub, fake: FakeGitHub) -> None:
    """A read whose connection drops is sent again."""
    fake.set_permission(REPO, "dave", "write")
    fake.drop_next("GET", r"/permission$")
    assert gh.permission(REPO, "dave") == "write"
    assert fake.count("GET", r"/permission$") == 2


def test_patch_is_retried_after_5xx(gh: GitHub, fake: FakeGitHub) -> None:
    """An edit is idempotent: a 500 after it took effect is retried and succeeds."""
    number = fake.add_issue(REPO, body="old")
    fake.fail_next("PATCH", rf"/issues/{number}$", 500, after_effect=True)
    assert gh.update_issue(REPO, number, body="new").body == "new"
    assert fake.count("PATCH", rf"/issues/{number}$") == 2


def test_max_wait_stops_a_long_retry_after(
    make: Callable[..., GitHub], fake: FakeGitHub, clock: Clock
) -> None:
    """A retry-after beyond max_wait fails at once instead of waiting."""
    fake.fail_next("GET", r"/pulls$", 503, headers={"retry-after": "120"})
    with (
        make(TokenAuth(SecretStr(CANARY)), max_wait=100) as gh,
        pytest.raises(ForgeError) as caught,
    ):
        gh.find_pull(REPO, "b")
    assert caught.value.status == 503
    assert "gave up" in str(caught.value)
    assert fake.count("GET", r"/pulls$") == 1
    assert clock.sleeps == []


def test_max_wait_bounds_a_storm(
    make: Callable[..., GitHub], fake: FakeGitHub, clock: Clock
) -> None:
    """Under a 502 storm the waits add up to no more than max_wait, then ForgeError."""
    fake.fail_next("GET", r"/pulls$", 502, times=1000)
    gh = make(TokenAuth(SecretStr(CANARY)), max_wait=20)
    with gh, pytest.raises(ForgeError, match="gave up"):
        gh.find_pull(REPO, "b")
    assert 0 < sum(clock.sleeps) <= 20
    assert fake.count("GET", r"/pulls$") == len(clock.sleeps) + 1


def test_other_4xx_raise_without_retry(gh: GitHub, fake: FakeGitHub) -> None:
    """A 404 (an unknown repository) is final and carries GitHub's message."""
    with pytest.raises(ForgeError) as caught:
        gh.open_issue("octo/missing", title="t", body="b")
    assert caught.value.status == 404
    assert not caught.value.maybe_created
    assert "Not Found" in str(caught.value)
    assert len(fake.requests) == 1


def test_writes_are_spaced_a_second_apart(gh: GitHub, fake: FakeGitHub) -> None:
    """Two creates in a row reach GitHub at least write_interval apart."""
    number = fake.add_issue(REPO)
    gh.comment(REPO, number, "one")
    gh.comment(REPO, number, "two")
    first, second = arrivals(fake, "POST", "/comments")
    assert second - first >= 1.0


def test_next_page_on_another_origin_is_refused(gh: GitHub, fake: FakeGitHub) -> None:
    """A Link to another host is not followed: the token would go with it."""
    number = fake.add_issue(REPO)
    link = '<http://attacker.example/steal?page=2>; rel="next"'
    fake.fail_next("GET", r"/comments$", 200, headers={"link": link}, body=[])
    with pytest.raises(ForgeError, match="another origin"):
        gh.comments(REPO, number)


# -- auth ------------------------------------------------------------------------------


def test_app_auth_mints_one_token_and_reuses_it(app: GitHub, fake: FakeGitHub) -> None:
    """The App finds its installation and mints one token for several calls."""
    app.open_pull(REPO, head="b", base="main", title="t", body="x")
    assert app.find_pull(REPO, "b") is not None
    assert fake.count("GET", r"/installation$") == 1
    assert fake.count("POST", r"/access_tokens$") == 1
    assert fake.pulls(REPO)[0]["user"]["login"] == "speckitd[bot]"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {fake.minted[0]}"


def test_app_jwt_claims(pem: str, clock: Clock) -> None:
    """The app JWT is back-dated a minute, lives nine more and names the app as a string."""
    token = AppAuth(APP_ID, SecretStr(pem), clock).app_jwt()
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    now = int(START)
    assert claims == {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}


def test_expired_installation_token_is_refreshed_once(app: GitHub, fake: FakeGitHub) -> None:
    """A token expiring mid-job gives one 401, one refresh, and the call succeeds."""
    number = app.open_issue(REPO, title="q", body=MARKER).number
    fake.expire_tokens()
    assert app.comment(REPO, number, "still here").body == "still here"
    assert fake.count("POST", r"/access_tokens$") == 2
    assert [r.status for r in fake.requests if r.path.endswith("/comments")] == [401, 201]
    assert len(fake.comments_on(REPO, number)) == 1


def test_token_is_renewed_before_it_expires(app: GitHub, fake: FakeGitHub, clock: Clock) -> None:
    """Within a minute of expires_at a new token is minted without a 401 first."""
    app.find_pull(REPO, "b")
    clock.now += fake.token_ttl - 30
    app.find_pull(REPO, "b")
    assert fake.count("POST", r"/access_tokens$") == 2
    assert all(r.status != 401 for r in fake.requests)


def test_second_401_after_refresh_raises(app: GitHub, fake: FakeGitHub) -> None:
    """A 401 that a fresh token does not cure raises after exactly one refresh."""
    fake.fail_next("GET", r"/pulls$", 401, times=2)
    with pytest.raises(ForgeError) as caught:
        app.find_pull(REPO, "b")
    assert caught.value.status == 401
    assert fake.count("POST", r"/access_tokens$") == 2
    assert fake.count("GET", r"/pulls$") == 2


def test_pat_401_raises_at_once(make: Callable[..., GitHub], fake: FakeGitHub) -> None:
    """A rejected personal access token is final: one request, no retry."""
    with make(TokenAuth(SecretStr("wrong"))) as gh, pytest.raises(ForgeError) as caught:
        gh.find_pull(REPO, "b")
    assert caught.value.status == 401
    assert "Bad credentials" in str(caught.value)
    assert len(fake.requests) == 1


def test_pat_never_appears_in_errors_logs_or_reprs(gh: GitHub, fake: FakeGitHub) -> None:
    """Even when GitHub echoes the token, errors, logs and reprs never show it."""
    echo = {"message": f"token {CANARY} is\nnot allowed here"}
    fake.fail_next("GET", r"/pulls$", 502, body=echo)
    fake.fail_next("POST", r"/issues$", 403, body=echo)
    with capture_logs() as logs:
        gh.find_pull(REPO, "b")  # retried after the 502, and logged
        with pytest.raises(ForgeError) as caught:
            gh.open_issue(REPO, title="t", body="b")
    text = str(caught.value)
    assert "[REDACTED]" in text
    assert "\n" not in text
    assert logs  # the retry was logged
    for shown in (
        text,
        repr(caught.value),
        repr(logs),
        repr(gh),
        repr(TokenAuth(SecretStr(CANARY))),
    ):
        assert CANARY not in shown


def test_installation_token_never_appears_in_errors(app: GitHub, fake: FakeGitHub) -> None:
    """An echoed installation token (not secret-shaped to the log scrubber) is redacted."""
    app.find_pull(REPO, "b")
    minted = fake.minted[0]
    fake.fail_next("GET", r"/pulls$", 400, body={"message": f"bad {minted}"})
    with pytest.raises(ForgeError) as caught:
        app.find_pull(REPO, "b")
    assert minted not in str(caught.value)
    assert minted not in repr(app) + repr(app._auth)


def test_app_not_installed_raises(app: GitHub, fake: FakeGitHub) -> None:
    """A repository the App is not installed on fails with GitHub's 404."""
    fake.add_repo("other/repo", installed=False)
    with pytest.raises(ForgeError) as caught:
        app.find_pull("other/repo", "b")
    assert caught.value.status == 404


# -- settings ---------------------------------------------------------------------------


def test_from_settings_with_a_token(fake: FakeGitHub, transport: httpx.HTTPTransport) -> None:
    """A token in the settings gives a working PAT client."""
    settings = GitHubSettings(api_url=fake.url, token=SecretStr(CANARY))
    with GitHub.from_settings(settings, transport=transport) as gh:
        assert gh.find_pull(REPO, "b") is None
    assert fake.requests[-1].headers["authorization"] == f"Bearer {CANARY}"


def test_from_settings_prefers_the_app(
    fake: FakeGitHub, pem: str, clock: Clock, transport: httpx.HTTPTransport
) -> None:
    """With both configured the App is used, its key read through read_key."""
    settings = GitHubSettings(
        api_url=fake.url, token=SecretStr(CANARY), app_id=APP_ID, private_key_path="/k.pem"
    )
    read: list[str] = []

    def read_key(path: str) -> str:
        read.append(path)
        return pem

    with GitHub.from_settings(settings, read_key=read_key, clock=clock, transport=transport) as gh:
        gh.find_pull(REPO, "b")
    assert read == ["/k.pem"]
    assert fake.count("POST", r"/access_tokens$") == 1


def test_auth_from_settings_needs_credentials() -> None:
    """Neither a token nor an App is a ConfigError."""
    with pytest.raises(ConfigError, match="needs token"):
        auth_from_settings(GitHubSettings())


def test_unreadable_or_bad_key_is_a_config_error(tmp_path: Path, pem: str) -> None:
    """A missing key file or a non-RSA-PEM key is a ConfigError that never shows the key."""
    missing = GitHubSettings(app_id=1, private_key_path=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="cannot read"):
        auth_from_settings(missing)
    garbage = tmp_path / "bad.pem"
    garbage.write_text(pem[:200])
    with pytest.raises(ConfigError) as caught:
        auth_from_settings(GitHubSettings(app_id=1, private_key_path=str(garbage)))
    assert pem[40:80] not in str(caught.value)
    assert "PRIVATE KEY" not in repr(AppAuth(1, SecretStr(pem)))


def test_push_token_is_the_pat_or_a_fresh_installation_token(make, clock, pem, fake) -> None:
    """Git pushes with the PAT itself, or with an installation token minted for the repo."""
    with make(TokenAuth(SecretStr(CANARY))) as forge:
        assert forge.push_token(REPO).get_secret_value() == CANARY
    with make(AppAuth(APP_ID, SecretStr(pem), clock)) as forge:
        token = forge.push_token(REPO).get_secret_value()
    assert token == fake.minted[-1]
