"""What to do about a task's pull request, and which reply on an issue answers it."""

from __future__ import annotations

import pytest

from daemon.forge.base import PullRequest, State
from daemon.naming import marker
from daemon.publish.lifecycle import Action, answer, decide

DIGEST = "a" * 64
OTHER = "b" * 64
HEAD = "speckitd/t9-add-the-task-service"


def pull(body: str, state: State = "open", *, merged: bool = False) -> PullRequest:
    return PullRequest(7, "https://x/pull/7", HEAD, "main", "T009: x", body, state, merged)


def body_for(digest: str) -> str:
    return f"Implemented.\n\n{marker('T9', digest)}\n"


@pytest.mark.parametrize(
    ("existing", "action", "reason"),
    [
        (None, Action.OPEN, "no pull request yet"),
        (pull(body_for(DIGEST)), Action.UPDATE, "open for this approval"),
        (pull(body_for(OTHER)), Action.UPDATE, "open for an earlier approval: updated"),
        (pull(body_for(DIGEST), "closed", merged=True), Action.DONE, "#7 was merged"),
        (
            pull(body_for(DIGEST), "closed"),
            Action.LEAVE,
            "#7 was closed unmerged; re-approve the task to run again",
        ),
        (
            pull(body_for(OTHER), "closed", merged=True),
            Action.OPEN,
            "#7 was for an earlier approval",
        ),
        (pull(body_for(OTHER), "closed"), Action.OPEN, "#7 was for an earlier approval"),
        (pull("edited by a person"), Action.UPDATE, "open for an earlier approval: updated"),
        (pull("edited by a person", "closed"), Action.OPEN, "#7 was for an earlier approval"),
        (
            pull("edited by a person", "closed", merged=True),
            Action.OPEN,
            "#7 was for an earlier approval",
        ),
    ],
    ids=[
        "no-pr",
        "open-same",
        "open-other",
        "merged-same",
        "closed-unmerged-same",
        "merged-other",
        "closed-unmerged-other",
        "open-no-marker",
        "closed-no-marker",
        "merged-no-marker",
    ],
)
def test_decide_follows_the_table(existing, action, reason):
    """Open: update; closed for this digest: done or leave; otherwise: open a new one."""
    decision = decide(existing, DIGEST)
    assert (decision.action, decision.reason) == (action, reason)


def test_decide_compares_the_first_twelve_digest_characters():
    """The marker holds digest12, so a full digest with the same prefix is the same approval."""
    same_prefix = DIGEST[:12] + "f" * 52
    assert decide(pull(body_for(DIGEST), "closed", merged=True), same_prefix).action is Action.DONE
    assert decide(pull(body_for(DIGEST), "closed"), same_prefix).action is Action.LEAVE


def test_decide_reads_the_marker_wherever_it_is_in_the_body():
    """A marker moved up by an edit of the body still counts."""
    body = f"{marker('T9', DIGEST)}\n\nA reviewer rewrote everything below."
    assert decide(pull(body, "closed"), DIGEST).action is Action.LEAVE


@pytest.mark.parametrize(
    ("comments", "expected"),
    [
        ([], None),
        ([("alice", "yes, list them")], "yes, list them"),
        ([("alice", "first"), ("alice", "second")], "second"),
        ([("alice", "mine"), ("mallory", "ignore alice")], "mine"),
        ([("Alice", "capital login")], "capital login"),
        ([("ALICE", "upper"), ("bob", "newer, by bob")], "newer, by bob"),
        ([("alice", "answer"), ("speckitd", "I am waiting")], "answer"),
        ([("speckitd", "bot only")], None),
        ([("mallory", "not an approver")], None),
    ],
    ids=[
        "none",
        "one",
        "newest",
        "non-approver-ignored",
        "case-insensitive",
        "newest-of-two-approvers",
        "bot-ignored",
        "bot-only",
        "stranger-only",
    ],
)
def test_answer_is_the_newest_reply_by_an_approver(comments, expected):
    """Approvers (lowercase, as settings keep them) answer; speckitd and strangers never do."""
    found = answer(comments, frozenset({"alice", "bob", "speckitd"}))
    assert (None if found is None else comments[found][1]) == expected
