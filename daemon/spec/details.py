"""The detail pass: from a task's block to a full :class:`Task` (references, paths, deps)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from daemon.spec import fields, recognize
from daemon.spec.blocks import STATUS_FIELDS, TITLE_FIELDS, Block, indent_of
from daemon.spec.ids import is_task_like, task_key
from daemon.spec.markdown import Kind, Structure, plain, strip_decoration
from daemon.spec.model import Finding, SectionRef, Style, Task
from daemon.spec.refs import DOC_KINDS, DOC_WORDS, extract

REF_FIELDS: Final = frozenset(
    {"spec", "specs", "links", "link", "from", "source", "sources", "spec ref", "spec refs",
     "references", "reference", "refs", "mapping", "traceability", "spec reference",
     "spec section", "requirements", "requirement", "related requirements"}
)  # fmt: skip
DEP_FIELDS: Final = frozenset(
    {"depends on", "dependencies", "dependency", "deps", "depends", "depends_on", "preconditions",
     "precondition", "prerequisites", "prerequisite", "requires", "blocked by"}
)  # fmt: skip
_DEPENDS_PHRASE: Final = re.compile(
    r"\b(?:depends?\s+on|blocked\s+by)\b:?\s*(?P<rest>[^.;\n]*)", re.I
)
_DEP_ID: Final = (
    r"[A-Za-z0-9](?:[A-Za-z0-9.]*[A-Za-z0-9])?(?:-[A-Za-z0-9](?:[A-Za-z0-9.]*[A-Za-z0-9])?)*"
)
_RANGE_JOIN: Final = re.compile(r"\s*(?:–|—|-|\.\.|to|through)\s*", re.IGNORECASE)
_DEP_SINGLE: Final = re.compile(_DEP_ID)
_CODE: Final = frozenset({Kind.CODE, Kind.FENCE})


@dataclass(slots=True)
class Detail:
    """What the detail pass reads from one block."""

    title: str
    refs: list[SectionRef]
    dep_texts: list[str]
    description: str
    paths: tuple[str, ...]


def _ref_doc(name: str) -> tuple[bool, str | None]:
    """Whether a field is about references, and the document it names if any."""
    if name in DOC_WORDS or name in DOC_KINDS:
        return True, DOC_WORDS.get(name) or DOC_KINDS.get(name)
    return name in REF_FIELDS, None


def _unbold(line: str) -> str:
    """The line without emphasis markers, code spans kept (they delimit paths)."""
    return line.replace("**", "").replace("__", " ")


def _without(text: str, parts: list[str]) -> str:
    for part in parts:
        text = text.replace(part, " ")
    return text


def read_detail(lines: tuple[str, ...], kinds: tuple[Kind, ...], block: Block) -> Detail:
    """References, dependency texts, description and paths of a Markdown block."""
    start = block.start
    refs: list[SectionRef] = []
    deps: list[str] = []
    prose: list[str] = []
    if start.style is Style.TABLE:
        cells = start.cells
        refs += extract(plain(cells.get("refs", "")), start.index + 1, bare=True)
        refs += extract(plain(cells.get("title", "")), start.index + 1)
        deps.append(plain(cells.get("deps", "")))
        prose = [cells.get("title", ""), cells.get("files", "")]
        return Detail(block.title, refs, deps, "", fields.paths_in("\n".join(prose)))
    for index in range(block.first, block.last + 1):
        line = lines[index]
        if kinds[index] in _CODE:
            continue
        found = None if index == start.index else fields.field(line)
        name = found[0] if found else ""
        if name in STATUS_FIELDS or name in TITLE_FIELDS:
            continue
        text = plain(line)
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
    paths = fields.paths_in("\n".join(prose))
    return Detail(block.title, refs, deps, _description(lines, block), paths)


def _description(lines: tuple[str, ...], block: Block) -> str:
    start = block.start
    body = list(lines[start.index + 1 : block.last + 1])
    if start.first < start.index:
        body = [*lines[start.first : start.index], *body]
    indents = [indent_of(line) for line in body if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:].rstrip() for line in body).strip()


def phases(
    structure: Structure, lines: tuple[str, ...], task_lines: set[int]
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


def phase_at(marks: list[tuple[int, str]], index: int) -> str | None:
    """The phase a line belongs to."""
    position = bisect.bisect_right(marks, (index, "\uffff"))
    return (marks[position - 1][1] or None) if position else None


@dataclass(frozen=True, slots=True)
class Names:
    """How dependencies may name the tasks of one file."""

    lookup: dict[str, str]
    order: list[str]

    @classmethod
    def of(cls, blocks: list[Block]) -> Names:
        """The names of ``blocks``: literal IDs, keys, and ``Task N`` labels."""
        return cls.named((b.start.literal, b.key, b.start.alias) for b in blocks)

    @classmethod
    def named(cls, tasks: Iterable[tuple[str, str, str | None]]) -> Names:
        """The names of tasks given as (literal ID, key, ``Task N`` label or None)."""
        lookup: dict[str, str] = {}
        order: list[str] = []
        for literal, key, alias in tasks:
            lookup.setdefault(literal.upper(), key)
            lookup.setdefault(key, key)
            if alias:
                lookup.setdefault(alias, key)
            order.append(key)
        return cls(lookup, order)

    def known(self, token: str) -> str | None:
        """The key ``token`` names, if it names a task here."""
        token = token.upper().rstrip(".")
        return self.lookup.get(token) or self.lookup.get(task_key(token))

    def span(self, first: str, last: str) -> list[str]:
        """Every task from ``first`` to ``last`` in document order (a range like ``T001-T005``)."""
        i, j = self.order.index(first), self.order.index(last)
        return self.order[i : j + 1] if i <= j else [first, last]

    def read(self, text: str) -> tuple[list[str], list[str]]:
        """The keys ``text`` names, and the task-like tokens it names that are not tasks here.

        One left-to-right pass over the tokens: ``A - B`` / ``A to B`` between two
        known tasks is a range, a hyphenated token may itself be a range
        (``T001-T005``), anything else is looked up.
        """
        keys: list[str] = []
        unknown: list[str] = []
        tokens = list(_DEP_SINGLE.finditer(text))
        skip = False
        for position, match in enumerate(tokens):
            if skip:
                skip = False
                continue
            token = match.group(0)
            key = self.known(token)
            following = tokens[position + 1] if position + 1 < len(tokens) else None
            if key is not None and following is not None:
                between = text[match.end() : following.start()]
                end = self.known(following.group(0))
                if end is not None and end != key and _RANGE_JOIN.fullmatch(between):
                    keys += self.span(key, end)
                    skip = True
                    continue
            if key is not None:
                keys.append(key)
            elif (pair := self._split(token)) is not None:
                keys += self.span(*pair)
            elif is_task_like(token.rstrip(".")):
                unknown.append(token)
        return keys, unknown

    def _split(self, token: str) -> tuple[str, str] | None:
        """``T001-T005`` as a range of two known tasks (short tokens only: ranges are short)."""
        if token.count("-") > 6 or len(token) > 64:
            return None
        for index, char in enumerate(token):
            if char == "-":
                first, last = self.known(token[:index]), self.known(token[index + 1 :])
                if first and last:
                    return first, last
        return None


def dependencies(
    block: Block, detail: Detail, names: Names, path: str, findings: list[Finding]
) -> tuple[str, ...]:
    """The keys a task depends on; names that are no task here become findings."""
    found: list[str] = []
    for text in detail.dep_texts:
        keys, unknown = names.read(text)
        found += keys
        for token in unknown:
            message = f"{block.start.literal} depends on {token}, which is not a task in this file"
            findings.append(
                Finding(path, block.start.index + 1, "tasks.unknown-dependency", message)
            )
    unique: list[str] = []
    for key in found:
        if key != block.key and key not in unique:
            unique.append(key)
    return tuple(unique)


def unclear_status(block: Block, lines: tuple[str, ...], path: str) -> Finding | None:
    """A finding for a status that reads as approval and does not count, on its line."""
    if not block.unclear:
        return None
    line = next(
        (
            i
            for i in range(block.first, block.last + 1)
            if block.unclear in " ".join(lines[i].split())
        ),
        block.start.index,
    )
    message = f"{block.start.literal}: {fields.UNCLEAR_APPROVAL.format(block.unclear)} (DESIGN §3)"
    return Finding(path, line + 1, "tasks.unclear-approval", message)


def _unique_refs(refs: list[SectionRef]) -> tuple[SectionRef, ...]:
    seen: set[tuple[str | None, str | None]] = set()
    kept = []
    for ref in refs:
        if (ref.doc, ref.section) not in seen:
            seen.add((ref.doc, ref.section))
            kept.append(ref)
    return tuple(kept)


def build_task(
    block: Block, detail: Detail, *, phase: str | None, depends_on: tuple[str, ...]
) -> Task:
    """A full task from its block's core facts and details."""
    start = block.start
    stories = fields.stories_of(start.tags)
    implicit = [SectionRef(f"[{s}]", "spec", s, start.index + 1, implicit=True) for s in stories]
    status = block.status
    return Task(
        id=start.literal,
        key=block.key,
        title=detail.title,
        description=detail.description,
        phase=phase,
        tags=start.tags,
        stories=stories,
        parallel=any(tag.upper() == "P" for tag in start.tags),
        done=start.done or status == "done",
        approved=status == "approved",
        held=status == "held",
        refs=_unique_refs([*detail.refs, *implicit]),
        paths=detail.paths,
        depends_on=depends_on,
        line=block.first + 1,
        end_line=block.last + 1,
        digest=block.digest,
        style=start.style,
    )
