"""Which head lines are new: what line-level rules (secrets) judge."""

from __future__ import annotations

from daemon.gates.diff import added_lines
from daemon.gates.model import ChangedFile, Status


def modified(old: str, new: str) -> ChangedFile:
    return ChangedFile("backend/app/x.py", Status.MODIFIED, old, new)


def test_lines_split_at_lf_only():
    """A form feed stays inside its line; CRLF ends one."""
    assert added_lines(modified("", "a\x0cb\r\nc\n")) == [(1, "a\x0cb"), (2, "c")]


def test_inserted_and_replaced_lines_are_new():
    assert added_lines(modified("a\nb\nc\n", "a\nB\nc\nd\n")) == [(2, "B"), (4, "d")]


def test_huge_repetitive_files_are_compared_by_counts():
    """Past the pair limit (quadratic matching), a line is new beyond the base's count of it."""
    base = "pass\n" * 2500
    head = "pass\n" * 1250 + 'KEY = "x"\n' + "pass\n" * 1251
    assert added_lines(modified(base, head)) == [(1251, 'KEY = "x"'), (2502, "pass")]
