"""Which lines of a changed file are new: what line-level rules judge."""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Final

from daemon.gates.model import ChangedFile, Status
from daemon.spec.text import split_lines

# SequenceMatcher without autojunk is quadratic on repeated lines (20,000 identical lines
# took a minute): past this many line pairs, lines are compared as counts instead.
_MATCH_LIMIT: Final = 4_000_000


def _not_in(old: tuple[str, ...], new: tuple[str, ...]) -> list[tuple[int, str]]:
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
    # LF only, as git counts lines: a form feed (a space to Python) must not hide a secret.
    new = split_lines(changed.new)
    if changed.status is Status.ADDED or changed.old is None:
        return list(enumerate(new, start=1))
    old = split_lines(changed.old)
    if len(old) * len(new) > _MATCH_LIMIT:
        return _not_in(old, new)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    found: list[tuple[int, str]] = []
    for tag, _, _, start, end in matcher.get_opcodes():
        if tag in {"insert", "replace"}:
            found.extend((number + 1, new[number]) for number in range(start, end))
    return found
