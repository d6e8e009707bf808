"""The section index of a spec, plan or constitution: what references resolve against.

A section is a heading (keys: its number ``2.1``, a leading label ``F-1`` /
``US-1`` / ``REQ-01``, ``User Story 3`` → ``US3``, and its title) or a
bold-labelled item (``- **FR-001**: ...``). Numbered headings under a "User
Stories", "Design Decisions" or "(Non-)Functional Requirements" heading also
answer to ``US<n>``, ``DD<n>``, ``FR<n>`` and ``NFR<n>``.
"""

from __future__ import annotations

import re
from typing import Final

from daemon.spec.ids import label_key
from daemon.spec.markdown import Kind, plain, scan, strip_decoration
from daemon.spec.model import Section, SectionIndex
from daemon.spec.refs import title_key
from daemon.spec.text import decode

_NUMBER: Final = re.compile(r"(?:Section\s+)?(\d+(?:\.\d+)*)\.?(?=\s|:|$)", re.IGNORECASE)
_LABEL: Final = re.compile(r"([A-Z][A-Za-z]{0,7}-?\d+[a-z]?)\s*(?=[:.\-–—)]|$|\s)")
_STORY: Final = re.compile(r"(?:User\s+)?Story\s+(\d{1,9})\b", re.IGNORECASE)
_BOLD_LABEL: Final = re.compile(
    r"\s*(?:[-*+]\s+|\d+[.)]\s+)?\*\*([A-Z][A-Za-z]{0,7}-?\d+[a-z]?)(?=[:*\s])"
)
_FAMILIES: Final = (
    (re.compile(r"\buser (?:stories|scenarios)\b"), "US"),
    (re.compile(r"\bdesign decisions?\b"), "DD"),
    (re.compile(r"\bnon[- ]functional requirements?\b"), "NFR"),
    (re.compile(r"(?<!non-)(?<!non )\bfunctional requirements?\b"), "FR"),
)


def _heading_keys(title: str) -> list[str]:
    keys: list[str] = []
    number = _NUMBER.match(title)
    if number:
        keys.append(number.group(1))
    else:
        label = _LABEL.match(title)
        if label and any(c.isdigit() for c in label.group(1)):
            keys.append(label_key(label.group(1)))
    story = _STORY.match(title)
    if story:
        keys.append(f"US{int(story.group(1))}")
    keys.append(title_key(title))
    return keys


def _family(title: str) -> str | None:
    lowered = title.lower()
    for pattern, prefix in _FAMILIES:
        if pattern.search(lowered):
            return prefix
    return None


def index_sections(data: bytes, path: str) -> SectionIndex:
    """Build the section index of one document; bad bytes give findings, never errors."""
    document = decode(data, path)
    lines = document.lines
    structure = scan(lines, path)
    kinds = structure.kinds
    heading_lines = sorted(structure.levels)
    sections: list[tuple[int, Section]] = []
    stack: list[tuple[int, str]] = []  # (level, title) of enclosing headings
    for position, index in enumerate(heading_lines):
        level = structure.levels[index]
        title = strip_decoration(plain(structure.headings[index]))
        end = len(lines) - 1
        for later in heading_lines[position + 1 :]:
            if structure.levels[later] <= level:
                end = later - 1
                break
        while stack and stack[-1][0] >= level:
            stack.pop()
        keys = _heading_keys(title)
        if stack and keys[0].isdigit() and len(keys[0]) <= 9:
            prefix = _family(stack[-1][1])
            if prefix:
                keys.insert(1, f"{prefix}{int(keys[0])}")
        stack.append((level, title))
        sections.append((index, Section(tuple(keys), title, level, index + 1, end + 1)))
    for index, line in enumerate(lines):
        if kinds[index] != Kind.TEXT or "**" not in line:
            continue
        match = _BOLD_LABEL.match(line)
        if not match:
            continue
        end = index
        while end + 1 < len(lines) and kinds[end + 1] == Kind.TEXT:
            following = lines[end + 1]
            if _BOLD_LABEL.match(following) or following.lstrip()[:2] in {"- ", "* ", "+ "}:
                break
            end += 1
        label = match.group(1)
        title = plain(line.strip()).lstrip("-*+ ")
        label_keys = (label_key(label), title_key(title))
        sections.append((index, Section(label_keys, title, 0, index + 1, end + 1)))
    sections.sort(key=lambda item: item[0])
    findings = document.findings + structure.findings
    return SectionIndex(path, tuple(section for _, section in sections), findings)
