"""Reading a new version of a task file by re-reading only the tasks an edit touched.

Scanning history parses every version of every task file. Most versions differ
from the previous one in a task or two (approved, ticked, reworded), so
:func:`update` finds the changed bytes, maps them to the task blocks around
them, and runs the core pass on that window alone. When only one task's first
line changed in place (the commonest edit), that task's block alone is read.

It only does so when the result is certain to equal a full parse: the file has
only list tasks (checklists, bold-ID bullets), no findings and no first content
line YAML could read (``key:``), the edited lines were and are plain text (no
headings, fences, comments, tables, rules, front matter or phase lines), and the
window holds the same task keys in the same order. An edit above the first task
never qualifies, and a task's line stays a list item, so the first content line
(the first task's or one above it) never comes to read ``key:``. Otherwise it
returns None and the caller parses the whole file. A property test holds
the two paths equal (``tests/spec/test_incremental.py``).
"""

from __future__ import annotations

import bisect
import codecs
import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from daemon.spec import recognize
from daemon.spec.blocks import LOCAL_STYLES, Block, find_blocks, read_block
from daemon.spec.ids import task_key
from daemon.spec.markdown import KIND_OF, Kind, scan
from daemon.spec.model import CoreFile, TaskCore
from daemon.spec.recognize import Start
from daemon.spec.tasks import core_of
from daemon.spec.text import MAX_FILE_BYTES, split_lines

_PLAIN: Final = bytes([Kind.TEXT, Kind.BLANK])
_FLAT: Final = bytes([Kind.TEXT, Kind.BLANK, Kind.HEADING])  # no code, comments or front matter
# Lines whose edit can change how other lines read: headings, fences, comments, tables,
# thematic breaks (front matter), plain-text phase headers, and task-label lines.
_STRUCTURAL_START: Final = re.compile(
    r"\s{0,3}#|\s*(?:`{3}|~{3})|\s*\||\s*(?:-{3,}|\*{3,}|_{3,})\s*$"
    r"|(?:PHASE|Phase|MILESTONE|Milestone|SPRINT|Sprint|STAGE|Stage)\s"
    r"|\s*(?:Task|TASK)\s+\d",
)
_TASK_ID_LABEL: Final = re.compile(r"Task[ -]?ID")
_AFTER: Final = float("inf")  # sorts after any line number: (n, _AFTER) follows every (n, m)
_WIDE_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # also the UTF-32 ones' starts


def _structural(line: str) -> bool:
    """Whether editing ``line`` can change how other lines read (see ``_STRUCTURAL_START``)."""
    return (
        "<!--" in line
        or "-->" in line
        or ("Task" in line and _TASK_ID_LABEL.search(line) is not None)
        or _STRUCTURAL_START.match(line) is not None
    )


def common_prefix(a: bytes, b: bytes) -> int:
    """The length of the longest common prefix.

    A binary search that compares only the still-undecided part of the range, so
    the bytes compared (in C) add up to one pass over the shorter input.
    """
    low, high = 0, min(len(a), len(b))
    view = memoryview(a)  # slices of a view copy nothing; startswith compares in place
    while low < high:
        middle = (low + high + 1) // 2
        if b.startswith(view[low:middle], low):
            low = middle
        else:
            high = middle - 1
    return low


def common_suffix(a: bytes, b: bytes, limit: int, known: int = 0) -> int:
    """The length of the longest common suffix, at most ``limit``; ``known`` is one in common."""
    low, high = known, limit
    end_a, end_b = len(a), len(b)
    view = memoryview(a)
    while low < high:
        middle = (low + high + 1) // 2
        if b.endswith(view[end_a - middle : end_a - low], 0, end_b - low):
            low = middle
        else:
            high = middle - 1
    return low


def _lines_between(data: bytes, start: int, end: int) -> tuple[str, ...] | None:
    """Decode ``data[start:end]`` strictly into lines, or None when it is not clean UTF-8."""
    if data.find(b"\0", start, end) >= 0:  # find: ``in`` raises (and clears) an error
        return None
    chunk = data[start:end]
    try:
        return split_lines(chunk.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def _back(data: bytes, offset: int, lines: int) -> int:
    """The start of the line ``lines`` lines above the line starting at ``offset``."""
    for _ in range(lines):
        offset = data.rfind(b"\n", 0, offset - 1) + 1
    return offset


def _forward(data: bytes, offset: int, lines: int) -> int:
    """The offset just after ``lines`` more lines, from the line starting at ``offset``."""
    for _ in range(lines):
        found = data.find(b"\n", offset)
        offset = len(data) if found < 0 else found + 1
    return offset


class _Edit(NamedTuple):
    """Where two versions differ, in lines: ``first`` to ``old_last`` became ``delta`` more."""

    first: int
    old_last: int
    delta: int
    line_start: int

    @property
    def new_last(self) -> int:
        return self.old_last + self.delta


def _measurable(previous: CoreFile, old: bytes, new: bytes) -> bool:
    """Whether an edit between the versions can be told in lines at all."""
    if old.endswith(b"\n") != new.endswith(b"\n"):
        return False
    if new.startswith((codecs.BOM_UTF8, *_WIDE_BOMS)) or old.startswith(_WIDE_BOMS):
        return False  # line ends are counted in bytes: UTF-16 and UTF-32 would miscount them
    # An unclosed front matter opener: any edit below may close it.
    return not (new.startswith(b"---") and not previous.kinds.startswith(bytes([Kind.FRONT])))


class _Line(NamedTuple):
    """The first edited line of ``old``: its start, its line end (-1: none), the task it starts."""

    start: int
    end: int
    task: tuple[int, tuple[str, Start]] | None  # see _task_at


def _line(previous: CoreFile, old: bytes, prefix: int) -> _Line:
    """The line of ``old`` that holds the first edited byte (``prefix``: the bytes in common)."""
    start, end = old.rfind(b"\n", 0, prefix) + 1, old.find(b"\n", prefix)
    return _Line(start, end, _task_at(previous, old, start, end if end >= 0 else len(old)))


def _edit(previous: CoreFile, old: bytes, new: bytes, prefix: int, line: _Line) -> _Edit | None:
    """The edited line range (``prefix``: the bytes in common), or None for edits not taken."""
    limit = min(len(old), len(new)) - prefix
    # Most edits stay on one line: when the lines below it match, the search starts there.
    line_end = line.end
    below = len(old) - line_end
    fits = line_end >= 0 and below <= limit
    known = below if fits and new.endswith(memoryview(old)[line_end:]) else 0
    suffix = common_suffix(old, new, limit, known)
    end_old, end_new = len(old) - suffix, len(new) - suffix
    first = previous.spans[line.task[0]][0] - 1 if line.task is not None else None
    if first is None and prefix <= len(old) // 2:
        first = old.count(b"\n", 0, prefix)
    elif first is None:  # counted from the nearer end: one line end per line (bar the last)
        total = len(previous.kinds) - (0 if old.endswith(b"\n") or not old else 1)
        first = total - old.count(b"\n", prefix)
    old_last = min(first + old.count(b"\n", prefix, end_old), len(previous.kinds) - 1)
    delta = new.count(b"\n", prefix, end_new) - old.count(b"\n", prefix, end_old)
    if previous.kinds[first : old_last + 1].translate(None, _PLAIN):
        return None  # an edited line was code, a comment, a heading or front matter
    return _Edit(first, old_last, delta, line.start)


def _one_line(
    previous: CoreFile, old: bytes, new: bytes, prefix: int, line: _Line
) -> tuple[CoreFile, frozenset[str]] | None:
    """The commonest edit, found without measuring it: one task's first line, rewritten.

    When ``new`` is ``old`` with one whole line replaced by one line (the bytes above
    and below it the same) and that line is a task's first line, the task is read
    again from its block (:func:`_retitle`). Any other edit returns None, and
    :func:`update` measures it (:func:`_edit`). ``prefix``: the bytes in common.
    """
    end_old = line.end
    end_new = len(new) - (len(old) - end_old)
    if end_old < 0 or end_new < prefix or new.find(b"\n", prefix, end_new) >= 0:
        return None
    if line.task is None or not new.endswith(memoryview(old)[end_old:]):
        return None  # not a task's first line, or more than that line changed
    k, was = line.task
    first = previous.spans[k][0] - 1
    return _retitle(previous, old, new, _Edit(first, first, 0, line.start), k, before=was)


def _task_at(
    previous: CoreFile, old: bytes, start: int, end: int
) -> tuple[int, tuple[str, Start]] | None:
    """The task whose first line is ``old[start:end]``: its position, the line and its reading.

    Counting the line ends above it costs a pass over the file. In a file of text,
    blank lines and headings only (no code, comments or front matter), a line that
    reads as a list task is a task's first line: in an editable file, no other line
    has its key. Elsewhere, or for any other line, None.
    """
    if previous.kinds.translate(None, _FLAT):
        return None
    found = _reading(old, start, end)
    position = previous.index.get(task_key(found[1].literal)) if found is not None else None
    return None if position is None or found is None else (position, found)


def _reading(data: bytes, start: int, end: int) -> tuple[str, Start] | None:
    """The one line ``data[start:end]`` and how it reads as a list task, if it does."""
    lines = _lines_between(data, start, end)
    if lines is None or len(lines) != 1:
        return None
    found = recognize.list_task(0, lines[0])
    return None if found is None else (lines[0], found)


def _task_range(spans: tuple[tuple[int, int], ...], edit: _Edit) -> tuple[int, int] | None:
    """The tasks ``[k1, k2)`` whose blocks the edit may change.

    The range starts at the task holding the line above the edit (lines added
    under a task extend its block), or at the edited task when only its first line
    changed in place, and ends before the first task below the edit.
    """
    k1 = bisect.bisect_right(spans, (edit.first, _AFTER)) - 1  # the last span starting by then
    own = k1 + 1 < len(spans) and spans[k1 + 1][0] == edit.first + 1
    if own and (k1 < 0 or (edit.delta == 0 and edit.old_last == edit.first)):
        # A task's own first line was edited in place (and stays a task: the window
        # must hold the same keys), or the first task's: the block above keeps its end.
        k1 += 1
    k2 = bisect.bisect_right(spans, (edit.old_last + 1, _AFTER))
    return None if k1 < 0 else (k1, k2)


@dataclass(frozen=True, slots=True)
class _Window:
    """The re-read lines: from ``start`` (0-based) to ``end_old`` in the old version."""

    start: int
    end_old: int
    kinds: bytes
    blocks: list[Block]


def _reread(
    previous: CoreFile, old: bytes, new: bytes, edit: _Edit, tasks: tuple[int, int]
) -> _Window | None:
    """Run the core pass on the window of tasks ``[k1, k2)``; None if a full parse is needed."""
    k1, k2 = tasks
    spans = previous.spans
    window_start = spans[k1][0] - 1
    window_end_old = spans[k2][0] - 2 if k2 < len(spans) else len(previous.kinds) - 1
    size = window_end_old + edit.delta - window_start + 1
    start = _back(new, edit.line_start, edit.first - window_start)
    window = _lines_between(new, start, _forward(new, start, size))
    end_old = _forward(old, edit.line_start, edit.old_last - edit.first + 1)
    edited_old = _lines_between(old, edit.line_start, end_old)
    if window is None or edited_old is None or len(window) != size:
        return None
    edited_new = window[edit.first - window_start : edit.new_last - window_start + 1]
    if any(_structural(line) for line in (*edited_old, *edited_new)):
        return None
    structure = scan(window, previous.path)
    blocks = find_blocks(window, structure, whole_file=False)
    same_tasks = [b.key for b in blocks] == [c.key for c in previous.cores[k1:k2]]
    lists = all(b.start.style in LOCAL_STYLES for b in blocks)
    if structure.findings or not same_tasks or not lists:
        return None
    return _Window(window_start, window_end_old, bytes(structure.kinds), blocks)


def _retitle(
    previous: CoreFile,
    old: bytes,
    new: bytes,
    edit: _Edit,
    k: int,
    *,
    before: tuple[str, Start] | None = None,
) -> tuple[CoreFile, frozenset[str]] | None:
    """The commonest edit, read without a window: one task's own first line, changed in place.

    Approving, holding, ticking or rewording a list task rewrites its first line and
    nothing else. When that line stays a list task with the same key and indent, the
    task's block keeps its lines and every other task keeps its block, so the task is
    read again from its block alone. Anything else returns None (the window path).
    ``before`` is the old first line and its reading, when the caller has them.
    """
    spans = previous.spans
    if edit.delta or edit.old_last != edit.first or spans[k][0] != edit.first + 1:
        return None
    first, last = spans[k][0] - 1, spans[k][1] - 1
    end = _forward(new, edit.line_start, last - first + 1)
    block = _lines_between(new, edit.line_start, end)
    if before is None:
        before = _reading(old, edit.line_start, _forward(old, edit.line_start, 1))
    if block is None or before is None or len(block) != last - first + 1:
        return None
    if _structural(block[0]) or _structural(before[0]):
        return None
    start, was = recognize.list_task(0, block[0]), before[1]
    if start is None or start.style not in LOCAL_STYLES:
        return None
    if (start.style, start.indent, task_key(start.literal)) != (
        was.style,
        was.indent,
        previous.cores[k].key,
    ):
        return None
    kinds = tuple(map(KIND_OF.__getitem__, previous.kinds[first : last + 1]))
    return _with_core(previous, k, core_of(read_block(block, kinds, start, 0, last - first)))


def _with_core(previous: CoreFile, k: int, core: TaskCore) -> tuple[CoreFile, frozenset[str]]:
    """``previous`` with task ``k`` read anew, and the keys that changed (none or its own)."""
    if core == previous.cores[k]:
        return previous, frozenset()
    cores = list(previous.cores)
    cores[k] = core
    # Built directly: dataclasses.replace costs more than the rest of the edit.
    p = previous
    edited = CoreFile(
        p.path, tuple(cores), p.spans, p.approval, p.findings, p.index, p.kinds, p.editable
    )
    return edited, frozenset({core.key})


def update(
    previous: CoreFile, old: bytes, new: bytes, *, max_bytes: int = MAX_FILE_BYTES
) -> tuple[CoreFile, frozenset[str]] | None:
    """``new``'s core file from ``old``'s, and the keys whose core facts changed; or None."""
    if old == new:
        return previous, frozenset()
    editable = previous.editable and previous.spans and len(new) <= max_bytes
    if not editable or not _measurable(previous, old, new):
        return None
    prefix = common_prefix(old, new)  # once, for both readings of the edit
    line = _line(previous, old, prefix)
    quick = _one_line(previous, old, new, prefix, line)
    if quick is not None:
        return quick
    edit = _edit(previous, old, new, prefix, line)
    tasks = _task_range(previous.spans, edit) if edit is not None else None
    if edit is not None and tasks is not None:
        reading = line.task[1] if line.task is not None else None  # edit.line_start's line
        retitled = _retitle(previous, old, new, edit, tasks[0], before=reading)
        if retitled is not None:
            return retitled
    window = _reread(previous, old, new, edit, tasks) if edit and tasks else None
    if edit is None or tasks is None or window is None:
        return None
    k1, k2 = tasks
    spans, delta, start = previous.spans, edit.delta, window.start
    cores = tuple(core_of(block) for block in window.blocks)
    shifted = tuple((a + delta, b + delta) for a, b in spans[k2:]) if delta else spans[k2:]
    window_spans = tuple((b.first + start + 1, b.last + start + 1) for b in window.blocks)
    core_file = CoreFile(
        path=previous.path,
        cores=previous.cores[:k1] + cores + previous.cores[k2:],
        spans=spans[:k1] + window_spans + shifted,
        approval=previous.approval,
        findings=(),
        index=previous.index,
        kinds=previous.kinds[:start] + window.kinds + previous.kinds[window.end_old + 1 :],
        editable=True,
    )
    before = previous.cores[k1:k2]
    changed = frozenset(c.key for c, b in zip(cores, before, strict=True) if c != b)
    return core_file, changed
