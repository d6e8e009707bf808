"""Which lines of a changed file are new: what line-level rules judge."""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Final

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


# SequenceMatcher without autojunk is quadratic on repeated lines (20,000 identical lines
# took a minute): past this many line pairs, lines are compared as counts instead.
_MATCH_LIMIT: Final = 4_000_000


def _not_in(old: list[str], new: list[str]) -> list[tuple[int, str]]:
    """The head lines beyond how often the base had them (linear; order is not weighed)."""
    left = Counter(old)
    found: list[tuple[int, str]] = []
    for number, line in enumerate(new, start=1):
        if left[line]:
            left[line] -= 1
        else:
            found.append((number, line))
    return found


def added_lines(changed: ChangedFile) -> list[tuple[int, str]]:
    """The head lines (1-based number, text) that the base did not have."""
    if changed.new is None:
        return []
    new = lines(changed.new)
    if changed.status is Status.ADDED or changed.old is None:
        return list(enumerate(new, start=1))
    old = lines(changed.old)
    if len(old) * len(new) > _MATCH_LIMIT:
        return _not_in(old, new)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    found: list[tuple[int, str]] = []
    for tag, _, _, start, end in matcher.get_opcodes():
        if tag in {"insert", "replace"}:
            found.extend((number + 1, new[number]) for number in range(start, end))
    return found
