"""Markdown line structure: which lines are headings, code, comments or front matter.

Only what task and section parsing needs: ATX headings, fenced code (``` and
~~~, at any indent, as list items nest them), HTML comment blocks, and YAML
front matter. Text in fences and comments is never a task or a section.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from daemon.spec.model import Finding

_FENCE_OPEN: Final = re.compile(r"[ \t]*(`{3,}|~{3,})(.*)$")
_COMMENT_OPEN: Final = re.compile(r" {0,3}<!--")
_FRONT_LIMIT: Final = 1000


class Kind(enum.IntEnum):
    """What a line is, structurally."""

    TEXT = 0
    BLANK = 1
    HEADING = 2
    FENCE = 3
    CODE = 4
    COMMENT = 5
    FRONT = 6


KIND_OF: Final = tuple(Kind)  # a kind by its value: faster than Kind(value)


@dataclass(frozen=True, slots=True)
class Structure:
    """Per-line kinds, heading levels and texts, and the front matter's line range."""

    kinds: tuple[Kind, ...]
    levels: dict[int, int]
    headings: dict[int, str]
    front: tuple[int, int] | None
    findings: tuple[Finding, ...]


def heading(line: str) -> tuple[int, str] | None:
    """Return ``(level, text)`` when ``line`` is an ATX heading (``## Text ##``).

    Written without a regular expression: a backtracking one took seconds on a
    long line of spaces.
    """
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3 or not stripped.startswith("#"):
        return None
    level = len(stripped) - len(stripped.lstrip("#"))
    rest = stripped[level:]
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    closing = text.rstrip("#")
    if not closing:
        text = ""
    elif closing != text and closing[-1] in " \t":
        text = closing.rstrip(" \t")
    return level, text


def _front_matter(lines: tuple[str, ...]) -> tuple[int, int] | None:
    if not lines or lines[0].rstrip() != "---":
        return None
    for index in range(1, min(len(lines), _FRONT_LIMIT)):
        if lines[index].rstrip() in {"---", "..."}:
            return 0, index
    return None


def _opens_fence(line: str) -> tuple[str, int] | None:
    """``(char, length)`` when ``line`` opens a fenced code block."""
    match = _FENCE_OPEN.match(line)
    if match is None:
        return None
    run = match.group(1)
    if run[0] == "`" and "`" in match.group(2):  # CommonMark: no backticks in the info string
        return None
    return run[0], len(run)


def _closes_fence(line: str, char: str, length: int) -> bool:
    stripped = line.strip()
    return len(stripped) >= length and stripped == char * len(stripped)


def _kind(line: str) -> tuple[Kind, tuple[int, str] | None]:
    """The kind of a line outside fences and comments (fence and comment openers included)."""
    if not line.strip():
        return Kind.BLANK, None
    lead = line.lstrip()[:1]
    if lead in {"`", "~"} and _opens_fence(line) is not None:
        return Kind.FENCE, None
    if lead == "<" and _COMMENT_OPEN.match(line):
        return Kind.COMMENT, None
    if lead == "#":
        found = heading(line)
        if found is not None:
            return Kind.HEADING, found
    return Kind.TEXT, None


def rescan(lines: tuple[str, ...], kinds: bytes) -> Structure:
    """What :func:`scan` found in ``lines``, rebuilt from the kinds it gave (one byte each).

    For a file it found nothing wrong with: only the headings are read again.
    """
    levels: dict[int, int] = {}
    headings: dict[int, str] = {}
    mark = bytes([Kind.HEADING])
    index = kinds.find(mark)
    while index >= 0:
        found = heading(lines[index])
        if found is not None:
            levels[index], headings[index] = found
        index = kinds.find(mark, index + 1)
    front_lines = len(kinds) - len(kinds.lstrip(bytes([Kind.FRONT])))
    front = (0, front_lines - 1) if front_lines else None
    return Structure(tuple(map(KIND_OF.__getitem__, kinds)), levels, headings, front, ())


def scan(lines: tuple[str, ...], path: str) -> Structure:
    """Classify every line; report unclosed fences and comments with their opening line."""
    kinds: list[Kind] = []
    levels: dict[int, int] = {}
    headings: dict[int, str] = {}
    front = _front_matter(lines)
    if front is not None:
        kinds.extend([Kind.FRONT] * (front[1] + 1))
    fence: tuple[str, int, int] | None = None  # char, length, opening line index
    comment_from: int | None = None
    for index in range(len(kinds), len(lines)):
        line = lines[index]
        if fence is not None:
            closed = _closes_fence(line, fence[0], fence[1])
            kinds.append(Kind.FENCE if closed else Kind.CODE)
            fence = None if closed else fence
            continue
        if comment_from is not None:
            kinds.append(Kind.COMMENT)
            comment_from = None if "-->" in line else comment_from
            continue
        kind, found = _kind(line)
        kinds.append(kind)
        if kind is Kind.FENCE:
            char, length = _opens_fence(line) or ("`", 3)
            fence = (char, length, index)
        elif kind is Kind.COMMENT and "-->" not in line[line.index("<!--") + 4 :]:
            comment_from = index
        elif found is not None:
            levels[index], headings[index] = found
    findings: list[Finding] = []
    if fence is not None:
        message = "code fence is never closed; the rest of the file is code"
        findings.append(Finding(path, fence[2] + 1, "markdown.unclosed-fence", message))
    if comment_from is not None:
        message = "HTML comment is never closed; the rest of the file is hidden"
        findings.append(Finding(path, comment_from + 1, "markdown.unclosed-comment", message))
    return Structure(tuple(kinds), levels, headings, front, tuple(findings))


# Bounded repeats keep these linear on hostile input (an unclosed "[a](" repeated, say).
_EMPHASIS: Final = re.compile(r"(\*\*|__)(.{1,400}?)\1")
_LINK: Final = re.compile(r"\[([^\][\n]{0,400})\]\(([^)(\[\]\s]{0,400})\)")


def _without_comments(text: str) -> str:
    """Remove ``<!-- ... -->`` spans (an unclosed one runs to the end)."""
    parts: list[str] = []
    position = 0
    while (start := text.find("<!--", position)) >= 0:
        parts.append(text[position:start])
        end = text.find("-->", start + 4)
        if end < 0:
            return "".join(parts)
        position = end + 3
    parts.append(text[position:])
    return "".join(parts)


def plain(text: str) -> str:
    """Strip inline comments, bold, backticks and link targets, keeping the words."""
    if "<!--" in text:
        text = _without_comments(text)
    if "**" in text or "__" in text:  # what _EMPHASIS needs (a lone "_" is common in paths)
        text = _EMPHASIS.sub(r"\2", text)
    if "](" in text:
        text = _LINK.sub(r"\1", text)
    return text.replace("`", "").strip()


def strip_decoration(text: str) -> str:
    """Strip leading emoji, symbols and emphasis markers from a heading or cell."""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isalnum() or char in "[(§":
            break
        index += 1
    return text[index:].strip()
