"""What the hooks read: pre-push ref lines, commit messages, Approved-Tasks items (pure)."""

from __future__ import annotations

import pytest

from daemon.errors import UsageError
from daemon.hookinput import (
    RefUpdate,
    check_items,
    clean_message,
    framework_updates,
    is_zero,
    parse_updates,
)
from daemon.spec.tasks import parse_cores

AUTH = "specs/001-auth/tasks.md"
BILLING = "specs/002-billing/tasks.md"
FILES = {
    AUTH: parse_cores(b"# Tasks\n\n- [ ] T001 Add login\n- [x] T002 Add logout\n", AUTH),
    BILLING: parse_cores(b"# Tasks\n\n- [ ] T001 Add invoices\n- [ ] T003 Add refunds\n", BILLING),
}
BOTH = f"{AUTH}, {BILLING}"


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("T003", None),
        ("T-003", None),
        ("T3", None),
        ("001-auth/T001", None),
        ("specs/002-billing/T001", None),
        (f"{BILLING}:T001", None),
        ("T099", f"T099 names no task in {BOTH}"),
        ("001-auth/T003", f"001-auth/T003 names no task in {AUTH}"),
        ("003-search/T001", "003-search/T001 names no task in 003-search (no task file there)"),
        (
            "T001",
            f"T001 is ambiguous: {BOTH} all define it; write 001-auth/T001 or 002-billing/T001",
        ),
        ("T002", f"T002 is already done ({AUTH}: T002 Add logout)"),
        ("001-auth/T-002", f"001-auth/T-002 is already done ({AUTH}: T002 Add logout)"),
    ],
)
def test_check_items(item, problem):
    """Each item names exactly one open task, or gets one line saying what is wrong."""
    expected = [] if problem is None else [f"Approved-Tasks: {problem}"]
    assert check_items([item], FILES) == expected


def test_check_items_reports_every_bad_item_in_order():
    """Several bad items give one line each, in the order written."""
    problems = check_items(["T099", "T003", "T002"], FILES)
    assert [p.split()[1] for p in problems] == ["T099", "T002"]


def test_check_items_without_task_files():
    """With no task file at all, every item names no task, and the line says so."""
    assert check_items(["T001"], {}) == [
        "Approved-Tasks: T001 names no task in any task file (none found)"
    ]


def test_ambiguity_hint_falls_back_to_the_file_when_the_feature_is_not_unique():
    """Two task files in folders of the same name are told apart by their paths."""
    left, right = "a/001-auth/tasks.md", "b/001-auth/tasks.md"
    files = {path: parse_cores(b"- [ ] T001 Add login\n", path) for path in (left, right)}
    (problem,) = check_items(["T001"], files)
    assert problem.endswith(f"write {left}:T001 or {right}:T001")


def test_check_items_with_a_root_task_file():
    """A task file at the root has no feature: the hint names the file."""
    files = {
        "speckit.tasks": parse_cores(b"- [ ] T001 One\n", "speckit.tasks"),
        AUTH: FILES[AUTH],
    }
    (problem,) = check_items(["T001"], files)
    assert problem.endswith("write speckit.tasks:T001 or 001-auth/T001")


def test_clean_message_drops_comments_and_the_verbose_diff():
    """Comment lines go, and so does everything below git's scissors line."""
    text = (
        "Approve\n\nApproved-Tasks: T001\n\n# Please enter the commit message.\n#\n"
        "# ------------------------ >8 ------------------------\n"
        "Approved-Tasks: T099\n"
    )
    assert clean_message(text) == "Approve\n\nApproved-Tasks: T001\n"


def test_parse_updates_reads_git_lines_and_skips_blank_ones():
    """Four fields a line; blank lines are nothing."""
    sha, zero = "a" * 40, "0" * 40
    text = f"refs/heads/main {sha} refs/heads/main {zero}\n\n"
    assert parse_updates(text) == [RefUpdate("refs/heads/main", sha, "refs/heads/main", zero)]


@pytest.mark.parametrize("line", ["garbage", "a b c", "a b c d e"])
def test_parse_updates_refuses_a_malformed_line(line):
    """A line without exactly four fields is a usage error naming the line."""
    with pytest.raises(UsageError, match="stdin line 2 is not"):
        parse_updates(f"refs/heads/x {'1' * 40} refs/heads/x {'0' * 40}\n{line}\n")


def test_framework_updates():
    """The pre-commit framework's variables stand for git's stdin."""
    assert framework_updates({}) == []
    environ = {
        "PRE_COMMIT_FROM_REF": "abc",
        "PRE_COMMIT_TO_REF": "def",
        "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/feature",
    }
    assert framework_updates(environ) == [RefUpdate("refs/heads/feature", "def", "", "abc")]
    (whole,) = framework_updates({"PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main"})
    assert (whole.local_sha, is_zero(whole.remote_sha)) == ("refs/heads/main", True)


@pytest.mark.parametrize(
    ("sha", "zero"), [("0" * 40, True), ("0" * 64, True), ("0" * 39 + "1", False)]
)
def test_is_zero(sha, zero):
    """SHA-1 and SHA-256 all-zeros ids are git's "no such ref"."""
    assert is_zero(sha) is zero
