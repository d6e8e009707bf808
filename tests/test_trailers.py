"""Trailers are read as git reads them: last paragraph, never the subject, repeated keys kept."""

from __future__ import annotations

import pytest

from daemon import trailers


@pytest.mark.parametrize(
    ("message", "items"),
    [
        ("subject\n\nApproved-Tasks: T-001, T-004\n", ["T-001", "T-004"]),
        (
            "subject\n\nApproved-Tasks: T1\nApproved-Tasks: T2 T3\nSigned-off-by: a <a@b>",
            ["T1", "T2", "T3"],
        ),
        ("subject\n\nApproved-Tasks: T1,\n  T2\n", ["T1", "T2"]),
        ("subject\n\napproved-tasks : T7\n", ["T7"]),
        ("Approved-Tasks: T1\n", []),
        ("subject\n\nbody text\nApproved-Tasks: T4\n", []),
        ("subject\n\nApproved-Tasks: T4\n\nbody after\n", []),
        ("subject\r\n\r\nApproved-Tasks: 001-auth/T-002\r\n", ["001-auth/T-002"]),
        ("Approve\n\nApproved-Tasks: T001\n(cherry picked from commit 0123abcd)\n", ["T001"]),
        ("x\n\nsome note\nSigned-off-by: A <a@b>\nApproved-Tasks: T9\n", ["T9"]),
        ("x\n\nn1\nn2\nn3\nn4\nn5\nn6\nn7\nApproved-Tasks: T9\nSigned-off-by: A <a@b>", []),
    ],
)
def test_approved_items(message, items):
    """Approved-Tasks values are split on commas and spaces, only from a real trailer block."""
    assert trailers.approvals(message).items == items


SPELLED, OUTSIDE = trailers.SPELLED_OTHERWISE, trailers.OUTSIDE_THE_BLOCK


def test_near_misses_of_the_approval_key_are_found_as_written():
    """Keys that start as Approved-Tasks does but are not it; others (Approved-By) are not."""
    message = (
        "Approve\n\nApproved-Task: T001\napproved-taks: T2\nApproved-Tasks: T3\n"
        "Approved-By: Alice\nReviewed-by: Bob"
    )
    assert trailers.approvals(message) == (
        ["T3"],
        [("Approved-Task: T001", SPELLED), ("approved-taks: T2", SPELLED)],
    )


@pytest.mark.parametrize(
    ("message", "unread"),
    [
        ("Fix\n\nbody text\nApproved-Tasks: T4\n", [("Approved-Tasks: T4", OUTSIDE)]),
        ("Fix\n\nApproved-Tasks: 001-a/T4\n\nmore\n", [("Approved-Tasks: 001-a/T4", OUTSIDE)]),
        ("Fix\n\nApprovedTasks: T001\n", [("ApprovedTasks: T001", SPELLED)]),
        ("Fix\n\nApproved tasks: T001, T002\n", [("Approved tasks: T001, T002", SPELLED)]),
        ("Fix\n\n  Approved_Tasks: T-001\nthanks\n", [("Approved_Tasks: T-001", SPELLED)]),
        ("Fix\n\nApproved tasks: see the board\n", []),  # prose: names no task
        ("Approved-Tasks: T1\n", [("Approved-Tasks: T1", OUTSIDE)]),  # a subject is no trailer
        # Beside a git-generated line, a line that is no trailer leaves the block git's.
        ("Fix\n\nApproved_Tasks: T1\nSigned-off-by: A <a@b>\n", [("Approved_Tasks: T1", SPELLED)]),
        ("Fix\n\nApproved-Task-IDs: T1\n", [("Approved-Task-IDs: T1", SPELLED)]),
        ("Merge: approved by Alice\n\nApproved-by: Alice <a@b>\n", []),
    ],
)
def test_a_trailer_git_would_not_read_is_found_as_written(message, unread):
    """``Approved-Tasks:`` out of the trailer block, or keyed otherwise, approves nothing.

    Each is returned as written, with why, so that a scan reports it and the commit-msg
    hook refuses it, instead of the approval vanishing in silence.
    """
    assert trailers.approvals(message) == ([], unread)
