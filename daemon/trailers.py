"""Commit message trailers, read as git reads them (pure).

pygit2's ``message_trailers`` is a dict, so repeated keys collapse; approvals may
be spread over several ``Approved-Tasks:`` lines, so the last paragraph is parsed
here, by git's rule (see :func:`parse`).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from daemon.spec.ids import is_task_like

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
    paragraphs = _paragraphs(message)
    return (_block(paragraphs[-1]) or []) if len(paragraphs) >= 2 else []


def _paragraphs(message: str) -> list[str]:
    return [p for p in re.split(r"\n[ \t]*\n", message.replace("\r\n", "\n").strip()) if p]


def _block(paragraph: str) -> list[tuple[str, str]] | None:
    """The paragraph's trailers, or None when git does not read it as a trailer block."""
    trailers: list[tuple[str, str]] = []
    counted = others = 0
    generated = False
    for line in paragraph.split("\n"):
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
    return trailers if block else None


class Unread(NamedTuple):
    """Something written as an approval trailer that git or speckitd does not read as one."""

    written: str  # the trailer or line, as written
    why: str  # why it approves nothing, and what to write instead


SPELLED_OTHERWISE: Final = (
    "not an Approved-Tasks trailer (the key is spelled otherwise; write Approved-Tasks): "
    "approves nothing"
)
OUTSIDE_THE_BLOCK: Final = (
    "not read as a trailer (it must be in the message's last paragraph, with nothing but "
    "trailers there): approves nothing"
)


class Approvals(NamedTuple):
    """What a message's trailers say about approval, read in one pass."""

    items: list[str]  # the task references of every ``Approved-Tasks:`` trailer
    unread: list[Unread]  # near misses: a key spelled otherwise, a trailer out of place


def approvals(message: str) -> Approvals:
    """The ``Approved-Tasks`` items of ``message``, and the near misses as written.

    Items are split on commas and spaces. ``Approved-Task: T001``, ``ApprovedTasks: T001``
    or ``Approved-Tasks: T001`` anywhere but in the trailer block (the subject included)
    approve nothing; they are returned so that the mistake is reported, not silently a
    no-op. A line that is no trailer counts only when it names a task (``Approved tasks:
    see the board`` is prose), and ``Approved-By:`` is another trailer.
    """
    found = Approvals([], [])
    if "approved" not in message.lower():
        return found  # most messages: nothing to parse
    paragraphs = _paragraphs(message)
    block = _block(paragraphs[-1]) if len(paragraphs) >= 2 else None
    for key, value in block or []:
        if key.lower() == APPROVED_TASKS:
            found.items.extend(_items(value))
        elif _NEAR_KEY.fullmatch(key):
            found.unread.append(Unread(f"{key}: {value}", SPELLED_OTHERWISE))
    for number, paragraph in enumerate(paragraphs, start=1):
        read = block is not None and number == len(paragraphs)  # its trailers were read above
        for line in paragraph.split("\n"):
            match = _NEAR_LINE.match(line)
            if match is None or (read and _TRAILER.match(line)):
                continue
            if any(is_task_like(_literal(item)) for item in _items(match[2])):
                exact = match[1].lower() == APPROVED_TASKS
                why = OUTSIDE_THE_BLOCK if exact else SPELLED_OTHERWISE
                found.unread.append(Unread(line.strip(), why))
    return found


# A key as an approval trailer's might be spelled: Approved-Tasks, Approved tasks,
# Approved_Task, ApprovedTasks, Approved-Taks, Approved-Task-IDs. A line with one.
_NEAR_KEY: Final = re.compile(r"approved[\s_-]*ta[a-z_-]*", re.IGNORECASE)
_NEAR_LINE: Final = re.compile(rf"\s*({_NEAR_KEY.pattern})\s*:\s*(.*?)\s*$", re.IGNORECASE)


def _items(value: str) -> list[str]:
    return [item for item in re.split(r"[,\s]+", value) if item]


def _literal(item: str) -> str:
    """The task ID of an item (``001-auth/T-001``, ``specs/x/tasks.md:T-001`` → ``T-001``)."""
    return re.split(r"[/:]", item)[-1]
