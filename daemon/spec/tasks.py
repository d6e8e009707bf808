"""Task files to tasks: find where each task starts, cut its block, read its block.

Grammar choices (documented for users in README, "How speckitd reads task files"):

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

import bisect
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from daemon.spec import fields, recognize
from daemon.spec.ids import is_task_like, task_key
from daemon.spec.markdown import Kind, Structure, plain, scan, strip_decoration
from daemon.spec.model import Finding, SectionRef, Style, Task, TaskFile
from daemon.spec.recognize import Start
from daemon.spec.refs import DOC_KINDS, DOC_WORDS, extract
from daemon.spec.text import MAX_FILE_BYTES, Document, decode
from daemon.spec.yamldoc import YamlTask, front_matter, looks_like_yaml, yaml_tasks

STATUS_FIELDS: Final = frozenset({"status", "state"})
TITLE_FIELDS: Final = frozenset({"task name", "title", "name"})
REF_FIELDS: Final = frozenset(
    {"spec", "specs", "links", "link", "from", "source", "sources", "spec ref", "spec refs",
     "references", "reference", "refs", "mapping", "traceability", "spec reference",
     "spec section", "requirements", "requirement", "related requirements"}
)  # fmt: skip
DEP_FIELDS: Final = frozenset(
    {"depends on", "dependencies", "dependency", "deps", "depends", "depends_on", "preconditions",
     "precondition", "prerequisites", "prerequisite", "requires", "blocked by"}
)  # fmt: skip
_STATUS_MARK: Final = re.compile(
    r"\[(?: |x|X|approved|hold|on hold|on-hold|blocked|draft|done|complete|completed)\]",
    re.IGNORECASE,
)
_DEPENDS_PHRASE: Final = re.compile(
    r"\b(?:depends?\s+on|blocked\s+by)\b:?\s*(?P<rest>[^.;\n]*)", re.I
)
_DEP_ID: Final = (
    r"[A-Za-z0-9](?:[A-Za-z0-9.]*[A-Za-z0-9])?(?:-[A-Za-z0-9](?:[A-Za-z0-9.]*[A-Za-z0-9])?)*"
)
_DEP_RANGE: Final = re.compile(
    rf"(?P<a>{_DEP_ID})\s*(?:–|—|-|\.\.|\bto\b|\bthrough\b)\s*(?P<b>{_DEP_ID})"
)
_DEP_SINGLE: Final = re.compile(_DEP_ID)
_RULE: Final = frozenset({"---", "***", "___"})
_LIST_STYLES: Final = frozenset({Style.CHECKLIST, Style.BULLET, Style.NUMBERED})


def parse_tasks(data: bytes, path: str, *, max_bytes: int = MAX_FILE_BYTES) -> TaskFile:
    """Parse a task file. Never raises on bad input: problems become findings."""
    document = decode(data, path, max_bytes=max_bytes)
    if not document.lines:
        return TaskFile(path, (), document.findings)
    if looks_like_yaml(document.lines):
        parsed = _from_yaml(document)
        if parsed is not None:
            return parsed
    return _from_markdown(document)


@dataclass(slots=True)
class _Draft:
    """A task being assembled: the start, its block, and what the block says."""

    start: Start
    first: int
    last: int
    status: str | None
    title: str
    refs: list[SectionRef]
    dep_texts: list[str]
    description: str
    digest: str
    paths: tuple[str, ...]


def _from_markdown(document: Document) -> TaskFile:
    lines, path = document.lines, document.path
    structure = scan(lines, path)
    approval, fm_findings = front_matter(lines, structure.front, path)
    findings = [*document.findings, *structure.findings, *fm_findings]
    starts = _starts(lines, structure)
    if not starts:
        starts = _numbered(lines, structure)
    drafts = [
        _read_block(lines, structure, start, first, last)
        for start, first, last in _blocks(lines, structure, starts)
    ]
    phases = _phases(lines, structure, {d.start.index for d in drafts})
    tasks = _finish(drafts, phases, path, findings)
    return TaskFile(path, tasks, tuple(findings), approval)


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


def _starts(lines: tuple[str, ...], structure: Structure) -> list[Start]:
    """Every line where a task starts, in document order."""
    kinds, levels = structure.kinds, structure.levels
    starts: list[Start] = []
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
            starts.append(start)
    return starts


def _numbered(lines: tuple[str, ...], structure: Structure) -> list[Start]:
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
        for _, first, last in _blocks(lines, structure, items)
        for index in range(first, last + 1)
        if kinds[index] is Kind.TEXT
    )
    return items if covered * 2 >= content else []


def _blocks(
    lines: tuple[str, ...], structure: Structure, starts: list[Start]
) -> Iterable[tuple[Start, int, int]]:
    """Each start with the first and last line index of its block."""
    kinds = structure.kinds
    for position, start in enumerate(starts):
        limit = starts[position + 1].first - 1 if position + 1 < len(starts) else len(lines) - 1
        if start.style is Style.HEADING:
            last = _heading_end(structure, start, limit)
        elif start.style in _LIST_STYLES:
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


def _indent(line: str) -> int:
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
        indented = _indent(line) > start.indent
        lazy = (
            index == last + 1
            and kind is Kind.TEXT
            and line.lstrip()[:1] not in {"-", "*", "+", "|"}
        )
        if not (indented or lazy) or (lazy and recognize.ordered_item(line)):
            break
        if kind is Kind.FENCE:
            while index + 1 <= limit and kinds[index + 1] is Kind.CODE:
                index += 1
            if index + 1 <= limit and kinds[index + 1] is Kind.FENCE:
                index += 1
        last = index
        index += 1
    return last


def _ref_doc(name: str) -> tuple[bool, str | None]:
    """Whether a field is about references, and the document it names if any."""
    if name in DOC_WORDS or name in DOC_KINDS:
        return True, DOC_WORDS.get(name) or DOC_KINDS.get(name)
    return name in REF_FIELDS, None


def _read_block(
    lines: tuple[str, ...], structure: Structure, start: Start, first: int, last: int
) -> _Draft:
    kinds = structure.kinds
    status = start.status
    title = start.title
    refs: list[SectionRef] = []
    deps: list[str] = []
    prose: list[str] = []
    digest_parts: list[str] = []
    if start.style is Style.TABLE:
        cells = start.cells
        refs += extract(plain(cells.get("refs", "")), start.index + 1, bare=True)
        refs += extract(plain(cells.get("title", "")), start.index + 1)
        deps.append(plain(cells.get("deps", "")))
        prose = [cells.get("title", ""), cells.get("files", "")]
        digest_parts = [value for role, value in cells.items() if role != "status"]
    for index in range(first, last + 1) if start.style is not Style.TABLE else ():
        line = lines[index]
        code = kinds[index] in {Kind.CODE, Kind.FENCE}
        found = None if code or index == start.index else fields.field(line)
        name = found[0] if found else ""
        if found and name in STATUS_FIELDS:
            verdict = fields.classify_status(found[1])
            status = _stronger(status, verdict)
            continue  # status lines are markers: not part of the digest
        digest_parts.append(_STATUS_MARK.sub("", line) if index == start.index else line)
        if code:
            continue
        text = plain(line)
        if found and name in TITLE_FIELDS and not title:
            title = plain(found[1])
        if found and name in DEP_FIELDS:
            deps.append(plain(found[1]))
            prose.append(_unbold(line))
            continue
        is_ref, doc = _ref_doc(name) if found else (False, None)
        if is_ref and found:
            refs += extract(plain(found[1]), index + 1, bare=True, doc=doc)
        else:
            line_refs = extract(text, index + 1)
            refs += line_refs
            # A reference names a spec section, not a file the task works on.
            prose.append(_without(_unbold(line), [ref.raw for ref in line_refs]))
        phrase = _DEPENDS_PHRASE.search(text) if "epend" in text or "locked" in text else None
        if phrase:
            deps.append(phrase.group("rest"))
    if start.style is Style.FIELDS and not title:
        title = plain(lines[start.first]) if start.first != start.index else start.literal
    description = _description(lines, start, first, last)
    digest = hashlib.sha256(" ".join(" ".join(digest_parts).split()).encode()).hexdigest()
    paths = fields.paths_in("\n".join(prose))
    return _Draft(start, first, last, status, title, refs, deps, description, digest, paths)


def _unbold(line: str) -> str:
    """The line without emphasis markers, code spans kept (they delimit paths)."""
    return line.replace("**", "").replace("__", " ")


def _without(text: str, parts: list[str]) -> str:
    for part in parts:
        text = text.replace(part, " ")
    return text


def _stronger(current: str | None, new: str | None) -> str | None:
    rank = {None: 0, "approved": 1, "held": 2, "done": 3}
    return new if rank[new] > rank[current] else current


def _description(lines: tuple[str, ...], start: Start, first: int, last: int) -> str:
    if start.style is Style.TABLE:
        return ""
    body = list(lines[start.index + 1 : last + 1])
    if start.first < start.index:
        body = [*lines[start.first : start.index], *body]
    indents = [_indent(line) for line in body if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:].rstrip() for line in body).strip()


def _phases(
    lines: tuple[str, ...], structure: Structure, task_lines: set[int]
) -> list[tuple[int, str]]:
    """Where each phase begins: section headings that are not tasks, and ``PHASE n:`` lines."""
    section_levels = [
        level for index, level in structure.levels.items() if index not in task_lines and level >= 2
    ]
    top = min(section_levels, default=2)
    marks: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        kind = structure.kinds[index]
        if kind is Kind.HEADING and index not in task_lines:
            level = structure.levels[index]
            if level <= top:
                text = strip_decoration(plain(structure.headings[index]))
                marks.append((index, text if level >= 2 else ""))
        elif kind is Kind.TEXT and line[:1].isalpha() and recognize.is_phase_line(line):
            marks.append((index, line.strip()))
    return marks


def _phase_at(marks: list[tuple[int, str]], index: int) -> str | None:
    position = bisect.bisect_right(marks, (index, "\uffff"))
    return (marks[position - 1][1] or None) if position else None


def _finish(
    drafts: list[_Draft], phases: list[tuple[int, str]], path: str, findings: list[Finding]
) -> tuple[Task, ...]:
    seen: dict[str, int] = {}
    kept: list[_Draft] = []
    for draft in drafts:
        key = task_key(draft.start.literal)
        if key in seen:
            message = (
                f"duplicate task ID {draft.start.literal} (first defined at line {seen[key]}); "
                "this one is ignored"
            )
            findings.append(Finding(path, draft.start.index + 1, "tasks.duplicate-id", message))
            continue
        seen[key] = draft.start.index + 1
        kept.append(draft)
    names = _Names(_lookup(kept), [task_key(d.start.literal) for d in kept])
    tasks = []
    for draft in kept:
        start = draft.start
        key = task_key(start.literal)
        depends = _dependencies(draft, own=key, names=names, path=path, findings=findings)
        stories = fields.stories_of(start.tags)
        refs = _unique_refs([*draft.refs, *_story_refs(start, stories)])
        status = draft.status
        tasks.append(
            Task(
                id=start.literal,
                key=key,
                title=draft.title,
                description=draft.description,
                phase=_phase_at(phases, start.index),
                tags=start.tags,
                stories=stories,
                parallel=any(tag.upper() == "P" for tag in start.tags),
                done=start.done or status == "done",
                approved=status == "approved",
                held=status == "held",
                refs=refs,
                paths=draft.paths,
                depends_on=depends,
                line=draft.first + 1,
                end_line=draft.last + 1,
                digest=draft.digest,
                style=start.style,
            )
        )
    return tuple(tasks)


def _story_refs(start: Start, stories: tuple[str, ...]) -> list[SectionRef]:
    return [SectionRef(f"[{s}]", "spec", s, start.index + 1, implicit=True) for s in stories]


def _unique_refs(refs: list[SectionRef]) -> tuple[SectionRef, ...]:
    seen: set[tuple[str | None, str | None]] = set()
    unique = []
    for ref in refs:
        if (ref.doc, ref.section) not in seen:
            seen.add((ref.doc, ref.section))
            unique.append(ref)
    return tuple(unique)


def _lookup(drafts: list[_Draft]) -> dict[str, str]:
    """Every way a dependency may name a task of this file → its key."""
    lookup: dict[str, str] = {}
    for draft in drafts:
        key = task_key(draft.start.literal)
        lookup.setdefault(draft.start.literal.upper(), key)
        lookup.setdefault(key, key)
        if draft.start.alias:
            lookup.setdefault(draft.start.alias, key)
    return lookup


@dataclass(frozen=True, slots=True)
class _Names:
    """How dependencies may name the tasks of one file."""

    lookup: dict[str, str]
    order: list[str]

    def known(self, token: str) -> str | None:
        token = token.upper().rstrip(".")
        return self.lookup.get(token) or self.lookup.get(task_key(token))

    def span(self, first: str, last: str) -> list[str]:
        """Every task from ``first`` to ``last`` in document order (a range like ``T001-T005``)."""
        i, j = self.order.index(first), self.order.index(last)
        return self.order[i : j + 1] if i <= j else [first, last]

    def read(self, text: str) -> tuple[list[str], list[str]]:
        """The keys ``text`` names, and the task-like tokens it names that are not tasks here."""
        keys: list[str] = []
        unknown: list[str] = []
        for match in _DEP_RANGE.finditer(text):
            a, b = self.known(match.group("a")), self.known(match.group("b"))
            if a and b and a != b:
                keys += self.span(a, b)
                text = text.replace(match.group(0), " ")
        for match in _DEP_SINGLE.finditer(text):
            token = match.group(0)
            key = self.known(token)
            if key is not None:
                keys.append(key)
                continue
            halves = [(self.known(token[:i]), self.known(token[i + 1 :])) for i, c in
                      enumerate(token) if c == "-"]  # fmt: skip
            pair = next(((a, b) for a, b in halves if a and b), None)
            if pair is not None:
                keys += self.span(*pair)
            elif is_task_like(token.rstrip(".")):
                unknown.append(token)
        return keys, unknown


def _dependencies(
    draft: _Draft, *, own: str, names: _Names, path: str, findings: list[Finding]
) -> tuple[str, ...]:
    found: list[str] = []
    for text in draft.dep_texts:
        keys, unknown = names.read(text)
        found += keys
        for token in unknown:
            message = f"{draft.start.literal} depends on {token}, which is not a task in this file"
            findings.append(
                Finding(path, draft.start.index + 1, "tasks.unknown-dependency", message)
            )
    unique: list[str] = []
    for key in found:
        if key != own and key not in unique:
            unique.append(key)
    return tuple(unique)


def _from_yaml(document: Document) -> TaskFile | None:
    parsed = yaml_tasks(document.lines, document.path)
    if parsed is None:
        return None
    entries, approval, findings = parsed
    drafts = [_yaml_draft(document.lines, entry) for entry in entries]
    all_findings = [*document.findings, *findings]
    return TaskFile(
        document.path,
        _finish(drafts, [], document.path, all_findings),
        tuple(all_findings),
        approval,
    )


def _text_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)] if value is not None else []


def _yaml_draft(lines: tuple[str, ...], entry: YamlTask) -> _Draft:
    values = entry.values
    status = fields.classify_status(str(values.get("status", "")))
    title = str(values.get("title") or values.get("name") or "")
    done = status == "done"
    start = Start(entry.line - 1, Style.YAML, entry.literal, title, done=done, status=status)
    block = lines[entry.line - 1 : entry.end_line]
    kept = [line for line in block if not line.strip().lstrip("- ").startswith("status:")]
    digest = hashlib.sha256(" ".join(" ".join(kept).split()).encode()).hexdigest()
    refs: list[SectionRef] = []
    for name in ("spec", "refs", "spec_refs", "from", "links"):
        for text in _text_list(values.get(name)):
            refs += extract(text, entry.line, bare=True)
    deps: list[str] = []
    for name in ("depends_on", "deps", "dependencies", "depends"):
        deps += _text_list(values.get(name))
    files = _text_list(values.get("files"))
    description = str(values.get("description") or "")
    paths = fields.paths_in("\n".join([title, description, *[f"`{f}`" for f in files]]))
    first, last = entry.line - 1, entry.end_line - 1
    return _Draft(start, first, last, status, title, refs, deps, description, digest, paths)
