"""Commit message trailers, read as git reads them (pure).

pygit2's ``message_trailers`` is a dict, so repeated keys collapse; approvals may
be spread over several ``Approved-Tasks:`` lines, so the last paragraph is parsed
here, by git's rule (see :func:`parse`).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

_TRAILER: Final = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)\s*:\s*(.*)$")
APPROVED_TASKS: Final = "approved-tasks"
_GIT_GENERATED: Final = ("Signed-off-by: ", "(cherry picked from commit ")


def parse(message: str) -> list[tuple[str, str]]:
    """The trailers of ``message`` as ``(key, value)`` pairs, in order; keys as written.

    Git's rule: the last paragraph, never the subject one, is a trailer block when
    all its lines are trailers, or when it holds a git-generated line
    (``Signed-off-by:``, ``(cherry picked from commit ...)``) and trailers are at
    least a quarter of its lines. Indented lines continue the trailer above.
    """
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", message.replace("\r\n", "\n").strip()) if p]
    if len(paragraphs) < 2:
        return []
    trailers: list[tuple[str, str]] = []
    counted = others = 0
    generated = False
    for line in paragraphs[-1].split("\n"):
        if line[:1] in {" ", "\t"} and trailers:
            key, value = trailers[-1]
            trailers[-1] = (key, f"{value} {line.strip()}".strip())
            continue
        match = _TRAILER.match(line)
        if line.startswith(_GIT_GENERATED):
            generated = True
            counted += 1
        elif match:
            counted += 1
        else:
            others += 1
        if match:
            trailers.append((match.group(1), match.group(2).strip()))
    block = (counted and not others) or (generated and counted * 3 >= others)
    return trailers if block else []


class Approvals(NamedTuple):
    """What a message's trailers say about approval, read in one pass."""

    items: list[str]  # the task references of every ``Approved-Tasks:`` trailer
    misnamed: list[str]  # trailers whose key starts as Approved-Tasks does but is not it


def approvals(message: str) -> Approvals:
    """The ``Approved-Tasks`` items of ``message``, and its near-miss trailers as written.

    Items are split on commas and spaces. ``Approved-Task: T001`` or ``Approved-Taks:
    T001`` approve nothing; they are returned so that a typo is reported, not silently a
    no-op. ``Approved-By:`` is another trailer.
    """
    found = Approvals([], [])
    if "approved-" not in message.lower():
        return found  # most messages: nothing to parse
    for key, value in parse(message):
        name = key.lower()
        if name == APPROVED_TASKS:
            found.items.extend(item for item in re.split(r"[,\s]+", value) if item)
        elif name.startswith("approved-ta"):
            found.misnamed.append(f"{key}: {value}")
    return found
