"""YAML in task files: front matter that approves or holds a whole file, and YAML task lists."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import yaml

from daemon.spec import fields
from daemon.spec.ids import is_id, is_numeric_id, task_key
from daemon.spec.model import FileApproval, Finding

_YAML_START: Final = re.compile(r"[A-Za-z_][\w-]*\s*:(?:\s|$)")
MAX_YAML_BYTES: Final = 2 * 1024 * 1024


def _keys_of(value: object) -> frozenset[str]:
    items: list[object]
    if isinstance(value, str):
        items = [part for part in re.split(r"[,\s]+", value) if part]
    elif isinstance(value, list):
        items = value
    else:
        return frozenset()
    return frozenset(task_key(str(item)) for item in items if str(item).strip())


def file_approval(mapping: Mapping[str, object]) -> FileApproval:
    """What ``status:`` and ``approved_tasks:`` at the top of a file say.

    The keys are read as a reviewer may type them: ``Status:``, ``Approved-Tasks:``
    (as the trailer is spelled) and ``approved_tasks:`` are the same keys. An exact
    spelling wins over another one.
    """
    status = _value(mapping, "status")
    verdict = fields.classify_status(str(status)) if isinstance(status, str) else None
    return FileApproval(
        approved_all=verdict == "approved",
        held_all=verdict == "held",
        approved_keys=_keys_of(_value(mapping, "approved_tasks")),
    )


def _value(mapping: Mapping[str, object], key: str) -> object:
    """``mapping[key]``, or the value of the first key that differs only in case or ``-``."""
    if key in mapping:
        return mapping[key]
    return next((v for k, v in mapping.items() if k.lower().replace("-", "_") == key), None)


# YAML also breaks lines at a lone CR, NEL, LS and PS; split_lines does not, so those are
# made spaces before YAML sees the text, keeping YAML's line numbers equal to ours.
_YAML_BREAKS: Final = str.maketrans({"\r": " ", "\x85": " ", "\u2028": " ", "\u2029": " "})


def load_plain(text: str) -> object:
    """YAML with every scalar kept a string: dates, ``!!int`` and the like cannot fail."""
    return yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 (BaseLoader builds no objects)


def _yaml_text(lines: tuple[str, ...]) -> str:
    return "\n".join(lines).translate(_YAML_BREAKS)


def front_matter(
    lines: tuple[str, ...], span: tuple[int, int] | None, path: str
) -> tuple[FileApproval, list[Finding]]:
    """Read the YAML front matter between the two ``---`` lines of ``span``."""
    if span is None:
        return FileApproval(), []
    text = _yaml_text(lines[span[0] + 1 : span[1]])
    try:
        data = load_plain(text)
    except (yaml.YAMLError, RecursionError) as error:
        mark = getattr(error, "problem_mark", None)
        line = span[0] + 2 + (mark.line if mark is not None else 0)
        problem = getattr(error, "problem", None) or "invalid YAML"
        message = f"front matter is not valid YAML ({problem}); ignored"
        return FileApproval(), [Finding(path, line, "frontmatter.invalid", message)]
    if not isinstance(data, dict):
        return FileApproval(), []
    return file_approval({str(k): v for k, v in data.items()}), []


def looks_like_yaml(lines: tuple[str, ...]) -> bool:
    """Whether a task file may be a YAML document: its first content line is ``key:``.

    Comment lines are skipped, so a Markdown file can pass this test; the YAML
    parse that follows decides (no ``tasks:`` list, no YAML tasks).
    """
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return _YAML_START.match(line) is not None
    return False


@dataclass(frozen=True, slots=True)
class YamlTask:
    """One entry of a YAML task list, with the source lines it spans (1-based)."""

    literal: str
    values: dict[str, object]
    line: int
    end_line: int


def _plain(node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item) for item in node.value if isinstance(item, yaml.ScalarNode)]
    return None


def yaml_tasks(
    lines: tuple[str, ...], path: str
) -> tuple[list[YamlTask], FileApproval, list[Finding]] | None:
    """The tasks of a YAML task file (``tasks:`` → list of maps with ``id``), or None.

    The keys are read in any case (``Tasks:``, ``ID:``), as front matter's are.
    """
    text = _yaml_text(lines)
    if len(text) > MAX_YAML_BYTES:
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        return None  # nested deeper than Python recurses: not a task list
    except yaml.YAMLError as error:
        return _lenient(lines, path, error)
    if not isinstance(root, yaml.MappingNode):
        return None
    top = {str(k.value): v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    entries = _value(top, "tasks")
    if not isinstance(entries, yaml.SequenceNode):
        return None
    tasks: list[YamlTask] = []
    findings: list[Finding] = []
    for item in entries.value:
        if not isinstance(item, yaml.MappingNode):
            continue
        values = {
            str(k.value).lower(): _plain(v) for k, v in item.value if isinstance(k, yaml.ScalarNode)
        }
        literal = str(values.get("id") or "").strip()
        line = item.start_mark.line + 1
        if not (is_id(literal) or is_numeric_id(literal)):
            message = f"YAML task without a usable id ({literal!r}); skipped"
            findings.append(Finding(path, line, "tasks.invalid-id", message))
            continue
        mark = item.end_mark
        before_mark = lines[mark.line][: mark.column] if mark.line < len(lines) else ""
        end = mark.line if not before_mark.strip() else mark.line + 1
        while end > line and not lines[end - 1].strip():
            end -= 1
        tasks.append(YamlTask(literal, values, line, end))
    plain_top = {key: _plain(node) for key, node in top.items()}
    return tasks, file_approval(plain_top), findings


_KEY_VALUE: Final = re.compile(
    r"(?P<indent>\s*)(?P<item>-\s+)?(?P<key>[A-Za-z_][\w-]*)\s*:(?:\s+(?P<value>.*))?$"
)
_LIST_ITEM: Final = re.compile(r"(?P<indent>\s*)-\s+(?P<value>.*)$")


def _scalar(value: str) -> object:
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        return [part.strip().strip("'\"") for part in value[1:-1].split(",") if part.strip()]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


@dataclass(slots=True)
class _LenientReader:
    """State of the line-by-line reading of a YAML-like task list."""

    top: dict[str, object] = field(default_factory=dict)
    entries: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    in_tasks: bool = False
    item_indent: int = -1
    open_list: list[object] | None = None

    def line(self, number: int, line: str) -> None:
        match = _KEY_VALUE.match(line)
        indent = len(line) - len(line.lstrip())
        if match and indent == 0 and not match.group("item"):
            self.in_tasks = match.group("key").lower() == "tasks" and not match.group("value")
            self.top[match.group("key")] = _scalar(match.group("value") or "")
            self.open_list = None
        elif not self.in_tasks:
            return
        elif match and match.group("item"):
            values = {match.group("key").lower(): _scalar(match.group("value") or "")}
            self.entries.append((number, values))
            self.item_indent, self.open_list = indent, None
        elif match and self.entries and indent > self.item_indent:
            values = self.entries[-1][1]
            value = match.group("value")
            self.open_list = None if value else []
            values[match.group("key").lower()] = _scalar(value) if value else self.open_list
        elif (item := _LIST_ITEM.match(line)) and self.open_list is not None:
            self.open_list.append(_scalar(item.group("value")))


def _lenient(
    lines: tuple[str, ...], path: str, error: yaml.YAMLError
) -> tuple[list[YamlTask], FileApproval, list[Finding]] | None:
    """Read a YAML-like task list that strict YAML rejects (e.g. ``title: a: b``), line by line.

    Only the common shape is understood: top-level ``key: value`` lines and a
    ``tasks:`` list of ``- id: ...`` maps whose values run to the end of the line.
    """
    reader = _LenientReader()
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            reader.line(number, line)
    entries = reader.entries
    if _value(reader.top, "tasks") is None or not entries:
        return None
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "invalid YAML"
    message = f"not valid YAML ({problem}); read leniently as a task list"
    findings = [Finding(path, mark.line + 1 if mark else 1, "yaml.invalid", message)]
    tasks: list[YamlTask] = []
    for position, (start, values) in enumerate(entries):
        literal = str(values.get("id") or "").strip()
        if not (is_id(literal) or is_numeric_id(literal)):
            message = f"YAML task without a usable id ({literal!r}); skipped"
            findings.append(Finding(path, start, "tasks.invalid-id", message))
            continue
        limit = entries[position + 1][0] - 1 if position + 1 < len(entries) else len(lines)
        end = start
        for number in range(start + 1, limit + 1):
            text = lines[number - 1]
            if text.strip() and not text[:1].isspace():
                break  # back at the top level: the task list is over
            end = number if text.strip() else end
        tasks.append(YamlTask(literal, values, start, end))
    return tasks, file_approval(reader.top), findings
