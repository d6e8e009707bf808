"""The fake GitHub server itself, spoken to with the standard library's HTTP client."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from daemon.forge.githubauth import AppAuth
from tests.fakegithub import FakeGitHub

REPO = "octo/widgets"
PAT = "pat-for-tests"
APP_ID = 7
NOW = 1_800_000_000.0


class Clock:
    """A settable fake clock."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        """The current fake time."""
        return self.now


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(key: rsa.RSAPrivateKey) -> SecretStr:
    encoded = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SecretStr(encoded.decode())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock, key: rsa.RSAPrivateKey) -> Iterator[FakeGitHub]:
    numbers = key.public_key().public_numbers()
    app_key = (numbers.n, numbers.e)
    with FakeGitHub(
        tokens={PAT: "bot"}, app_id=APP_ID, app_key=app_key, clock=clock, repos=[REPO]
    ) as server:
        yield server


def call(
    fake: FakeGitHub, method: str, path: str, body: object = None, token: str = PAT
) -> tuple[int, dict[str, str], Any]:
    """Status, lower-case headers and decoded JSON of one request to the fake."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - a loopback http URL
        fake.url + path, data=data, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(raw or b"null")


def test_issues_and_pulls_share_numbers(fake: FakeGitHub) -> None:
    """One number sequence per repository; the issue list shows pulls with pull_request."""
    status, _, issue = call(fake, "POST", f"/repos/{REPO}/issues", {"title": "i"})
    assert status == 201
    _, _, pull = call(
        fake, "POST", f"/repos/{REPO}/pulls", {"title": "p", "head": "b", "base": "main"}
    )
    assert (issue["number"], pull["number"]) == (1, 2)
    assert pull["head"]["label"] == "octo:b"
    assert pull["merged_at"] is None
    _, _, listed = call(fake, "GET", f"/repos/{REPO}/issues?state=all")
    assert [(i["number"], "pull_request" in i) for i in listed] == [(2, True), (1, False)]


def test_second_open_pull_from_a_head_is_422(fake: FakeGitHub) -> None:
    """Like GitHub: one open pull request per head and base; closing frees the head."""
    body = {"title": "p", "head": "octo:b", "base": "main"}
    assert call(fake, "POST", f"/repos/{REPO}/pulls", body)[0] == 201
    status, _, error = call(fake, "POST", f"/repos/{REPO}/pulls", body)
    assert status == 422
    assert error["errors"][0]["message"] == "A pull request already exists for octo:b."
    fake.close_pull(REPO, 1)
    assert call(fake, "POST", f"/repos/{REPO}/pulls", body)[0] == 201


def test_link_pagination_honours_per_page(fake: FakeGitHub) -> None:
    """per_page slices the list and Link names the next and last pages."""
    number = fake.add_issue(REPO)
    for i in range(5):
        fake.add_comment(REPO, number, f"c{i}")
    path = f"/repos/{REPO}/issues/{number}/comments"
    _, headers, page = call(fake, "GET", f"{path}?per_page=2")
    assert [c["body"] for c in page] == ["c0", "c1"]
    assert f'<{fake.url}{path}?per_page=2&page=2>; rel="next"' in headers["link"]
    assert 'page=3>; rel="last"' in headers["link"]
    _, headers, last = call(fake, "GET", f"{path}?per_page=2&page=3")
    assert [c["body"] for c in last] == ["c4"]
    assert 'rel="next"' not in headers["link"]


def test_app_jwt_is_verified(fake: FakeGitHub, clock: Clock, key: rsa.RSAPrivateKey) -> None:
    """The App's own JWT is accepted; one signed by another key or too long-lived is not."""
    good = AppAuth(APP_ID, pem_of(key), clock).app_jwt()
    status, _, installation = call(fake, "GET", f"/repos/{REPO}/installation", token=good)
    assert status == 200
    head, _, signature = good.split(".")
    claims = {"iat": int(NOW) - 59, "exp": int(NOW) + 540, "iss": str(APP_ID)}  # valid, unsigned
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    forged = f"{head}.{payload}.{signature}"
    assert call(fake, "GET", f"/repos/{REPO}/installation", token=forged)[0] == 401
    assert call(fake, "GET", f"/repos/{REPO}/installation", token=PAT)[0] == 401
    clock.now += 600  # the JWT made above has expired
    mint = f"/app/installations/{installation['id']}/access_tokens"
    assert call(fake, "POST", mint, token=good)[0] == 401


def test_installation_tokens_expire(fake: FakeGitHub, clock: Clock, key: rsa.RSAPrivateKey) -> None:
    """A minted token works until expire_tokens() or its expires_at, then answers 401."""
    jwt = AppAuth(APP_ID, pem_of(key), clock).app_jwt()
    _, _, installation = call(fake, "GET", f"/repos/{REPO}/installation", token=jwt)
    path = f"/app/installations/{installation['id']}/access_tokens"
    status, _, minted = call(fake, "POST", path, token=jwt)
    assert status == 201
    assert minted["expires_at"] == "2027-01-15T09:00:00Z"  # NOW + 3600 s
    token = minted["token"]
    assert call(fake, "GET", f"/repos/{REPO}/pulls", token=token)[0] == 200
    fake.expire_tokens()
    assert call(fake, "GET", f"/repos/{REPO}/pulls", token=token)[0] == 401
    _, _, fresh = call(fake, "POST", path, token=jwt)
    clock.now += fake.token_ttl
    assert call(fake, "GET", f"/repos/{REPO}/pulls", token=fresh["token"])[0] == 401


def test_faults_before_and_after_the_effect(fake: FakeGitHub) -> None:
    """fail_next without after_effect changes nothing; with it the create happens."""
    body = {"title": "i"}
    fake.fail_next("POST", r"/issues$", 502)
    assert call(fake, "POST", f"/repos/{REPO}/issues", body)[0] == 502
    assert fake.issues(REPO) == []
    fake.fail_next("POST", r"/issues$", 502, after_effect=True)
    assert call(fake, "POST", f"/repos/{REPO}/issues", body)[0] == 502
    assert len(fake.issues(REPO)) == 1
    assert call(fake, "POST", f"/repos/{REPO}/issues", body)[0] == 201  # faults are used up


def test_drop_next_closes_without_an_answer(fake: FakeGitHub) -> None:
    """A dropped request gets no status line at all, and is recorded with status 0."""
    fake.drop_next("GET", r"/pulls$")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        call(fake, "GET", f"/repos/{REPO}/pulls")
    assert fake.requests[-1].status == 0


def test_requests_are_recorded(fake: FakeGitHub, clock: Clock) -> None:
    """Method, path, query, headers, JSON body and the clock at arrival are recorded."""
    call(fake, "POST", f"/repos/{REPO}/issues?x=1", {"title": "i"})
    recorded = fake.requests[-1]
    assert (recorded.method, recorded.path, recorded.query) == (
        "POST",
        f"/repos/{REPO}/issues",
        {"x": ["1"]},
    )
    assert recorded.json == {"title": "i"}
    assert recorded.headers["authorization"] == f"Bearer {PAT}"
    assert (recorded.at, recorded.status) == (NOW, 201)


def test_unknown_token_is_401(fake: FakeGitHub) -> None:
    """A token the fake does not know is refused like GitHub's "Bad credentials"."""
    status, _, error = call(fake, "GET", f"/repos/{REPO}/pulls", token="nope")  # noqa: S106 - not a secret
    assert status == 401
    assert error["message"] == "Bad credentials"
