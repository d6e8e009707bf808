"""Marking a task done in its file: the daemon's second commit on a task branch. Pure.

Merging the pull request then completes the task, which lets tasks that depend on it
start (DESIGN §3). The smallest edit that the task's own grammar reads as done:

- a checkbox on the task's line → ``[x]``;
- a ``Status:`` (or ``State:``) field line, table ``Status`` cell or YAML ``status:`` key
  → ``done``;
- a heading block without a status → a ``**Status:** done`` line after the heading.

Every edit is checked by parsing the result: the task must read as done and every
other task must keep its digest and state. When no edit passes, the file is left
alone (None) and the pull request says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from daemon.spec import fields
from daemon.spec.blocks import STATUS_FIELDS
from daemon.spec.model import Style, Task, TaskFile, TaskState
from daemon.spec.tasks import parse_tasks

_CHECKBOX: Final = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+(?:[\w.-]+\s+)?)\[ \]")
_YAML_STATUS: Final = re.compile(r"^(\s*(?:-\s+)?status\s*:\s*)(.*?)(\s*)$", re.IGNORECASE)


# An edit: replace the line at an index (0-based) with these lines.
Edit = tuple[int, list[str]]


def _checkbox(lines: list[str], task: Task) -> Edit | None:
    index = task.line - 1
    ticked = _CHECKBOX.sub(r"\1[x]", lines[index], count=1)
    return None if ticked == lines[index] else (index, [ticked])


def _status_line(lines: list[str], task: Task, done: Callable[[str], str | None]) -> Edit | None:
    """The first line of the task's block that ``done`` rewrites (a status set to done)."""
    for index in range(task.line - 1, min(task.end_line, len(lines))):
        ticked = done(lines[index])
        if ticked is not None:
            return index, [ticked]
    return None


def _status_field(line: str) -> str | None:
    """A ``Status:`` field line (read as the parser reads fields) with its value ``done``."""
    found = fields.field_at(line)
    if found is None or found[0] not in STATUS_FIELDS:
        return None
    _, start, end = found
    return f"{line[:start]}done{line[end:]}"


def _yaml_status(line: str) -> str | None:
    """A YAML ``status:`` key line with its value ``done``."""
    match = _YAML_STATUS.match(line)
    return None if match is None else f"{match.group(1)}done{match.group(3)}"


def _added_status(lines: list[str], task: Task, after: int, added: list[str]) -> Edit | None:
    index = task.line - 2 + after  # the line the status follows
    if index >= task.end_line or index >= len(lines):
        return None
    return index, [lines[index], *added]


def _table_cell(lines: list[str], task: Task) -> Edit | None:
    row = lines[task.line - 1]
    for header_index in range(task.line - 2, -1, -1):
        header = lines[header_index]
        if not header.lstrip().startswith("|"):
            return None
        cells = [cell.strip().lower() for cell in header.strip().strip("|").split("|")]
        if "status" in cells and not set(header.replace("|", "").strip()) <= set("-: "):
            column = cells.index("status")
            parts = row.split("|")
            offset = 1 if row.lstrip().startswith("|") else 0
            if column + offset >= len(parts):
                return None
            old = parts[column + offset]
            parts[column + offset] = old.replace(old.strip(), "done") if old.strip() else " done "
            return task.line - 1, ["|".join(parts)]
    return None


def _candidates(lines: list[str], task: Task) -> list[Edit | None]:
    if task.style is Style.YAML:
        return [_status_line(lines, task, _yaml_status)]
    if task.style is Style.TABLE:
        return [_table_cell(lines, task), _checkbox(lines, task)]
    found = [_checkbox(lines, task), _status_line(lines, task, _status_field)]
    if task.style is Style.HEADING:
        found.append(_added_status(lines, task, 1, ["", "**Status:** done"]))
    if task.style in {Style.HEADING, Style.FIELDS}:
        # Field blocks differ in where fields start: try after each of the first lines.
        found += [_added_status(lines, task, after, ["Status: done"]) for after in (1, 2, 3)]
    return found


def _apply(raw: list[str], edit: Edit) -> bytes:
    """The file with ``edit`` made; every line keeps its own ending, new lines their neighbour's."""
    index, replacement = edit
    ending = "\r" if raw[index].endswith("\r") else ""
    changed = [*raw[:index], *(line + ending for line in replacement), *raw[index + 1 :]]
    return "\n".join(changed).encode()


def mark_done(data: bytes, path: str, task: Task) -> bytes | None:
    """The task file with ``task`` marked done, or None when no safe edit exists.

    None too when the file is not UTF-8, or when the task's line no longer holds this
    task (``task`` was read from another version of the file).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    raw = text.split("\n")  # CRLF lines keep their "\r"
    lines = [line.removesuffix("\r") for line in raw]
    before = parse_tasks(data, path)
    here = [t for t in before.tasks if t.line == task.line]
    if not here or (here[0].key, here[0].digest) != (task.key, task.digest):
        return None
    for candidate in _candidates(lines, task):
        if candidate is None:
            continue
        edited = _apply(raw, candidate)
        if _only_done(before.tasks, parse_tasks(edited, path), task.line):
            return edited
    return None


def _only_done(before: tuple[Task, ...], after_file: TaskFile, line: int) -> bool:
    """Whether ``after_file`` differs from ``before`` only by the task at ``line`` being done."""
    after = after_file.tasks
    if [t.key for t in after] != [t.key for t in before]:
        return False
    for old, new in zip(before, after, strict=True):
        if old.line == line:
            if after_file.state(new) is not TaskState.DONE:
                return False
        elif (old.digest, old.done, old.approved, old.held) != (
            new.digest,
            new.done,
            new.approved,
            new.held,
        ):
            return False
    return True
