"""A fake of the GitHub REST API: a real HTTP server on 127.0.0.1 for tests.

It implements only what :class:`daemon.forge.github.GitHub` calls, with in-memory
repositories, and answers in GitHub's documented shapes (``number``, ``html_url``,
``head{ref,label,sha}``, ``merged_at``, ``labels[{name}]``, ``pull_request`` on the
issue view of a pull request...). As on GitHub, issues and pull requests of a repository
share one number sequence, lists are newest first (comments and reviews oldest first)
and paginated with ``Link`` headers, and opening a second pull request from a head that
already has an open one into the same base answers 422 "A pull request already exists".

Auth: configured personal access tokens; or a GitHub App, whose RS256 JWTs are verified
against its public key (stdlib RSA, so this module needs nothing beyond the standard
library) and which mints installation tokens that expire by the injected clock.

Faults: :meth:`FakeGitHub.fail_next` answers the next matching request with a status
(before or after the request took effect); :meth:`FakeGitHub.drop_next` closes the
connection without an answer. Every request is recorded with the clock at arrival.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from daemon.demo.loopback import Handler, Loopback

__all__ = ["FakeGitHub", "Recorded"]

JSON = dict[str, Any]

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_LEGACY = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read"}
_LEGACY |= {"read": "read", "none": "none"}
# DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2), for PKCS #1 v1.5 signatures.
_SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
JWT_MAX_LIFETIME = 600  # GitHub refuses app JWTs valid for more than ten minutes


@dataclass(frozen=True)
class Recorded:
    """One request as the fake saw it, and the status it answered (0: dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    json: Any
    at: float
    status: int


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    reply: _Reply  # status 0: close the connection without answering
    after_effect: bool
    times: int


@dataclass
class _Item:
    """An issue, or a pull request (``head`` set)."""

    number: int
    title: str
    body: str | None
    user: str
    created: float
    updated: float
    state: str = "open"
    closed: float | None = None
    labels: list[str] = field(default_factory=list)
    comments: list[JSON] = field(default_factory=list)
    head: str | None = None
    base: str = ""
    sha: str = ""
    draft: bool = False
    merged: float | None = None
    requested: list[str] = field(default_factory=list)
    reviews: list[JSON] = field(default_factory=list)


@dataclass
class _Repo:
    owner: str
    name: str
    installation: int | None
    items: dict[int, _Item] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)

    @property
    def full(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class _Call:
    """A routed request: the repository in its path, who sent it, its parts."""

    repo: _Repo | None
    actor: str
    groups: dict[str, str]
    query: dict[str, list[str]]
    body: Any

    @property
    def r(self) -> _Repo:
        assert self.repo is not None, "route without a repository"
        return self.repo

    @property
    def fields(self) -> JSON:
        return self.body if isinstance(self.body, dict) else {}

    def param(self, name: str, default: str) -> str:
        values = self.query.get(name)
        return values[-1] if values else default


class _GitHubError(Exception):
    def __init__(self, status: int, message: str, errors: list[JSON] | None = None) -> None:
        super().__init__(message)
        self.reply = _Reply(status, _error_body(status, message, errors))


def _error_body(status: int, message: str, errors: list[JSON] | None = None) -> JSON:
    body: JSON = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    if errors:
        body["errors"] = errors
    body["status"] = str(status)
    return body


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def rs256_verify(message: bytes, signature: bytes, modulus: int, exponent: int) -> bool:
    """Whether ``signature`` is an RSASSA-PKCS1-v1_5 SHA-256 signature of ``message``."""
    size = (modulus.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    decoded = pow(int.from_bytes(signature, "big"), exponent, modulus).to_bytes(size, "big")
    info = _SHA256_INFO + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(info) - 3) + b"\x00" + info
    return hmac.compare_digest(decoded, expected)


class FakeGitHub(Loopback):
    """GitHub's REST API for the calls the forge makes; use it as a context manager.

    ``tokens`` maps personal access tokens to the login they act as. With ``app_id`` and
    ``app_key`` (the public ``(modulus, exponent)`` of the App's RSA key), the App flow
    works: each repository's owner gets one installation. With neither, any request is
    accepted as ``octocat``.
    """

    def __init__(
        self,
        *,
        tokens: Mapping[str, str] | None = None,
        app_id: int | None = None,
        app_key: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.time,
        token_ttl: float = 3600,
        max_per_page: int = 100,
        repos: Iterable[str] = (),
    ) -> None:
        self.pats = dict(tokens or {})
        self.app_id, self.app_key = app_id, app_key
        self.clock = clock
        self.token_ttl = token_ttl
        self.max_per_page = max_per_page
        self.requests: list[Recorded] = []
        self.minted: list[str] = []  # every installation token issued, in order
        self._installation_tokens: dict[str, tuple[int, float]] = {}
        self._installations: dict[str, int] = {}  # owner -> installation id
        self._repos: dict[str, _Repo] = {}
        self._faults: list[_Fault] = []
        self._next_id = 1000
        self._lock = threading.RLock()
        super().__init__()
        self._routes: list[tuple[str, re.Pattern[str], Callable[[_Call], _Reply]]] = [
            (method, re.compile(pattern), handler)
            for method, pattern, handler in (
                ("GET", rf"{_REPO}/pulls", self._list_pulls),
                ("POST", rf"{_REPO}/pulls", self._create_pull),
                ("PATCH", rf"{_REPO}/pulls/(?P<n>\d+)", self._update_pull),
                ("POST", rf"{_REPO}/pulls/(?P<n>\d+)/requested_reviewers", self._request),
                ("GET", rf"{_REPO}/pulls/(?P<n>\d+)/reviews", self._list_reviews),
                ("GET", rf"{_REPO}/issues", self._list_issues),
                ("POST", rf"{_REPO}/issues", self._create_issue),
                ("PATCH", rf"{_REPO}/issues/(?P<n>\d+)", self._update_issue),
                ("GET", rf"{_REPO}/issues/(?P<n>\d+)/comments", self._list_comments),
                ("POST", rf"{_REPO}/issues/(?P<n>\d+)/comments", self._create_comment),
                ("POST", rf"{_REPO}/issues/(?P<n>\d+)/labels", self._add_labels),
                ("GET", rf"{_REPO}/collaborators/(?P<user>[^/]+)/permission", self._permission),
                ("GET", rf"{_REPO}/installation", self._installation),
                ("POST", r"/app/installations/(?P<id>\d+)/access_tokens", self._mint),
            )
        ]
        for repo in repos:
            self.add_repo(repo)

    # -- scripting ---------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        after_effect: bool = False,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        ``after_effect``: the request is carried out first (a 502 after the create).
        ``body`` defaults to GitHub's error shape with the status phrase as message.
        """
        if body is None:
            body = _error_body(status, HTTPStatus(status).phrase)
        self._add_fault(
            method, path_regex, _Reply(status, body, dict(headers or {})), after_effect, times
        )

    def drop_next(
        self, method: str, path_regex: str, *, after_effect: bool = False, times: int = 1
    ) -> None:
        """Close the connection of the next matching requests without an answer."""
        self._add_fault(method, path_regex, _Reply(0), after_effect, times)

    def _add_fault(
        self, method: str, path_regex: str, reply: _Reply, after_effect: bool, times: int
    ) -> None:
        with self._lock:
            fault = _Fault(method.upper(), re.compile(path_regex), reply, after_effect, times)
            self._faults.append(fault)

    def expire_tokens(self) -> None:
        """Make every installation token issued so far expired (401 from now on)."""
        with self._lock:
            for token, (installation, _) in self._installation_tokens.items():
                self._installation_tokens[token] = (installation, float("-inf"))

    def add_repo(
        self, full_name: str, *, installation: int | None = None, installed: bool = True
    ) -> None:
        """Create a repository; with an App, the owner's installation covers it if ``installed``."""
        owner, _, name = full_name.partition("/")
        with self._lock:
            if installation is None and installed and self.app_id is not None:
                installation = self._installations.setdefault(owner, 100 + len(self._installations))
            self._repos[full_name.lower()] = _Repo(owner, name, installation)

    def add_pull(
        self,
        repo: str,
        *,
        head: str,
        base: str = "main",
        title: str = "A pull request",
        body: str = "",
        user: str = "octocat",
        draft: bool = False,
    ) -> int:
        """Open a pull request directly; returns its number."""
        with self._lock:
            r = self._repo(repo)
            return self._new_pull(
                r, user, {"head": head, "base": base, "title": title, "body": body, "draft": draft}
            ).number

    def add_issue(
        self,
        repo: str,
        *,
        title: str = "An issue",
        body: str = "",
        labels: Iterable[str] = (),
        user: str = "octocat",
    ) -> int:
        """Open an issue directly; returns its number."""
        with self._lock:
            item = self._new_item(self._repo(repo), title, body, user)
            item.labels = list(dict.fromkeys(labels))
            return item.number

    def merge_pull(self, repo: str, number: int) -> None:
        """Merge a pull request (closed, with ``merged_at``)."""
        with self._lock:
            item = self._pull_item(self._repo(repo), number)
            now = self.clock()
            item.state, item.closed, item.merged, item.updated = "closed", now, now, now

    def close_pull(self, repo: str, number: int) -> None:
        """Close a pull request without merging it."""
        with self._lock:
            item = self._pull_item(self._repo(repo), number)
            item.state, item.closed, item.updated = "closed", self.clock(), self.clock()

    def add_review(
        self,
        repo: str,
        number: int,
        user: str,
        state: str,
        *,
        commit: str | None = None,
        body: str = "",
    ) -> int:
        """Submit a review (APPROVED, CHANGES_REQUESTED, COMMENTED); returns its id."""
        with self._lock:
            r = self._repo(repo)
            item = self._pull_item(r, number)
            review_id = self._new_id()
            item.reviews.append(
                {
                    "id": review_id,
                    "user": _user(user),
                    "body": body,
                    "state": state,
                    "commit_id": commit or item.sha,
                    "submitted_at": _iso(self.clock()),
                    "html_url": f"https://github.com/{r.full}/pull/{number}#pullrequestreview-{review_id}",
                }
            )
            return review_id

    def set_permission(self, repo: str, user: str, permission: str) -> None:
        """Make ``user`` a collaborator with a role (admin, maintain, write, triage, read, none)."""
        with self._lock:
            self._repo(repo).permissions[user.lower()] = permission

    def add_comment(self, repo: str, number: int, body: str, *, as_user: str = "octocat") -> int:
        """Comment on an issue or pull request as ``as_user``; returns the comment id."""
        with self._lock:
            r = self._repo(repo)
            return int(self._new_comment(r, self._item(r, number), body, as_user)["id"])

    # -- inspection --------------------------------------------------------------

    def pulls(self, repo: str) -> list[JSON]:
        """The repository's pull requests as GitHub shows them, oldest first."""
        with self._lock:
            r = self._repo(repo)
            return [self._pull_json(r, i) for i in r.items.values() if i.head is not None]

    def issues(self, repo: str) -> list[JSON]:
        """The repository's issues (not pull requests), oldest first."""
        with self._lock:
            r = self._repo(repo)
            return [self._issue_json(r, i) for i in r.items.values() if i.head is None]

    def comments_on(self, repo: str, number: int) -> list[JSON]:
        """The comments of an issue or pull request, oldest first."""
        with self._lock:
            return list(self._item(self._repo(repo), number).comments)

    def requested_reviewers(self, repo: str, number: int) -> list[str]:
        """Who was asked to review a pull request."""
        with self._lock:
            return list(self._pull_item(self._repo(repo), number).requested)

    def count(self, method: str, path_regex: str) -> int:
        """How many recorded requests match ``method`` and ``path_regex``."""
        pattern = re.compile(path_regex)
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and pattern.search(r.path))

    # -- serving -----------------------------------------------------------------

    def serve(self, handler: Handler) -> None:
        """Answer one request (runs on a handler thread)."""
        arrived = self.clock()
        split = urlsplit(handler.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        method = handler.command
        with self._lock:
            body: Any = None
            try:
                body = json.loads(raw) if raw else None
                fault = self._take_fault(method, path)
                if fault is not None and not fault.after_effect:
                    reply = fault.reply
                else:
                    reply = self._handle(method, path, query, headers, body)
                    reply = fault.reply if fault is not None else reply
            except ValueError:
                reply = _Reply(400, _error_body(400, "Problems parsing JSON"))
            self.requests.append(
                Recorded(method, path, query, headers, body, arrived, reply.status)
            )
        if reply.status == 0:
            handler.close_connection = True  # nothing written: the client sees a dropped connection
            return
        data = json.dumps(reply.body).encode() if reply.body is not None else b""
        handler.send_response(reply.status)
        handler.send_header("content-type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("content-length", str(len(data)))
        handler.send_header("connection", "close")
        handler.end_headers()
        handler.wfile.write(data)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.path.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
    ) -> _Reply:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None or route_method != method:
                continue
            groups = match.groupdict()
            try:
                if path.startswith("/app/") or path.endswith("/installation"):
                    self._check_jwt(headers)
                    actor, installation = "app", None
                else:
                    actor, installation = self._authenticate(headers)
                owner, name = groups.pop("owner", None), groups.pop("name", None)
                repo = self._repo(f"{owner}/{name}", installation) if owner else None
                return handler(_Call(repo, actor, groups, query, body))
            except _GitHubError as error:
                return error.reply
        return _Reply(404, _error_body(404, "Not Found"))

    # -- auth --------------------------------------------------------------------

    @staticmethod
    def _bearer(headers: dict[str, str]) -> str:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        return credential.strip() if scheme.lower() in ("bearer", "token") else ""

    def _authenticate(self, headers: dict[str, str]) -> tuple[str, int | None]:
        """The login the request acts as and its installation (None for a PAT)."""
        if not self.pats and self.app_id is None:
            return "octocat", None
        credential = self._bearer(headers)
        if credential in self.pats:
            return self.pats[credential], None
        issued = self._installation_tokens.get(credential)
        if issued is not None and self.clock() < issued[1]:
            return "speckitd[bot]", issued[0]
        raise _GitHubError(401, "Bad credentials")

    def _check_jwt(self, headers: dict[str, str]) -> None:
        """Verify an App JWT like GitHub: RS256 signature, issuer, a lifetime of 10 min at most."""
        undecodable = _GitHubError(401, "A JSON web token could not be decoded")
        if self.app_id is None or self.app_key is None:
            raise undecodable
        try:
            head, payload, signature = self._bearer(headers).split(".")
            header, claims = json.loads(_b64decode(head)), json.loads(_b64decode(payload))
            signed = rs256_verify(
                f"{head}.{payload}".encode(), _b64decode(signature), *self.app_key
            )
        except (ValueError, binascii.Error):
            raise undecodable from None
        if header.get("alg") != "RS256" or not signed:
            raise undecodable
        now = self.clock()
        iat, exp = claims.get("iat"), claims.get("exp")
        if str(claims.get("iss")) != str(self.app_id):
            raise _GitHubError(401, "'Issuer' claim ('iss') must be an Integer")
        if not isinstance(iat, int) or not isinstance(exp, int) or iat > now + 60:
            raise _GitHubError(401, "'Issued at' claim ('iat') must be in the past")
        if exp <= now or exp - iat > JWT_MAX_LIFETIME:
            raise _GitHubError(401, "'Expiration time' claim ('exp') is too far in the future")

    def _installation(self, call: _Call) -> _Reply:
        repo = call.r
        if repo.installation is None:
            raise _GitHubError(404, "Not Found")
        tokens_url = f"{self.url}/app/installations/{repo.installation}/access_tokens"
        answer = {"id": repo.installation, "app_id": self.app_id, "repository_selection": "all"}
        account = {"login": repo.owner, "type": "Organization"}
        return _Reply(200, answer | {"account": account, "access_tokens_url": tokens_url})

    def _mint(self, call: _Call) -> _Reply:
        installation = int(call.groups["id"])
        if all(r.installation != installation for r in self._repos.values()):
            raise _GitHubError(404, "Not Found")
        # GitHub's newer stateless format: ghs_<app id>_<opaque>, longer than 40 characters.
        token = f"ghs_{self.app_id}_{secrets.token_urlsafe(24)}"
        expires = self.clock() + self.token_ttl
        self._installation_tokens[token] = (installation, expires)
        self.minted.append(token)
        permissions = dict.fromkeys(("contents", "issues", "pull_requests"), "write")
        answer = {"token": token, "expires_at": _iso(expires), "repository_selection": "all"}
        return _Reply(201, answer | {"permissions": permissions | {"metadata": "read"}})

    # -- pull requests -------------------------------------------------------------

    def _list_pulls(self, call: _Call) -> _Reply:
        repo, state = call.r, call.param("state", "open")
        head, base = call.param("head", ""), call.param("base", "")
        found = [
            self._pull_json(repo, i)
            for i in reversed(repo.items.values())
            if i.head is not None
            and state in ("all", i.state)
            and (not head or f"{repo.owner}:{i.head}" == head)
            and (not base or i.base == base)
        ]
        return self._page(f"/repos/{repo.full}/pulls", call.query, found)

    def _create_pull(self, call: _Call) -> _Reply:
        item = self._new_pull(call.r, call.actor, call.fields)
        location = {"location": f"{self.url}/repos/{call.r.full}/pulls/{item.number}"}
        return _Reply(201, self._pull_json(call.r, item), location)

    def _new_pull(self, repo: _Repo, actor: str, body: JSON) -> _Item:
        missing = [name for name in ("title", "head", "base") if not _text(body.get(name))]
        if missing:
            errors = [_missing("PullRequest", name) for name in missing]
            raise _GitHubError(422, "Validation Failed", errors)
        head, base = body["head"].rpartition(":")[2], body["base"]
        if head == base:
            raise _GitHubError(
                422, "Validation Failed", [_custom(f"No commits between {base} and {head}")]
            )
        self._refuse_duplicate(repo, head, base)
        item = self._new_item(repo, body["title"], body.get("body"), actor)
        item.head, item.base, item.draft = head, base, bool(body.get("draft"))
        item.sha = _sha(f"{repo.full}:{head}:{item.number}")
        return item

    @staticmethod
    def _refuse_duplicate(repo: _Repo, head: str, base: str, number: int | None = None) -> None:
        """GitHub allows one open pull request per head and base."""
        for other in repo.items.values():
            if (other.head, other.base, other.state) == (
                head,
                base,
                "open",
            ) and other.number != number:
                message = f"A pull request already exists for {repo.owner}:{head}."
                raise _GitHubError(422, "Validation Failed", [_custom(message)])

    def _update_pull(self, call: _Call) -> _Reply:
        item = self._pull_item(call.r, int(call.groups["n"]))
        if call.fields.get("state") == "open" and item.state == "closed":
            if item.merged is not None:
                merged = "state cannot be changed. The pull request has been merged."
                raise _GitHubError(422, "Validation Failed", [_custom(merged)])
            self._refuse_duplicate(call.r, str(item.head), item.base, item.number)
        self._edit(item, call.fields)
        return _Reply(200, self._pull_json(call.r, item))

    def _request(self, call: _Call) -> _Reply:
        item = self._pull_item(call.r, int(call.groups["n"]))
        reviewers = [str(login) for login in call.fields.get("reviewers", [])]
        for login in reviewers:
            if login.lower() == item.user.lower():
                raise _GitHubError(422, "Review cannot be requested from pull request author.")
            if call.r.permissions.get(login.lower(), "none") == "none":
                message = (
                    "Reviews may only be requested from collaborators. One or more of the users or"
                    f" teams you specified is not a collaborator of the {call.r.full} repository."
                )
                raise _GitHubError(422, message)
        item.requested.extend(login for login in reviewers if login not in item.requested)
        return _Reply(201, self._pull_json(call.r, item))

    def _list_reviews(self, call: _Call) -> _Reply:
        item = self._pull_item(call.r, int(call.groups["n"]))
        path = f"/repos/{call.r.full}/pulls/{item.number}/reviews"
        return self._page(path, call.query, list(item.reviews))

    # -- issues, comments, labels, permissions -------------------------------------

    def _list_issues(self, call: _Call) -> _Reply:
        state, labels = call.param("state", "open"), call.param("labels", "")
        wanted = {name.strip().lower() for name in labels.split(",") if name.strip()}
        newest_first = call.param("direction", "desc") != "asc"
        items = sorted(call.r.items.values(), key=lambda i: i.number, reverse=newest_first)
        found = [
            self._issue_json(call.r, i)
            for i in items
            if state in ("all", i.state) and wanted <= {label.lower() for label in i.labels}
        ]
        return self._page(f"/repos/{call.r.full}/issues", call.query, found)

    def _create_issue(self, call: _Call) -> _Reply:
        if not _text(call.fields.get("title")):
            raise _GitHubError(422, "Validation Failed", [_missing("Issue", "title")])
        item = self._new_item(call.r, call.fields["title"], call.fields.get("body"), call.actor)
        item.labels = _label_names(call.fields.get("labels", []))
        return _Reply(201, self._issue_json(call.r, item))

    def _update_issue(self, call: _Call) -> _Reply:
        item = self._item(call.r, int(call.groups["n"]))
        self._edit(item, call.fields)
        if "labels" in call.fields:
            item.labels = _label_names(call.fields["labels"])
        return _Reply(200, self._issue_json(call.r, item))

    def _list_comments(self, call: _Call) -> _Reply:
        item = self._item(call.r, int(call.groups["n"]))
        path = f"/repos/{call.r.full}/issues/{item.number}/comments"
        return self._page(path, call.query, list(item.comments))

    def _create_comment(self, call: _Call) -> _Reply:
        item = self._item(call.r, int(call.groups["n"]))
        text = call.fields.get("body")
        if not _text(text):
            raise _GitHubError(422, "Validation Failed", [_missing("IssueComment", "body")])
        return _Reply(201, self._new_comment(call.r, item, str(text), call.actor))

    def _add_labels(self, call: _Call) -> _Reply:
        item = self._item(call.r, int(call.groups["n"]))
        # GitHub takes {"labels": [...]} or a bare list of names.
        names = _label_names(
            call.body if isinstance(call.body, list) else call.fields.get("labels")
        )
        item.labels.extend(name for name in names if name not in item.labels)
        return _Reply(200, [_label(name) for name in item.labels])

    def _permission(self, call: _Call) -> _Reply:
        user = call.groups["user"]
        role = call.r.permissions.get(user.lower())
        if role is None:
            raise _GitHubError(404, "Not Found")
        legacy = _LEGACY.get(role, "read")
        return _Reply(200, {"permission": legacy, "role_name": role, "user": _user(user)})

    # -- state and rendering -------------------------------------------------------

    def _repo(self, full_name: str, installation: int | None = None) -> _Repo:
        """The repository; 404 when missing or when the installation token cannot see it."""
        repo = self._repos.get(full_name.lower())
        if repo is None or (installation is not None and repo.installation != installation):
            raise _GitHubError(404, "Not Found")
        return repo

    def _item(self, repo: _Repo, number: int) -> _Item:
        item = repo.items.get(number)
        if item is None:
            raise _GitHubError(404, "Not Found")
        return item

    def _pull_item(self, repo: _Repo, number: int) -> _Item:
        item = self._item(repo, number)
        if item.head is None:
            raise _GitHubError(404, "Not Found")
        return item

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _new_item(self, repo: _Repo, title: str, body: str | None, user: str) -> _Item:
        number = max(repo.items, default=0) + 1  # issues and pull requests share the sequence
        now = self.clock()
        item = _Item(number, title, body, user, created=now, updated=now)
        repo.items[number] = item
        return item

    def _new_comment(self, repo: _Repo, item: _Item, text: str, user: str) -> JSON:
        comment_id, now = self._new_id(), _iso(self.clock())
        comment = {
            "id": comment_id,
            "html_url": f"{self._html(repo, item)}#issuecomment-{comment_id}",
            "issue_url": f"{self.url}/repos/{repo.full}/issues/{item.number}",
            "body": text,
            "user": _user(user),
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
        }
        item.comments.append(comment)
        item.updated = self.clock()
        return comment

    def _edit(self, item: _Item, changes: JSON) -> None:
        for name in ("title", "body", "base"):
            if isinstance(changes.get(name), str):
                setattr(item, name, changes[name])
        state = changes.get("state")
        if state in ("open", "closed") and state != item.state:
            item.state, item.closed = state, self.clock() if state == "closed" else None
        if state is not None and state not in ("open", "closed"):
            raise _GitHubError(
                422,
                "Validation Failed",
                [{"resource": "Issue", "field": "state", "code": "invalid"}],
            )
        item.updated = self.clock()

    @staticmethod
    def _html(repo: _Repo, item: _Item) -> str:
        kind = "issues" if item.head is None else "pull"
        return f"https://github.com/{repo.full}/{kind}/{item.number}"

    def _common(self, repo: _Repo, item: _Item, kind: str) -> JSON:
        return {
            "id": zlib.crc32(f"{repo.full}#{item.number}".encode()),
            "number": item.number,
            "url": f"{self.url}/repos/{repo.full}/{kind}/{item.number}",
            "html_url": self._html(repo, item),
            "state": item.state,
            "locked": False,
            "title": item.title,
            "body": item.body,
            "user": _user(item.user),
            "labels": [_label(name) for name in item.labels],
            "created_at": _iso(item.created),
            "updated_at": _iso(item.updated),
            "closed_at": _iso(item.closed),
        }

    def _pull_json(self, repo: _Repo, item: _Item) -> JSON:
        def ref(name: str, sha: str) -> JSON:
            return {
                "label": f"{repo.owner}:{name}",
                "ref": name,
                "sha": sha,
                "repo": {"full_name": repo.full},
            }

        assert item.head is not None
        return self._common(repo, item, "pulls") | {
            "draft": item.draft,
            "merged_at": _iso(item.merged),
            "head": ref(item.head, item.sha),
            "base": ref(item.base, _sha(item.base)),
            "requested_reviewers": [_user(login) for login in item.requested],
        }

    def _issue_json(self, repo: _Repo, item: _Item) -> JSON:
        issue = self._common(repo, item, "issues") | {"comments": len(item.comments)}
        if item.head is not None:
            issue["pull_request"] = {
                "url": f"{self.url}/repos/{repo.full}/pulls/{item.number}",
                "html_url": self._html(repo, item),
                "merged_at": _iso(item.merged),
            }
        return issue

    def _page(self, path: str, query: dict[str, list[str]], items: list[JSON]) -> _Reply:
        """One page of ``items`` with GitHub's ``Link`` header (per_page, page)."""
        try:
            per_page = max(1, min(int(_one(query, "per_page", "30")), self.max_per_page))
            page = max(1, int(_one(query, "page", "1")))
        except ValueError:
            raise _GitHubError(422, "Validation Failed") from None
        last = max(1, -(-len(items) // per_page))
        params = {key: values[-1] for key, values in query.items()}

        def link(number: int, rel: str) -> str:
            return f'<{self.url}{path}?{urlencode({**params, "page": number})}>; rel="{rel}"'

        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"link": ", ".join(links)} if links else {}
        return _Reply(200, items[(page - 1) * per_page : page * per_page], headers)


def _one(query: dict[str, list[str]], name: str, default: str) -> str:
    values = query.get(name)
    return values[-1] if values else default


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _missing(resource: str, name: str) -> JSON:
    return {"resource": resource, "field": name, "code": "missing_field"}


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a fake commit id


def _custom(message: str) -> JSON:
    return {"resource": "PullRequest", "code": "custom", "message": message}


def _user(login: str) -> JSON:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return {"login": login, "id": zlib.crc32(login.encode()), "type": kind}


def _label(name: str) -> JSON:
    return {"id": zlib.crc32(name.encode()), "name": name, "color": "ededed", "default": False}


def _label_names(labels: Any) -> list[str]:
    names = [label["name"] if isinstance(label, dict) else label for label in labels or []]
    if not all(isinstance(name, str) for name in names):
        raise _GitHubError(422, "Validation Failed")
    return list(dict.fromkeys(names))
