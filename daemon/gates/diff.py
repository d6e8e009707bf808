"""Which lines of a changed file are new: what line-level rules judge."""

from __future__ import annotations

import difflib

from daemon.gates.model import ChangedFile, Status


def lines(text: str) -> list[str]:
    """The lines as git and Python count them, without the CR of a CRLF.

    Split at LF only: str.splitlines also splits at form feeds and other separators,
    which Python reads as spaces inside a line, so a secret could hide behind one.
    """
    found = [line.removesuffix("\r") for line in text.split("\n")]
    if found and not found[-1]:
        found.pop()
    return found


def added_lines(changed: ChangedFile) -> list[tuple[int, str]]:
    """The head lines (1-based number, text) that the base did not have."""
    if changed.new is None:
        return []
    new = lines(changed.new)
    if changed.status is Status.ADDED or changed.old is None:
        return list(enumerate(new, start=1))
    old = lines(changed.old)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    found: list[tuple[int, str]] = []
    for tag, _, _, start, end in matcher.get_opcodes():
        if tag in {"insert", "replace"}:
            found.extend((number + 1, new[number]) for number in range(start, end))
    return found
