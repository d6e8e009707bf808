"""What to do about a task's pull request, given what the forge already has. Pure.

A table of the cases DESIGN §4 and the follow-up rules name: one open pull request per
task at most, a closed one is not recreated for the same approval, and a new approval
(new digest) updates the open one in place instead of opening a second.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from daemon.forge.base import PullRequest
from daemon.naming import read_marker


class Action(enum.StrEnum):
    """What the publisher does with the task's pull request."""

    OPEN = "open"  # none yet (or only closed ones for older approvals): open one
    UPDATE = "update"  # an open one: push and refresh its body (same or newer digest)
    DONE = "done"  # merged for this approval: nothing left to do
    LEAVE = "leave"  # closed unmerged for this approval: wait for a re-approval


@dataclass(frozen=True, slots=True)
class Decision:
    """An action and why."""

    action: Action
    reason: str


def decide(existing: PullRequest | None, digest: str) -> Decision:
    """The action for the newest pull request from the task's branch (None: there is none)."""
    if existing is None:
        return Decision(Action.OPEN, "no pull request yet")
    found = read_marker(existing.body)
    same = found is not None and found[1] == digest[:12]
    if existing.state == "open":
        why = "open for this approval" if same else "open for an earlier approval: updated"
        return Decision(Action.UPDATE, why)
    if not same:
        return Decision(Action.OPEN, f"#{existing.number} was for an earlier approval")
    if existing.merged:
        return Decision(Action.DONE, f"#{existing.number} was merged")
    return Decision(
        Action.LEAVE, f"#{existing.number} was closed unmerged; re-approve the task to run again"
    )


def answer(comments: list[tuple[str, str]], approvers: frozenset[str]) -> int | None:
    """The index of the newest reply by an approver among ``(login, body)`` comments."""
    for index in range(len(comments) - 1, -1, -1):
        author = comments[index][0]
        if author.lower() in approvers and author != "speckitd":
            return index
    return None
