"""The GitHub forge: REST v3 over a synchronous httpx client (DESIGN §7).

Faults are handled here so callers see one :class:`ForgeError` (DESIGN §4,
notes/reliability-security.md §2.4):

* Reads, edits and repeatable writes are retried on 5xx, on transport errors
  (timeouts, refused or dropped connections), on 429 and on rate-limit 403s.
* Creates (pull requests, issues, comments) are retried only when GitHub says it did
  not process the request (429, rate-limit 403). A 5xx or a transport error raises
  ``ForgeError(maybe_created=True)``: the caller looks the thing up before trying again.
* Waits honour ``retry-after``, then ``x-ratelimit-remaining: 0`` with
  ``x-ratelimit-reset``, else back off exponentially with jitter (at least a minute for
  a rate limit without headers, as GitHub asks). A call fails when its waiting would
  pass ``max_wait``. Writes are spaced ``write_interval`` apart, as GitHub asks too.
* After a 401 the auth renews its credential once and the request is sent once more.

Error messages are one line, scrubbed of secret-shaped text and of the credential sent.
This module is the only user of httpx; githubauth.py holds the JWT side.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, Final, Self, cast, get_args
from urllib.parse import quote

import httpx
import structlog
from pydantic import SecretStr

from daemon.forge import githubjson
from daemon.forge.base import Comment, ForgeError, Issue, Permission, PullRequest, Review, State
from daemon.forge.githubauth import GitHubAuth, auth_from_settings
from daemon.logs import scrub
from daemon.settings import GitHubSettings

__all__ = ["LABEL", "GitHub"]

log = structlog.get_logger("speckitd.forge")

# Every issue the daemon opens carries this label; find_issue lists only those.
LABEL: Final = "speckitd"
HEADERS: Final = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "speckitd",
}
PER_PAGE: Final = 100
MAX_PAGES: Final = 100  # a guard against a Link loop, not a real limit
BACKOFF_BASE: Final = 1.0
BACKOFF_CAP: Final = 60.0
RATE_LIMIT_FLOOR: Final = 60.0  # GitHub: without retry-after or reset, wait at least a minute
_PERMISSIONS: Final = frozenset(get_args(Permission))
_ALREADY_EXISTS: Final = "a pull request already exists"


class GitHub:
    """:class:`~daemon.forge.base.Forge` for github.com or GitHub Enterprise (``api_url``).

    ``transport``, ``sleep``, ``clock`` and ``rng`` are seams for tests; ``max_wait`` bounds
    the seconds one call may spend waiting between retries.
    """

    def __init__(
        self,
        api_url: str,
        auth: GitHubAuth,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float = 900,
        write_interval: float = 1.0,
        timeout: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.api_url = api_url
        self._auth = auth
        self._sleep = sleep
        self._clock = clock
        self._max_wait = max_wait
        self._write_interval = write_interval
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._write_lock = threading.Lock()
        # A rate limit holds for the whole client: no thread sends before this time.
        self._gate = threading.Lock()
        self._blocked_until = 0.0
        self._next_write = 0.0
        self._client = httpx.Client(
            base_url=api_url,
            headers=HEADERS,
            transport=transport,
            timeout=timeout,
            follow_redirects=True,  # renamed repositories answer 301; httpx drops auth off-origin
        )

    @classmethod
    def from_settings(
        cls,
        settings: GitHubSettings,
        *,
        read_key: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> GitHub:
        """A client for ``[forge.github]``: App auth when configured, else the token."""
        auth = auth_from_settings(settings, read_key=read_key, clock=clock)
        return cls(settings.api_url, auth, clock=clock, transport=transport)

    def __repr__(self) -> str:
        return f"GitHub(api_url={self.api_url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the Forge protocol --------------------------------------------------------

    def push_token(self, repo: str) -> SecretStr:
        """What git pushes ``repo`` with: the token, or a fresh installation token."""
        value = self._auth.authorization(githubjson.check(repo), self._send)
        return SecretStr(value.removeprefix("Bearer ").removeprefix("token "))

    def find_pull(self, repo: str, head: str) -> PullRequest | None:
        """The newest pull request from branch ``head`` of the repository's owner, or None."""
        params = {"head": f"{githubjson.check(repo).partition('/')[0]}:{head}", "state": "all"}
        pulls = [
            githubjson.pull(item) for item in self._pages(repo, f"/repos/{repo}/pulls", params)
        ]
        return max(pulls, key=lambda pull: pull.number, default=None)

    def open_pull(
        self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        """Open a pull request; ``ForgeError(exists=True)`` when one from ``head`` is open."""
        payload = {"title": title, "head": head, "base": base, "body": body, "draft": draft}
        path = f"/repos/{githubjson.check(repo)}/pulls"
        response = self._call(repo, "POST", path, body=payload, creates=True, ok={422})
        if response.status_code == 422:
            failure = self._error("POST", path, response)
            failure.exists = _ALREADY_EXISTS in str(failure).lower()
            raise failure
        return githubjson.pull(_json(response))

    def update_pull(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: State | None = None,
    ) -> PullRequest:
        """Change a pull request's title, body or state."""
        payload = githubjson.present(title=title, body=body, state=state)
        path = f"/repos/{githubjson.check(repo)}/pulls/{number}"
        return githubjson.pull(_json(self._call(repo, "PATCH", path, body=payload)))

    def find_issue(self, repo: str, marker: str) -> Issue | None:
        """The newest ``speckitd``-labelled issue whose body contains ``marker``, or None.

        This lists the repository's issues rather than asking the Search API: search is
        eventually consistent, so an issue created a moment ago (say by a create that
        answered 502) could be missed and a duplicate opened.
        """
        newest: Issue | None = None
        for item in self._pages(repo, f"/repos/{repo}/issues", {"state": "all", "labels": LABEL}):
            # The issues list includes pull requests; they carry a pull_request key.
            if isinstance(item, dict) and "pull_request" in item:
                continue
            issue = githubjson.issue(item)
            if marker in issue.body and (newest is None or issue.number > newest.number):
                newest = issue
        return newest

    def open_issue(self, repo: str, *, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        """Open an issue labelled ``labels`` and ``speckitd`` (so find_issue sees it)."""
        payload = {"title": title, "body": body, "labels": list(dict.fromkeys([*labels, LABEL]))}
        path = f"/repos/{githubjson.check(repo)}/issues"
        return githubjson.issue(_json(self._call(repo, "POST", path, body=payload, creates=True)))

    def update_issue(
        self, repo: str, number: int, *, body: str | None = None, state: State | None = None
    ) -> Issue:
        """Change an issue's body or state."""
        path = f"/repos/{githubjson.check(repo)}/issues/{number}"
        return githubjson.issue(
            _json(self._call(repo, "PATCH", path, body=githubjson.present(body=body, state=state)))
        )

    def comments(self, repo: str, number: int) -> list[Comment]:
        """The comments of a pull request or issue, oldest first."""
        return [
            githubjson.comment(c)
            for c in self._pages(repo, f"/repos/{repo}/issues/{number}/comments")
        ]

    def comment(self, repo: str, number: int, body: str) -> Comment:
        """Comment on a pull request or issue."""
        path = f"/repos/{githubjson.check(repo)}/issues/{number}/comments"
        return githubjson.comment(
            _json(self._call(repo, "POST", path, body={"body": body}, creates=True))
        )

    def add_labels(self, repo: str, number: int, labels: Sequence[str]) -> None:
        """Add labels (adding one twice is harmless, so this is retried like an edit)."""
        path = f"/repos/{githubjson.check(repo)}/issues/{number}/labels"
        self._call(repo, "POST", path, body={"labels": list(labels)})

    def request_review(self, repo: str, number: int, reviewers: Sequence[str]) -> None:
        """Ask users to review; GitHub refusing (the author, a non-collaborator) is logged."""
        path = f"/repos/{githubjson.check(repo)}/pulls/{number}/requested_reviewers"
        response = self._call(repo, "POST", path, body={"reviewers": list(reviewers)}, ok={422})
        if response.status_code == 422:
            reason = str(self._error("POST", path, response))
            log.warning("github.review_request_refused", repo=repo, pull=number, reason=reason)

    def permission(self, repo: str, user: str) -> Permission:
        """A user's permission; "none" when GitHub does not know them on the repository.

        A built-in ``role_name`` wins over ``permission``, which reports maintain as write
        and triage as read.
        """
        path = f"/repos/{githubjson.check(repo)}/collaborators/{quote(user, safe='')}/permission"
        response = self._call(repo, "GET", path, ok={404})
        data = (
            githubjson.mapping(_json(response), "permission") if response.status_code != 404 else {}
        )
        for value in (data.get("role_name"), data.get("permission")):
            if value in _PERMISSIONS:
                return cast(Permission, value)
        return "none"  # unknown users and custom roles grant nothing we rely on

    def reviews(self, repo: str, number: int) -> list[Review]:
        """The reviews of a pull request, oldest first."""
        return [
            githubjson.review(r) for r in self._pages(repo, f"/repos/{repo}/pulls/{number}/reviews")
        ]

    # -- HTTP ---------------------------------------------------------------------

    def _pages(
        self, repo: str, path: str, params: dict[str, str] | None = None
    ) -> Iterator[object]:
        """The items of a list endpoint, following ``Link: rel="next"``."""
        githubjson.check(repo)
        url: str | None = path
        query: dict[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._call(repo, "GET", url, params=query)
            page = _json(response)
            if not isinstance(page, list):
                raise ForgeError(f"GitHub GET {path}: expected a list")
            yield from page
            url, query = self._next(response, path), None  # the next link carries the query
        raise ForgeError(f"GitHub GET {path}: more than {MAX_PAGES} pages")

    def _next(self, response: httpx.Response, path: str) -> str | None:
        """The next page's URL, refused off the API's origin (the credential would go there)."""
        link = response.links.get("next", {}).get("url")
        if link is None:
            return None
        target, base = httpx.URL(link), self._client.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise ForgeError(f"GitHub GET {path}: next page on another origin")
        return link

    def _call(
        self,
        repo: str,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: object = None,
        creates: bool = False,
        ok: Collection[int] = (),
    ) -> httpx.Response:
        """Send with the repository's credential, renewing it once after a 401."""
        return self._exchange(
            method,
            url,
            authorization=lambda: self._auth.authorization(repo, self._send),
            renew=lambda: self._auth.invalidate(repo),
            params=params,
            body=body,
            creates=creates,
            ok=ok,
        )

    def _send(self, method: str, path: str, authorization: str) -> object:
        """The auth's own requests (installation, token): retried, never renewed."""
        return _json(self._exchange(method, path, authorization=lambda: authorization))

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        authorization: Callable[[], str],
        renew: Callable[[], bool] | None = None,
        params: dict[str, Any] | None = None,
        body: object = None,
        creates: bool = False,
        ok: Collection[int] = (),
    ) -> httpx.Response:
        """The final answer (2xx or in ``ok``) after retries; ForgeError otherwise."""
        path = httpx.URL(url).path
        waited, failures, renewed = 0.0, 0, False
        while True:
            self._wait_for_gate()
            if method != "GET":
                self._space_write()
            credential = authorization()  # per attempt: a long wait may outlive a token
            try:
                response = self._client.request(
                    method, url, params=params, json=body, headers={"Authorization": credential}
                )
            except httpx.TransportError as error:
                reason = _clean(
                    f"GitHub {method} {path}: {type(error).__name__}: {error}", credential
                )
                if creates:
                    raise ForgeError(
                        f"{reason} (may have been created)", maybe_created=True
                    ) from None
                failures += 1
                waited = self._pause(waited, self._backoff(failures), reason, None)
                continue
            except httpx.HTTPError as error:  # too many redirects, an undecodable body
                reason = _clean(f"GitHub {method} {path}: {type(error).__name__}", credential)
                raise ForgeError(reason, maybe_created=creates) from None
            status = response.status_code
            if status == 401 and renew is not None and not renewed and renew():
                renewed = True
                continue
            limited = _rate_limited(response)
            if limited or (status >= 500 and not creates):
                failures += 1
                reason = str(self._error(method, path, response, credential))
                delay = self._delay(response, failures, limited)
                if limited:
                    with self._gate:
                        self._blocked_until = max(self._blocked_until, self._clock() + delay)
                waited = self._pause(waited, delay, reason, status)
                continue
            if 200 <= status < 300 or status in ok:
                return response
            failure = self._error(method, path, response, credential)
            failure.maybe_created = creates and status >= 500
            raise failure

    def _error(
        self, method: str, path: str, response: httpx.Response, credential: str = ""
    ) -> ForgeError:
        """One scrubbed line from GitHub's ``message`` and ``errors[].message``."""
        text = ": ".join(_messages(response)) or response.reason_phrase
        line = _clean(f"GitHub {method} {path}: {response.status_code} {text}", credential)
        return ForgeError(line, status=response.status_code)

    def _delay(self, response: httpx.Response, failures: int, limited: bool) -> float:
        """Seconds to wait before retrying after ``response``."""
        headers = response.headers
        retry_after = githubjson.retry_after(headers.get("retry-after", ""), self._clock())
        if retry_after is not None:
            # A zero or past value must not turn into a tight loop of requests.
            return max(retry_after, BACKOFF_BASE)
        reset = headers.get("x-ratelimit-reset", "")
        if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
            return max(0.0, int(reset) - self._clock()) + 1.0  # reset is in whole seconds
        backoff = self._backoff(failures)
        return max(backoff, RATE_LIMIT_FLOOR) if limited else backoff

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with equal jitter: gaps grow, and clients do not march in step."""
        step = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (failures - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _pause(self, waited: float, wait: float, reason: str, status: int | None) -> float:
        """Sleep ``wait`` and return the new total, or fail when it would pass ``max_wait``."""
        if waited + wait > self._max_wait:
            raise ForgeError(
                f"{reason} (gave up: next wait {wait:.0f} s after {waited:.0f} s of waiting)",
                status=status,
            )
        log.warning("github.retry", reason=reason, status=status, wait=round(wait, 3))
        self._sleep(wait)
        return waited + wait

    def _wait_for_gate(self) -> None:
        """Wait out a rate limit another thread ran into (GitHub: no request until it ends)."""
        with self._gate:
            left = self._blocked_until - self._clock()
        if left > 0:
            self._sleep(left)

    def _space_write(self) -> None:
        """Keep writes ``write_interval`` apart (GitHub's advice against secondary limits)."""
        with self._write_lock:
            now = self._clock()
            slot = max(now, self._next_write)
            self._next_write = slot + self._write_interval
        if slot > now:
            self._sleep(slot - now)


def _clean(text: str, credential: str) -> str:
    """One line without secret-shaped text or the credential that was sent."""
    secret = credential.rpartition(" ")[2]
    if secret:
        text = text.replace(secret, "[REDACTED]")
    return " ".join(str(scrub(text)).split())


def _json(response: httpx.Response) -> object:
    try:
        return cast(object, response.json())
    except ValueError:
        request = response.request
        raise ForgeError(
            f"GitHub {request.method} {request.url.path}: answer is not JSON",
            status=response.status_code,
        ) from None


def _messages(response: httpx.Response) -> list[str]:
    """GitHub's ``message`` and a 422's ``errors[].message`` (where "already exists" is)."""
    try:
        data = response.json()
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    errors = data.get("errors")
    details = errors if isinstance(errors, list) else []
    found = [data.get("message")] + [e.get("message") for e in details if isinstance(e, dict)]
    return [text for text in found if isinstance(text, str) and text]


def _rate_limited(response: httpx.Response) -> bool:
    """429, or a 403 that is a rate limit (some secondary limits say so only in the body)."""
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    headers = response.headers
    if "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0":
        return True
    return any("rate limit" in text.lower() for text in _messages(response))
