"""Which lines of a changed file are new: what line-level rules judge."""

from __future__ import annotations

import difflib

from daemon.gates.model import ChangedFile, Status


def added_lines(changed: ChangedFile) -> list[tuple[int, str]]:
    """The head lines (1-based number, text) that the base did not have."""
    if changed.new is None:
        return []
    new = changed.new.splitlines()
    if changed.status is Status.ADDED or changed.old is None:
        return list(enumerate(new, start=1))
    old = changed.old.splitlines()
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    found: list[tuple[int, str]] = []
    for tag, _, _, start, end in matcher.get_opcodes():
        if tag in {"insert", "replace"}:
            found.extend((number + 1, new[number]) for number in range(start, end))
    return found
