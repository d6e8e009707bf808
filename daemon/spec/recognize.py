"""Where a task starts: one recognizer per grammar found in real task files.

Each recognizer looks at one line and returns a :class:`Start` or None. An ID
is accepted by its shape where the position alone is ambiguous (``T001`` after
a checkbox, ``T-001:`` in a heading) and by its label where the document labels
it (the word ``Task``, a ``Task ID`` field, an ``ID`` column, a YAML ``id``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Final

from daemon.spec import fields
from daemon.spec.ids import (
    ID_PATTERN,
    NUMERIC_PATTERN,
    is_id,
    is_numeric_id,
    is_task_like,
    task_key,
)
from daemon.spec.markdown import plain, strip_decoration
from daemon.spec.model import Style

_ANY_ID: Final = rf"(?:{ID_PATTERN}|{NUMERIC_PATTERN})"
# After the word "Task", IDs may mix letters, digits, dots and hyphens (I-1.2, 1.1.1).
_KEYWORD_ID: Final = (
    r"[A-Za-z0-9](?:[A-Za-z0-9.]*[A-Za-z0-9])?(?:-[A-Za-z0-9](?:[A-Za-z0-9.]*[A-Za-z0-9])?)*"
)
_SEP: Final = r"\s*(?:[:.\-–—]\s*|\s+|$)"

_HEADING_KEYWORD: Final = re.compile(rf"(?:Task|TASK)\s+(?P<id>{_KEYWORD_ID}){_SEP}(?P<title>.*)$")
_HEADING_ID: Final = re.compile(rf"(?P<id>{ID_PATTERN}){_SEP}(?P<title>.*)$")
_CHECKBOX: Final = re.compile(
    r"(?P<indent>\s*)(?:[-*+]|\d{1,3}[.)])\s+\[(?P<mark>[ xX])\]\s*(?P<rest>.*)$"
)
_CHECKBOX_ID: Final = re.compile(rf"(?P<id>{_ANY_ID})(?=[\s:,;)\]—–]|-\s|$)[\s:—–-]*(?P<rest>.*)$")
_ID_CHECKBOX: Final = re.compile(
    rf"(?P<indent>\s*)[-*+]\s+(?P<id>{_ANY_ID})\s+\[(?P<mark>[ xX])\]\s*(?P<rest>.*)$"
)
# The line spec-kit writes (``- [ ] T012 [P] [US1] Title``) when nothing in it needs the
# general reading: no emphasis, links, comments or brackets in the title, one space
# between the parts. :func:`spec_kit_task` reads it at once, as the general path would:
# code spans lose their backticks, and a trailing ``(done)`` note is left out.
_SPEC_KIT: Final = re.compile(
    r"(?P<indent> *)- \[(?P<mark>[ xX])\] (?P<id>T[0-9]{1,9}) (?P<tags>(?:\[[A-Za-z0-9]{1,40}\] )*)"
    r"(?P<title>[A-Za-z0-9][^*<>\[\]\\\s]*(?: [^*<>\[\]\\\s]+)*)"
)
_BOLD_BULLET: Final = re.compile(r"(?P<indent>\s*)[-*+]\s+\*\*(?P<inner>[^*]+?)\*\*(?P<rest>.*)$")
_LINE_ID: Final = re.compile(rf"(?P<id>{ID_PATTERN})\s*:\s+(?P<title>\S.*)$")
_TASK_LABEL: Final = re.compile(r"\s*(?:Task|TASK)\s+(?P<n>\d+)\s*$")
_ORDERED: Final = re.compile(r"(?P<indent> {0,3})(?P<n>\d{1,4})[.)]\s+(?P<rest>\S.*)$")
_CLOSING_TAG: Final = re.compile(r"\[([^\[\]]{1,40})\]$")
_PHASE_LINE: Final = re.compile(
    r"(?:PHASE|Phase|MILESTONE|Milestone|SPRINT|Sprint|STAGE|Stage)\s+\w"
)
_DELIMITER_ROW: Final = re.compile(r"\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")

_RANK: Final = {"approved": 1, "held": 2, "done": 3}
ID_FIELDS: Final = frozenset({"task id", "task-id", "taskid"})


@dataclass(slots=True)
class Start:
    """The first line of a task, with what that line alone says about it."""

    index: int
    style: Style
    literal: str
    title: str
    tags: tuple[str, ...] = ()
    done: bool = False
    status: str | None = None
    indent: int = 0
    level: int = 0
    first: int = -1
    alias: str | None = None
    cells: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.first < 0:
            self.first = self.index


@functools.lru_cache(maxsize=4096)
def _tag_statuses(tags: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """Separate status tags ([approved], [hold], [COMPLETE]) from the others (cached)."""
    status: str | None = None
    kept: list[str] = []
    for tag in tags:
        found = fields.tag_status(tag)
        if found is None:
            kept.append(tag)
        elif status is None or _RANK[found] > _RANK[status]:
            status = found
    return tuple(kept), status


def _title_and_tags(text: str) -> tuple[str, tuple[str, ...]]:
    """A title and its tags: those leading it, and status tags closing it (``Title [hold]``).

    A status tag at the end of the title marks the task as one before it does; any
    other bracket there (``Fix [P]``) stays in the title.
    """
    text = text.lstrip(" :—–-")
    tags, rest = fields.leading_tags(text)
    title = rest.lstrip(" :—–-").strip()
    closing: list[str] = []
    while title.endswith("]") and (found := _CLOSING_TAG.search(title)) is not None:
        if fields.tag_status(found.group(1)) is None:
            break
        closing.insert(0, found.group(1).strip())
        title = title[: found.start()].rstrip()
    return title, (*tags, *closing) if closing else tags


def heading_task(index: int, level: int, text: str) -> Start | None:
    """Heading tasks: ``### T-001: Title``, ``## Task 1.1: Title``, ``### **Task 1.1: X**``."""
    cleaned = strip_decoration(plain(text))
    match = _HEADING_KEYWORD.match(cleaned)
    if match is None or not any(c.isdigit() for c in match.group("id")):
        match = _HEADING_ID.match(cleaned)
        if match is None or not is_task_like(match.group("id")):
            return None
    title, tags = _title_and_tags(match.group("title"))
    tags, status = _tag_statuses(tags)
    done = status == "done" or "✅" in text or fields.done_suffix(title)
    title = fields.strip_done_suffix(title)
    return Start(index, Style.HEADING, match.group("id"), title, tags, done, status, level=level)


def list_task(index: int, line: str) -> Start | None:
    """Checklist items, ``- 1.1 [x] Title`` items and ``- **T-201**: ...`` bullets."""
    stripped = line.lstrip()
    if not stripped or stripped[0] not in "-*+0123456789":
        return None
    if "[" not in stripped and "**" not in stripped:
        return None  # every list-task pattern holds a checkbox or bold ("- see T001" is text)
    found = _list_template(line)
    return None if found is None else _start(index, found)


def clear_cache() -> None:
    """Forget cached line readings and task keys (benchmarks measure cold runs)."""
    _list_template.cache_clear()
    _tag_statuses.cache_clear()
    task_key.cache_clear()
    fields.clear_cache()


# What a list line says, as the fields of a Start after its index: a tuple, so that the
# cache holds no Start and a reading costs one Start (list_task's, at its index).
_Reading = tuple[
    Style, str, str, tuple[str, ...], bool, str | None, int, int, str | None, dict[str, str]
]


@functools.lru_cache(maxsize=16384)
def _list_template(line: str) -> _Reading | None:
    """What a list line says (cached: history scans meet the same lines often)."""
    found = _spec_kit(line)
    if found is not None:
        return found
    t = general_list_task(line)
    if t is None:
        return None
    return (t.style, t.literal, t.title, t.tags, t.done, t.status, t.indent, t.level, t.alias,
            t.cells)  # fmt: skip


def spec_kit_task(line: str) -> Start | None:
    """A spec-kit checklist line read at once; None for any other line.

    A test holds the two readings equal wherever this one reads a line.
    """
    found = _spec_kit(line)
    return None if found is None else _start(0, found)


def _start(index: int, reading: _Reading) -> Start:
    """The Start of a list line read as ``reading``, at line ``index``."""
    style, literal, title, tags, done, status, indent, level, alias, cells = reading
    return Start(
        index, style, literal, title, tags, done, status, indent, level, index, alias, cells
    )


def _spec_kit(line: str) -> _Reading | None:
    match = _SPEC_KIT.fullmatch(line)
    if match is None or "__" in line:  # "__" is emphasis to the general reading
        return None
    indent, mark, literal, run, title = match.groups()
    tags, status = _tag_statuses(tuple(run[1:-2].split("] [")) if run else ())
    done = mark != " " or status == "done"
    if "`" in title:
        title = title.replace("`", "").strip()
    title = fields.strip_done_suffix(title) if ")" in title else title
    return (Style.CHECKLIST, literal, title, tags, done, status, len(indent), 0, None, {})


def general_list_task(line: str) -> Start | None:
    """What a list line says, at index 0, by the general reading."""
    index = 0
    match = _CHECKBOX.match(line)
    if match:
        return _checkbox_task(index, match)
    match = _ID_CHECKBOX.match(line)
    if match:
        title, tags = _title_and_tags(plain(match.group("rest")))
        tags, status = _tag_statuses(tags)
        done = match.group("mark") in "xX" or status == "done"
        indent = len(match.group("indent"))
        return Start(index, Style.CHECKLIST, match.group("id"), title, tags, done, status, indent)
    match = _BOLD_BULLET.match(line)
    return _bold_bullet_task(index, match) if match else None


def _checkbox_task(index: int, match: re.Match[str]) -> Start | None:
    """``- [ ] T012 [P] [US1] Title`` and ``- [x] **T-201**: [Backend] Title``.

    Tags may come before the ID, as a reviewer may write ``- [ ] [approved] T012``:
    the ID still names the task, and the tags count as if they followed it.
    """
    rest = plain(match.group("rest"))
    found = _CHECKBOX_ID.match(rest)
    leading: tuple[str, ...] = ()
    if found is None and rest.startswith("["):
        leading, after = fields.leading_tags(rest)
        found = _CHECKBOX_ID.match(after) if leading else None
    if found is None:
        return None
    literal = found.group("id")
    if not (is_task_like(literal) or (is_numeric_id(literal) and "." in literal)):
        return None
    title, tags = _title_and_tags(found.group("rest"))
    tags, status = _tag_statuses(leading + tags)
    done = match.group("mark") in "xX" or status == "done"
    title = fields.strip_done_suffix(title)
    indent = len(match.group("indent"))
    return Start(index, Style.CHECKLIST, literal, title, tags, done, status, indent)


def _bold_bullet_task(index: int, match: re.Match[str]) -> Start | None:
    """``- **T-001**: Title`` and ``- **[COMPLETE] T-201**: **Title**: text``."""
    inner_tags, inner = fields.leading_tags(match.group("inner"))
    literal = inner.rstrip(":").strip()
    if not is_task_like(literal):
        return None
    title, tags = _title_and_tags(plain(match.group("rest")))
    tags, status = _tag_statuses(inner_tags + tags)
    done = status == "done" or fields.done_suffix(title)
    title = fields.strip_done_suffix(title)
    indent = len(match.group("indent"))
    return Start(index, Style.BULLET, literal, title, tags, done, status, indent)


def line_task(index: int, line: str) -> Start | None:
    """``TASK-1: Title`` on a line of its own, at the left margin."""
    if not line or not line[0].isupper():
        return None
    match = _LINE_ID.match(line)
    if match is None or not is_task_like(match.group("id")):
        return None
    title = match.group("title").strip()
    return Start(index, Style.LINE, match.group("id"), fields.strip_done_suffix(title))


def field_task(index: int, line: str, previous: str | None, previous_index: int) -> Start | None:
    """A ``Task ID: T1`` field, with a ``Task 1`` label line just above it as its first line."""
    found = fields.field(line)
    if found is None or found[0] not in ID_FIELDS:
        return None
    literal = plain(found[1]).strip(" .")
    if not (is_id(literal) or is_numeric_id(literal)):
        return None
    start = Start(index, Style.FIELDS, literal, "")
    if previous is not None:
        label = _TASK_LABEL.match(previous)
        if label:
            start.first = previous_index
            start.alias = label.group("n")
    return start


def is_phase_line(line: str) -> bool:
    """A plain-text phase header such as ``PHASE 1: Project Setup``."""
    return len(line) <= 120 and _PHASE_LINE.match(line) is not None


def ordered_item(line: str) -> tuple[int, str, int] | None:
    """A top-level ordered list item: its number, text and indent."""
    if not line or not (line[0].isdigit() or line[0] == " "):
        return None
    match = _ORDERED.match(line)
    if match is None:
        return None
    return int(match.group("n")), match.group("rest"), len(match.group("indent"))


def split_row(line: str) -> list[str]:
    r"""The cells of a table row (``\|`` escapes a pipe)."""
    body = line.strip()
    body = body.removeprefix("|")
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells = re.split(r"(?<!\\)\|", body)
    return [cell.strip().replace("\\|", "|") for cell in cells]


def is_delimiter_row(line: str) -> bool:
    """``|---|:--:|`` separates a table's header from its rows."""
    return "-" in line and _DELIMITER_ROW.match(line) is not None


TABLE_COLUMNS: Final[dict[str, frozenset[str]]] = {
    "id": frozenset({"#", "id", "task id", "taskid", "task-id", "task #", "task no", "task no."}),
    "title": frozenset(
        {"task", "title", "description", "task name", "name", "summary", "task description"}
    ),
    "status": frozenset({"status", "state"}),
    "deps": frozenset(
        {"depends on", "deps", "dependencies", "depends", "dependency", "blocked by"}
    ),
    "refs": frozenset(
        {
            "spec ref",
            "spec refs",
            "spec",
            "refs",
            "references",
            "reference",
            "from",
            "links",
            "source",
            "spec reference",
            "spec section",
            "requirements",
            "requirement",
        }
    ),
    "files": frozenset({"file(s)", "files", "file", "path", "paths", "artifacts"}),
}


def table_columns(header: list[str]) -> dict[str, int] | None:
    """Map roles (id, title, status, deps, refs, files) to columns; None without an ID column."""
    names = [" ".join(plain(cell).lower().split()) for cell in header]
    roles: dict[str, int] = {}
    for role, accepted in TABLE_COLUMNS.items():
        for position, name in enumerate(names):
            if name in accepted and position not in roles.values():
                roles[role] = position
                break
    return roles if "id" in roles else None


def table_task(index: int, line: str, columns: dict[str, int]) -> Start | None:
    """A table row whose ID column holds one ID."""
    cells = split_row(line)
    if columns["id"] >= len(cells):
        return None
    literal = strip_decoration(plain(cells[columns["id"]])).strip(" .")
    if not (is_id(literal) or is_numeric_id(literal)):
        return None
    named = {role: cells[pos] for role, pos in columns.items() if pos < len(cells)}
    title = plain(named.get("title", ""))
    status = fields.classify_status(named["status"]) if "status" in named else None
    done = status == "done"
    return Start(
        index, Style.TABLE, literal, fields.strip_done_suffix(title), (), done, status, cells=named
    )
