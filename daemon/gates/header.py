"""SK001: every created or modified file in scope carries the reference header.

The header (the seed prompt's "Mandatory Reference Documentation")::

    [Task]: T-042            (lists and ranges: T-041, T-042 / T-040..T-045)
    [From]: speckit.plan §2.1, speckit.specify FR-3
    [Description]: what this file implements

sits at the top of the file in its comment syntax: a Python module docstring or
``#`` lines; ``//`` or ``/* */`` for C-like languages; ``--`` for SQL; ``#`` for
shells and YAML; ``<!-- -->`` for HTML and Markdown.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Final

from daemon.gates.model import RULES, Change, ChangedFile, LintFinding, RuleConfig, Status
from daemon.globs import matches
from daemon.spec.ids import task_key
from daemon.spec.refs import extract, resolve

_FIELD: Final = re.compile(r"\[(Task|From|Description)\]\s*:?\s*(.*)", re.IGNORECASE)
_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*")
_RANGE: Final = re.compile(
    r"(?P<a>[A-Za-z][A-Za-z0-9-]*?\d+)\s*(?:\.\.|–|—|\bto\b|\bthrough\b|-)\s*(?P<b>[A-Za-z][A-Za-z0-9-]*?\d+)",
    re.IGNORECASE,
)
_NUMBERED: Final = re.compile(r"(.*?)(\d{1,6})")
_SCAN_LINES: Final = 60
_LINE_COMMENTS: Final = {
    ".py": ("#",), ".sh": ("#",), ".bash": ("#",), ".yaml": ("#",), ".yml": ("#",),
    ".toml": ("#",), ".rb": ("#",), ".sql": ("--",), ".ts": ("//",), ".tsx": ("//",),
    ".js": ("//",), ".jsx": ("//",), ".go": ("//",), ".rs": ("//",), ".java": ("//",),
    ".kt": ("//",), ".c": ("//",), ".h": ("//",), ".cpp": ("//",), ".cs": ("//",),
    ".swift": ("//",),
}  # fmt: skip
_BLOCKS: Final = (("/*", "*/"), ("<!--", "-->"))


@dataclass(frozen=True, slots=True)
class Header:
    """The header fields found at the top of a file: field → (line, value)."""

    fields: dict[str, tuple[int, str]]
    line: int


def _python_region(text: str) -> list[tuple[int, str]] | None:
    """The module docstring and leading ``#`` lines, or None when the file does not parse."""
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    lines = text.splitlines()
    region: list[tuple[int, str]] = []
    body = module.body
    first_code = body[0].lineno if body else len(lines) + 1
    docstring = body[0] if body and isinstance(body[0], ast.Expr) else None
    constant = docstring.value if docstring is not None else None
    if (
        docstring is not None
        and isinstance(constant, ast.Constant)
        and isinstance(constant.value, str)
    ):
        end = docstring.end_lineno or docstring.lineno
        region += [(n, lines[n - 1]) for n in range(docstring.lineno, end + 1)]
        first_code = end + 1 if len(body) < 2 else body[1].lineno
    for number, line in enumerate(lines[: first_code - 1], start=1):
        if line.lstrip().startswith("#"):
            region.append((number, line.lstrip()[1:]))
    return sorted(region)


def _comment_region(path: str, text: str) -> list[tuple[int, str]]:
    """Leading comment lines (line and block comments), markers removed."""
    suffix = path[path.rfind(".") :].lower() if "." in path else ""
    markers = _LINE_COMMENTS.get(suffix, ("#", "//", "--"))
    region: list[tuple[int, str]] = []
    closing: str | None = None
    for number, raw in enumerate(text.splitlines()[:_SCAN_LINES], start=1):
        line = raw.strip()
        if closing is not None:
            region.append((number, line.replace(closing, "").lstrip("* ")))
            closing = None if closing in line else closing
            continue
        opener = next(((o, c) for o, c in _BLOCKS if line.startswith(o)), None)
        if opener is not None:
            region.append((number, line[len(opener[0]) :].replace(opener[1], "")))
            closing = None if opener[1] in line[len(opener[0]) :] else opener[1]
        elif line.startswith(markers):
            region.append((number, line.lstrip("#/-! ")))
        elif line and not line.startswith(("#!", "'use strict'", '"use strict"')):
            break
    return region


def read_header(path: str, text: str) -> Header | None:
    """The header at the top of ``text``, or None when it has no ``[Task]``/``[From]`` field."""
    region = _python_region(text) if path.endswith(".py") else None
    if region is None:
        region = _comment_region(path, text)
    found: dict[str, tuple[int, str]] = {}
    for number, content in region:
        match = _FIELD.search(content)
        if match:
            value = match.group(2).strip().strip("\"'").strip()
            found.setdefault(match.group(1).lower(), (number, value))
    if not found.keys() & {"task", "from"}:
        return None
    return Header(found, min(line for line, _ in found.values()))


def task_keys(value: str) -> set[str]:
    """The task keys a ``[Task]`` value names: IDs, lists and ranges (``T-001..T-005``)."""
    keys: set[str] = set()
    for match in _RANGE.finditer(value):
        a, b = _NUMBERED.fullmatch(match.group("a")), _NUMBERED.fullmatch(match.group("b"))
        if a and b and a.group(1).upper() == b.group(1).upper():
            low, high = int(a.group(2)), int(b.group(2))
            if 0 <= high - low <= 500:
                width = len(a.group(2))
                keys |= {task_key(f"{a.group(1)}{n:0{width}d}") for n in range(low, high + 1)}
    keys |= {task_key(token) for token in _ID.findall(value) if any(c.isdigit() for c in token)}
    return keys


def _in_scope(changed: ChangedFile, config: RuleConfig) -> bool:
    return (
        changed.status is not Status.DELETED
        and not changed.binary
        and changed.new is not None
        and matches(changed.path, config.header_globs)
        and matches(changed.path, config.write_scope)
    )


def check_headers(change: Change, config: RuleConfig) -> list[LintFinding]:
    """SK001 for every created or modified file in scope."""
    if "SK001" not in config.rules or not config.header_required:
        return []
    info = RULES["SK001"]
    findings: list[LintFinding] = []

    def add(path: str, line: int, message: str) -> None:
        findings.append(LintFinding("SK001", info.severity, path, line, message, info.help))

    running = {task_key(task) for task in change.task_ids}
    for changed in change.files:
        if not _in_scope(changed, config):
            continue
        header = read_header(changed.path, changed.new or "")
        if header is None:
            add(changed.path, 1, "no [Task]/[From]/[Description] header at the top of the file")
            continue
        for name in ("task", "from", "description"):
            if not header.fields.get(name, (0, ""))[1]:
                add(changed.path, header.line, f"header has no [{name.capitalize()}] value")
        task_line, task_value = header.fields.get("task", (header.line, ""))
        if task_value and running and not running & task_keys(task_value):
            wanted = ", ".join(change.task_ids)
            add(
                changed.path,
                task_line,
                f"[Task] names {task_value!r}, not the running task {wanted}",
            )
        from_line, from_value = header.fields.get("from", (header.line, ""))
        if from_value and change.documents:
            refs = extract(from_value, from_line, bare=True)
            if not any(resolve(ref, change.documents).resolved for ref in refs):
                add(changed.path, from_line, f"[From] cites nothing that resolves: {from_value!r}")
    return findings
