"""GitHub webhook signatures and the little the daemon reads from a delivery."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from daemon.service import webhook
from daemon.service.webhook import Delivery

# The test vector of GitHub's "Validating webhook deliveries".
SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
GOOD = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("secret", "body", "header", "expected"),
    [
        pytest.param(SECRET, BODY, GOOD, True, id="github-test-vector"),
        pytest.param(SECRET, b"", sign(SECRET, b""), True, id="empty-body"),
        pytest.param(b"other", BODY, GOOD, False, id="wrong-secret"),
        pytest.param(SECRET, b"Hello, World!\n", GOOD, False, id="other-body"),
        pytest.param(SECRET, BODY, None, False, id="missing"),
        pytest.param(SECRET, BODY, "", False, id="empty-header"),
        pytest.param(SECRET, BODY, GOOD.removeprefix("sha256="), False, id="no-prefix"),
        pytest.param(SECRET, BODY, "SHA256=" + GOOD[7:], False, id="uppercase-prefix"),
        pytest.param(
            SECRET,
            BODY,
            "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest(),
            False,
            id="sha1-only",
        ),
        pytest.param(SECRET, BODY, "sha256=" + GOOD[7:].upper(), False, id="uppercase-hex"),
        pytest.param(SECRET, BODY, GOOD[:-2], False, id="truncated-hex"),
        pytest.param(SECRET, BODY, GOOD + "00", False, id="extended-hex"),
        pytest.param(SECRET, BODY, "sha256=" + "z" * 64, False, id="non-hex"),
        pytest.param(SECRET, BODY, "sha256=" + "é" * 64, False, id="non-ascii"),
        pytest.param(SECRET, BODY, " " + GOOD, False, id="leading-space"),
        pytest.param(b"", BODY, sign(b"", BODY), False, id="empty-secret-refused"),
    ],
)
def test_verify(secret, body, header, expected):
    assert webhook.verify(secret, body, header) is expected


def test_verify_compares_in_constant_time(monkeypatch):
    """The comparison goes through hmac.compare_digest, never ``==``."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert webhook.verify(SECRET, BODY, GOOD)
    assert calls == [(GOOD.encode(), GOOD.encode())]


PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "acme/todo"}, "after": "0" * 40}
HEADERS = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Event": "push"}


def test_parse_push():
    delivery = webhook.parse(HEADERS, json.dumps(PUSH).encode())
    assert delivery == Delivery(
        id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        event="push",
        repo="acme/todo",
        ref="refs/heads/main",
    )


def test_parse_reads_headers_in_any_case():
    headers = {"x-github-delivery": "abc", "X-GITHUB-EVENT": "push"}
    assert webhook.parse(headers, b"{}") == Delivery("abc", "push", None, None)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"repository": None, "ref": None},
        {"repository": "acme/todo", "ref": 7},
        {"repository": {"full_name": ["acme/todo"]}},
        {"repository": {"full_name": ""}, "ref": ""},
    ],
)
def test_parse_leaves_missing_or_odd_fields_empty(payload):
    delivery = webhook.parse(HEADERS, json.dumps(payload).encode())
    assert (delivery.repo, delivery.ref) == (None, None)


def test_parse_reads_a_form_encoded_payload():
    body = b"payload=" + json.dumps(PUSH).encode().replace(b" ", b"+")
    headers = {**HEADERS, "Content-Type": "application/x-www-form-urlencoded"}
    assert webhook.parse(headers, body).repo == "acme/todo"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param(HEADERS, b"{not json", id="bad-json"),
        pytest.param(HEADERS, b"", id="empty-body"),
        pytest.param(HEADERS, b"[1, 2]", id="not-an-object"),
        pytest.param(HEADERS, b"\xff\xfe{}", id="not-utf8"),
        pytest.param(HEADERS, b"[" * 100_000, id="too-deep"),
        pytest.param({"X-GitHub-Event": "push"}, b"{}", id="no-delivery-id"),
        pytest.param({**HEADERS, "X-GitHub-Delivery": "a b"}, b"{}", id="odd-delivery-id"),
        pytest.param({**HEADERS, "X-GitHub-Delivery": "a" * 129}, b"{}", id="long-delivery-id"),
        pytest.param({"X-GitHub-Delivery": "abc"}, b"{}", id="no-event"),
        pytest.param({**HEADERS, "X-GitHub-Event": "Push!"}, b"{}", id="odd-event"),
        pytest.param(
            {**HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
            b"other=1",
            id="form-without-payload",
        ),
    ],
)
def test_parse_rejects(headers, body):
    with pytest.raises(ValueError, match=r"."):
        webhook.parse(headers, body)
