"""The forge protocol: the few things the publisher asks of a code host. Pure values.

Every implementation (``github``, ``local``, a test's twin) answers the same calls with
the same frozen values and raises :class:`ForgeError` for what went wrong. A create
that fails with ``maybe_created`` may have happened anyway (a 502 after the server
acted, a timeout): callers look it up before trying again (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from daemon.errors import SpeckitdError

State = Literal["open", "closed"]
Permission = Literal["admin", "maintain", "write", "triage", "read", "none"]


class ForgeError(SpeckitdError):
    """A forge call that failed.

    ``status`` is the HTTP status (None: no answer); ``maybe_created`` is set when a
    create may have taken effect although it failed; ``exists`` when the forge says the
    thing to create is already there (GitHub's 422 "A pull request already exists").
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        maybe_created: bool = False,
        exists: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.maybe_created = maybe_created
        self.exists = exists


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request as the publisher needs it."""

    number: int
    url: str
    head: str
    base: str
    title: str
    body: str
    state: State
    merged: bool = False
    draft: bool = False


@dataclass(frozen=True, slots=True)
class Issue:
    """An issue (a clarification request)."""

    number: int
    url: str
    title: str
    body: str
    state: State


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment on a pull request or issue."""

    id: int
    author: str
    body: str


@dataclass(frozen=True, slots=True)
class Review:
    """A review of a pull request: ``state`` is APPROVED, CHANGES_REQUESTED, COMMENTED, ..."""

    author: str
    state: str
    commit: str = ""


class Forge(Protocol):
    """A code host, for one repository (``owner/name``) at a time."""

    def find_pull(self, repo: str, head: str) -> PullRequest | None:
        """The newest pull request from branch ``head`` in any state, or None."""
        ...

    def open_pull(
        self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        """Open a pull request from ``head`` into ``base``."""
        ...

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
        ...

    def find_issue(self, repo: str, marker: str) -> Issue | None:
        """The newest issue whose body contains ``marker``, in any state, or None."""
        ...

    def open_issue(self, repo: str, *, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        """Open an issue."""
        ...

    def update_issue(
        self, repo: str, number: int, *, body: str | None = None, state: State | None = None
    ) -> Issue:
        """Change an issue's body or state."""
        ...

    def comments(self, repo: str, number: int) -> list[Comment]:
        """The comments of a pull request or issue, oldest first."""
        ...

    def comment(self, repo: str, number: int, body: str) -> Comment:
        """Comment on a pull request or issue."""
        ...

    def add_labels(self, repo: str, number: int, labels: Sequence[str]) -> None:
        """Add labels to a pull request or issue."""
        ...

    def request_review(self, repo: str, number: int, reviewers: Sequence[str]) -> None:
        """Ask users to review a pull request."""
        ...

    def permission(self, repo: str, user: str) -> Permission:
        """A user's permission on the repository."""
        ...

    def reviews(self, repo: str, number: int) -> list[Review]:
        """The reviews of a pull request, oldest first."""
        ...
