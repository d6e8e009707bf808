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


def test_near_misses_of_the_approval_key_are_found_as_written():
    """Keys that start as Approved-Tasks does but are not it; others (Approved-By) are not."""
    message = (
        "Approve\n\nApproved-Task: T001\napproved-taks: T2\nApproved-Tasks: T3\n"
        "Approved-By: Alice\nReviewed-by: Bob"
    )
    assert trailers.approvals(message) == (["T3"], ["Approved-Task: T001", "approved-taks: T2"])
