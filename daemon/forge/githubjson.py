"""GitHub's JSON as the forge's values, and the small pure helpers the client needs."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime
from typing import Any, Final

from daemon.forge.base import Comment, ForgeError, Issue, PullRequest, Review, State

_REPO: Final = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def check(repo: str) -> str:
    """``repo`` when it is ``owner/name``: it becomes part of every URL path."""
    if not _REPO.fullmatch(repo) or ".." in repo:
        raise ForgeError(f"not an owner/name repository: {repo!r}")
    return repo


def present(**fields: object) -> dict[str, object]:
    """The fields that are not None (a PATCH sends only what changes)."""
    return {key: value for key, value in fields.items() if value is not None}


def retry_after(value: str, now: float) -> float | None:
    """``retry-after`` in seconds (GitHub sends seconds; an HTTP date is accepted too)."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, float(parsedate_to_datetime(value).timestamp()) - now)
    except (TypeError, ValueError):
        return None


def mapping(value: object, what: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, else a ForgeError naming ``what``."""
    if not isinstance(value, dict):
        raise ForgeError(f"GitHub: unexpected {what} shape")
    return value


def login(item: dict[str, Any]) -> str:
    """The login of an item's ``user``."""
    user = item.get("user")
    # A deleted account comes back as null; GitHub's pages call it "ghost".
    return str(user.get("login", "ghost")) if isinstance(user, dict) else "ghost"


def state(item: dict[str, Any]) -> State:
    """An item's state, open unless GitHub says closed."""
    return "closed" if item.get("state") == "closed" else "open"


def pull(value: object) -> PullRequest:
    """A pull request from GitHub's JSON."""
    item = mapping(value, "pull request")
    try:
        return PullRequest(
            number=int(item["number"]),
            url=str(item["html_url"]),
            head=str(item["head"]["ref"]),
            base=str(item["base"]["ref"]),
            title=str(item["title"]),
            body=str(item.get("body") or ""),
            state=state(item),
            merged=item.get("merged_at") is not None,
            draft=bool(item.get("draft")),
        )
    except (KeyError, TypeError, ValueError):
        raise ForgeError("GitHub: unexpected pull request shape") from None


def issue(value: object) -> Issue:
    """An issue from GitHub's JSON."""
    item = mapping(value, "issue")
    try:
        number, url, title = int(item["number"]), str(item["html_url"]), str(item["title"])
    except (KeyError, TypeError, ValueError):
        raise ForgeError("GitHub: unexpected issue shape") from None
    return Issue(number, url, title, body=str(item.get("body") or ""), state=state(item))


def comment(value: object) -> Comment:
    """A comment from GitHub's JSON."""
    item = mapping(value, "comment")
    try:
        return Comment(id=int(item["id"]), author=login(item), body=str(item.get("body") or ""))
    except (KeyError, TypeError, ValueError):
        raise ForgeError("GitHub: unexpected comment shape") from None


def review(value: object) -> Review:
    """A review from GitHub's JSON."""
    item = mapping(value, "review")
    commit = str(item.get("commit_id") or "")
    return Review(author=login(item), state=str(item.get("state") or ""), commit=commit)
