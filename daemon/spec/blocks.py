"""Task blocks: where each task starts and ends, and the core facts detection needs.

The core pass is what every version of a task file costs: find the task starts,
cut each task's block, read its status markers and hash its normalized text.
Everything else (references, paths, dependencies) is the detail pass
(:mod:`daemon.spec.details`), run only where a full :class:`Task` is wanted.

Grammar (README, "How speckitd reads task files"):

- A heading task (``### T-001: Title``, ``## Task 1.1: Title``) owns every line up
  to the next heading of its level or above; checkbox lines inside it are steps.
- A list task (``- [ ] T001 ...``, ``- 1.1 [x] ...``, ``- **T-201**: ...``) owns the
  lines indented under it.
- A table row is a task when the table has an ID column (``#``, ``ID``, ``Task ID``).
- ``TASK-1: Title`` at the left margin owns its paragraph; a ``Task ID: T1`` field
  owns the lines up to the next task, heading or ``PHASE`` line.
- A file with no task IDs at all whose body is one numbered list ``1.`` … ``N.``
  (numbered once through, not restarting) is read as that list.
- The first of two tasks with one key wins; the second is a finding.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, NamedTuple

from daemon.spec import fields, recognize
from daemon.spec.ids import task_key
from daemon.spec.markdown import Kind, Structure, plain
from daemon.spec.model import Finding, Style
from daemon.spec.recognize import Start

STATUS_FIELDS: Final = frozenset({"status", "state"})
TITLE_FIELDS: Final = frozenset({"task name", "title", "name"})
LIST_STYLES: Final = frozenset({Style.CHECKLIST, Style.BULLET, Style.NUMBERED})
# Tasks whose blocks an edit elsewhere cannot change (daemon.spec.incremental).
LOCAL_STYLES: Final = frozenset({Style.CHECKLIST, Style.BULLET})
_STATUS_MARK: Final = re.compile(
    r"\[(?: |x|X|approved|hold|on hold|on-hold|blocked|draft|done|complete|completed)\]",
    re.IGNORECASE,
)
_RULE: Final = frozenset({"---", "***", "___"})
_CODE: Final = frozenset({Kind.CODE, Kind.FENCE})
_RANK: Final[dict[str | None, int]] = {None: 0, "approved": 1, "held": 2, "done": 3}


class Block(NamedTuple):
    """A task's block (0-based line indexes, inclusive) and its core facts.

    A named tuple: a full parse makes one per task (see :class:`~daemon.spec.model.TaskCore`).
    """

    start: Start
    first: int
    last: int
    status: str | None
    title: str
    digest: str
    key: str  # the task's key (DESIGN §2), read once
    unclear: str  # the first status that reads as approval and does not count, or ""


# A Block from its fields, made in C (the generated ``__new__`` is a Python call per task).
_block: Final = functools.partial(tuple.__new__, Block)


def block_of(
    start: Start,
    first: int,
    last: int,
    *,
    status: str | None,
    title: str,
    parts: list[str],
    unclear: str = "",
) -> Block:
    """The block of ``start``, its lines' ``parts`` digested (``unclear``: see Block)."""
    digest, key = digest_of(parts), task_key(start.literal)
    return _block((start, first, last, status, title, digest, key, unclear))


def stronger(current: str | None, new: str | None) -> str | None:
    """The stronger of two statuses: done > held > approved > none."""
    return new if _RANK[new] > _RANK[current] else current


def digest_of(parts: list[str]) -> str:
    """The digest of a block's lines: whitespace folded, then SHA-256 (DESIGN §3)."""
    return hashlib.sha256(" ".join(" ".join(parts).split()).encode()).hexdigest()


@dataclass(slots=True)
class _Table:
    """The table being read: its column roles once its header is seen."""

    columns: dict[str, int] | None = None  # None: not in a table; {}: a table without IDs

    def close(self) -> None:
        self.columns = None

    def row(self, lines: tuple[str, ...], index: int) -> Start | None:
        """The task a table line starts, if any (the header line only sets the columns)."""
        line = lines[index]
        if self.columns is None:
            following = lines[index + 1] if index + 1 < len(lines) else ""
            if recognize.is_delimiter_row(following):
                self.columns = recognize.table_columns(recognize.split_row(line)) or {}
            return None
        if not self.columns or recognize.is_delimiter_row(line):
            return None
        return recognize.table_task(index, line, self.columns)


def starts(lines: tuple[str, ...], structure: Structure) -> list[Start]:
    """Every line where a task starts, in document order."""
    kinds, levels = structure.kinds, structure.levels
    found: list[Start] = []
    inside_heading: int | None = None  # level of the heading task whose block we are in
    table = _Table()
    for index, line in enumerate(lines):
        kind = kinds[index]
        start: Start | None = None
        if kind is Kind.HEADING:
            table.close()
            level = levels[index]
            if inside_heading is not None and level <= inside_heading:
                inside_heading = None
            start = recognize.heading_task(index, level, structure.headings[index])
            inside_heading = level if start is not None else inside_heading
        elif kind is not Kind.TEXT:
            if kind is not Kind.COMMENT:
                table.close()
        elif line.lstrip().startswith("|"):
            row = table.row(lines, index)
            start = row if inside_heading is None else None
        else:
            table.close()
            if inside_heading is None:
                previous = lines[index - 1] if index and kinds[index - 1] is Kind.TEXT else None
                start = (
                    recognize.list_task(index, line)
                    or recognize.line_task(index, line)
                    or recognize.field_task(index, line, previous, index - 1)
                )
        if start is not None:
            found.append(start)
    return found


def numbered(lines: tuple[str, ...], structure: Structure) -> list[Start]:
    """A file whose body is one numbered list 1..N reads as N tasks (see module doc)."""
    kinds = structure.kinds
    items: list[Start] = []
    content = 0
    for index, line in enumerate(lines):
        if kinds[index] is not Kind.TEXT:
            continue
        content += 1
        item = recognize.ordered_item(line)
        if item is None:
            continue
        number, text, indent = item
        if number != len(items) + 1:
            return []
        title = fields.strip_done_suffix(plain(text))
        done = fields.done_suffix(text)
        items.append(Start(index, Style.NUMBERED, str(number), title, done=done, indent=indent))
    if len(items) < 2:
        return []
    covered = sum(
        1
        for _, first, last in spans(lines, structure, items)
        for index in range(first, last + 1)
        if kinds[index] is Kind.TEXT
    )
    return items if covered * 2 >= content else []


def spans(
    lines: tuple[str, ...], structure: Structure, found: list[Start]
) -> Iterator[tuple[Start, int, int]]:
    """Each start with the first and last line index of its block."""
    kinds = structure.kinds
    for position, start in enumerate(found):
        limit = found[position + 1].first - 1 if position + 1 < len(found) else len(lines) - 1
        if start.style is Style.HEADING:
            last = _heading_end(structure, start, limit)
        elif start.style in LIST_STYLES:
            last = _list_end(lines, kinds, start, limit)
        elif start.style is Style.TABLE:
            last = start.index
        elif start.style is Style.LINE:
            last = start.index
            while last < limit and kinds[last + 1] not in {Kind.BLANK, Kind.HEADING}:
                last += 1
        else:
            last = start.index
            while last < limit and kinds[last + 1] is not Kind.HEADING:
                if kinds[last + 1] is Kind.TEXT and recognize.is_phase_line(lines[last + 1]):
                    break
                last += 1
        while last > start.index and (
            kinds[last] in {Kind.BLANK, Kind.COMMENT} or lines[last].strip() in _RULE
        ):
            last -= 1
        yield start, start.first, last


def _heading_end(structure: Structure, start: Start, limit: int) -> int:
    levels = structure.levels
    for index in range(start.index + 1, limit + 1):
        level = levels.get(index)
        if level is not None and level <= start.level:
            return index - 1
    return limit


def indent_of(line: str) -> int:
    """The width of a line's leading whitespace."""
    return len(line) - len(line.lstrip())


def _list_end(lines: tuple[str, ...], kinds: tuple[Kind, ...], start: Start, limit: int) -> int:
    """The last line indented under a list item (fenced code and lazy lines included)."""
    last = start.index
    index = start.index + 1
    while index <= limit:
        kind = kinds[index]
        if kind is Kind.BLANK:
            index += 1
            continue
        if kind is Kind.HEADING or kind is Kind.CODE:
            break
        line = lines[index]
        indented = indent_of(line) > start.indent
        lazy = (
            index == last + 1
            and kind is Kind.TEXT
            and line.lstrip()[:1] not in {"-", "*", "+", "|"}
            and recognize.ordered_item(line) is None
        )
        if not (indented or lazy):
            break
        if kind is Kind.FENCE:
            while index + 1 <= limit and kinds[index + 1] is Kind.CODE:
                index += 1
            if index + 1 <= limit and kinds[index + 1] is Kind.FENCE:
                index += 1
        last = index
        index += 1
    return last


def read_block(
    lines: tuple[str, ...], kinds: tuple[Kind, ...], start: Start, first: int, last: int
) -> Block:
    """A block's core facts: status (start markers and ``Status:`` fields), title, digest.

    Status lines, checkbox marks and approval/hold tags are left out of the digest, so
    approving, holding or ticking a task keeps its digest (DESIGN §3).
    """
    status, title = start.status, start.title
    if start.style is Style.TABLE:
        parts = [value for role, value in start.cells.items() if role != "status"]
        # The cell's verdict is the start's status; a row without one may have nearly approved.
        cell = start.cells.get("status") if status is None else None
        unclear = fields.read_status(cell)[1] if cell is not None else ""
        return block_of(
            start, first, last, status=status, title=title, parts=parts, unclear=unclear
        )
    parts = []
    unclear = ""
    for index in range(first, last + 1):
        line = lines[index]
        if index == start.index:
            parts.append(_STATUS_MARK.sub("", line))
            continue
        found = None if kinds[index] in _CODE else fields.field(line)
        if found is not None:
            if found[0] in STATUS_FIELDS:
                verdict, nearly = fields.read_status(found[1])
                status = stronger(status, verdict)
                unclear = unclear or nearly
                continue  # status lines are markers: not part of the digest
            if found[0] in TITLE_FIELDS and not title:
                title = plain(found[1])
        parts.append(line)
    if start.style is Style.FIELDS and not title:
        title = plain(lines[start.first]) if start.first != start.index else start.literal
    return block_of(start, first, last, status=status, title=title, parts=parts, unclear=unclear)


def find_blocks(
    lines: tuple[str, ...], structure: Structure, *, whole_file: bool = True
) -> list[Block]:
    """Every task block of a document (``whole_file``: the numbered-list fallback applies)."""
    found = starts(lines, structure)
    if not found and whole_file:
        found = numbered(lines, structure)
    kinds = structure.kinds
    return [
        read_block(lines, kinds, start, first, last)
        for start, first, last in spans(lines, structure, found)
    ]


def unique(blocks: list[Block], path: str) -> tuple[list[Block], list[Finding]]:
    """Drop later blocks whose key repeats an earlier one, each with a finding."""
    seen: dict[str, int] = {}
    kept: list[Block] = []
    findings: list[Finding] = []
    for block in blocks:
        key = block.key
        if key in seen:
            message = (
                f"duplicate task ID {block.start.literal} (first defined at line {seen[key]}); "
                "this one is ignored"
            )
            findings.append(Finding(path, block.start.index + 1, "tasks.duplicate-id", message))
            continue
        seen[key] = block.start.index + 1
        kept.append(block)
    return kept, findings
