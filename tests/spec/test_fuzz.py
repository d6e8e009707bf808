"""Property tests: generated task files never make the parsers raise or break invariants."""

from __future__ import annotations

import codecs
import re
import string
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.spec.model import SectionIndex, TaskFile, TaskState
from daemon.spec.sections import index_sections
from daemon.spec.tasks import parse_tasks

PATH = "specs/001-demo/tasks.md"
_HEX64 = re.compile(r"[0-9a-f]{64}")
# Generated documents are large and built from many draws; that is the point.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

# --- pieces of real task files -------------------------------------------------------

_WORD = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=10)
# Any code point except surrogates (which cannot be encoded); may hold \n, \r, NUL, emoji.
_UNICODE = st.text(max_size=30)
# Noise made of the characters Markdown and the task grammar care about.
_MARKDOWNISH = st.text(alphabet="-*+[]xX T01.:|#`~<!>\t_()§*\\/", max_size=40)
_SNIPPET = st.sampled_from(
    [
        "`backend/app/models.py`",
        "src/api/routes.ts",
        "Dockerfile",
        "speckit.plan §2.1",
        "spec.md §US1",
        "speckit.specify FR-001–FR-005",
        "§User Stories",
        "Specify: Section 12.1",
        "(DONE)",
        "(Complete)",
        "✅",
        "**bold**",
        "__under__",
        "[link](docs/x.md)",
        "<!-- inline -->",
        "depends on T001",
        "blocked by T-002.",
        "US1-US3",
        "T001-T005",
        "—",
        "|",
        ":",
        "[P]",
        "`",
        "#",
    ]
)
_TITLE = st.lists(st.one_of(_WORD, _SNIPPET, _UNICODE, _MARKDOWNISH), max_size=6).map(" ".join)
_NUMBER = st.integers(min_value=0, max_value=25)
_TASK_ID = st.one_of(
    _NUMBER.map(lambda n: f"T{n:03d}"),
    _NUMBER.map(lambda n: f"T-{n:03d}"),
    _NUMBER.map(lambda n: f"T{n}"),
    _NUMBER.map(lambda n: f"TASK-{n:03d}"),
    _NUMBER.map(lambda n: f"P2-T-{n:03d}"),
    _NUMBER.map(lambda n: f"T{n:03d}b"),
    _NUMBER.map(lambda n: f"TSK{n}"),
    st.sampled_from(["US1", "FR-001", "M1", "T", "T-", "t001"]),
    _WORD,
)
_DOTTED = st.tuples(_NUMBER, _NUMBER).map(lambda p: f"{p[0]}.{p[1]}")
_ANY_ID = st.one_of(_TASK_ID, _DOTTED, _NUMBER.map(str))
_TAGS = st.lists(
    st.sampled_from(
        ["[P]", "[US1]", "[US2, US3]", "[AUTH-US1]", "[approved]", "[hold]", "[on hold]",
         "[draft]", "[blocked]", "[done]", "[COMPLETE]", "[Backend]", "[x]", "[]", "[", "]"]
    ),
    max_size=4,
).map(" ".join)  # fmt: skip
_INDENT = st.sampled_from(["", "", "  ", "    ", "\t", "   "])
_BULLET = st.sampled_from(["-", "*", "+", "1.", "2)"])
_MARK = st.sampled_from([" ", "x", "X", "", "-"])


def _fmt(template: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(lambda values: template.format(*values))


_CHECKBOX = st.one_of(
    _fmt("{}{} [{}] {} {} {}", _INDENT, _BULLET, _MARK, _ANY_ID, _TAGS, _TITLE),
    _fmt("{}{} [{}] **{}**: {} {}", _INDENT, _BULLET, _MARK, _ANY_ID, _TAGS, _TITLE),
    _fmt("{}- {} [{}] {}", _INDENT, _ANY_ID, _MARK, _TITLE),
    _fmt("{}- **{}**: {}", _INDENT, _ANY_ID, _TITLE),
    _fmt("{}- **{} {}**: **{}**: {}", _INDENT, _TAGS, _ANY_ID, _TITLE, _TITLE),
)
_HEADING_TEXT = st.one_of(
    _fmt("{}: {}", _TASK_ID, _TITLE),
    _fmt("{} {} {}", _TASK_ID, _TAGS, _TITLE),
    _fmt("Task {}: {}", _ANY_ID, _TITLE),
    _fmt("TASK {} - {}", _ANY_ID, _TITLE),
    _fmt("**Task {}: {}**", _ANY_ID, _TITLE),
    _fmt("Phase {}: {}", _NUMBER, _TITLE),
    _fmt("{}. {}", _DOTTED, _TITLE),
    _fmt("User Story {} - {}", _NUMBER, _TITLE),
    _fmt("{}: {}", st.sampled_from(["FR-001", "US-2", "DD-3", "REQ-01", "NFR-1"]), _TITLE),
    st.sampled_from(["User Stories", "Functional Requirements", "Design Decisions", ""]),
    _TITLE,
)
_HEADING = _fmt(
    "{}{} {}{}",
    st.sampled_from(["", "", " ", "   "]),
    st.integers(min_value=1, max_value=7).map(lambda n: "#" * n),
    _HEADING_TEXT,
    st.sampled_from(["", "", " ##", " ✅"]),
)
_FIELD = st.one_of(
    _fmt(
        "{}{}: {}",
        _INDENT,
        st.sampled_from(
            [
                "**Status**",
                "Status",
                "State",
                "**Depends on**",
                "Depends on",
                "Dependencies",
                "Blocked by",
                "Task ID",
                "Title",
                "**Title**",
                "Spec",
                "Plan",
                "Refs",
                "Files",
                "Requirements",
                "Preconditions",
                "- **Spec Ref**",
                "Task-ID",
            ]
        ),
        st.one_of(
            st.sampled_from(
                [
                    "approved",
                    "Approved",
                    "**Approved**",
                    "hold",
                    "on hold",
                    "✅ done (merged)",
                    "Ready for Implementation",
                    "T001-T005",
                    "T001, T-002 and T3",
                    "T001 to T009",
                    "1.1-1.3",
                    "TASK-004",
                    "FR-001–FR-003",
                    "speckit.plan §2.1",
                    "Section 4.2",
                ]
            ),
            _ANY_ID,
            _TITLE,
        ),
    ),
    _fmt("Task {}", _NUMBER),
    _fmt("Task ID: {}", _ANY_ID),
)
_OTHER = st.one_of(
    st.just(""),
    st.sampled_from(["---", "***", "___", "> quoted", "PHASE 1: Setup", "Milestone 2 — Ship"]),
    _fmt("{}: {}", _TASK_ID, _TITLE),
    _fmt("{}. {}", st.integers(min_value=0, max_value=6), _TITLE),
    _fmt("<!-- {} -->", _TITLE),
    _MARKDOWNISH,
    _UNICODE,
    _TITLE,
)
_SIMPLE_LINE = st.one_of(_CHECKBOX, _HEADING, _FIELD, _OTHER)


@st.composite
def _table(draw: st.DrawFn) -> list[str]:
    names = st.sampled_from(
        ["ID", "#", "Task ID", "Task", "Title", "Status", "Depends on", "Spec Ref", "Files",
         "Notes", "**ID**", ""]
    )  # fmt: skip
    header = draw(st.lists(names, min_size=1, max_size=5))
    if draw(st.booleans()):
        header.insert(draw(st.integers(0, len(header))), draw(st.sampled_from(["ID", "#"])))
    lines = ["| " + " | ".join(header) + " |"]
    if draw(st.integers(0, 4)):
        lines.append(
            "|"
            + "|".join(draw(st.sampled_from(["---", "---", ":--:", "-", "--:"])) for _ in header)
            + "|"
        )
    cell = st.one_of(
        _ANY_ID, _ANY_ID, _TITLE, st.sampled_from(["approved", "✅", "T001, T002", "\\|"])
    )
    for _ in range(draw(st.integers(0, 4))):
        cells = draw(st.lists(cell, min_size=0, max_size=len(header) + 1))
        lines.append("| " + " | ".join(cells) + (" |" if draw(st.booleans()) else ""))
    return lines


@st.composite
def _fence(draw: st.DrawFn) -> list[str]:
    opener = draw(st.sampled_from(["```", "~~~", "````", "```python", "  ```yaml", "``` a`b"]))
    body = draw(st.lists(_SIMPLE_LINE, max_size=4))
    closed = draw(st.integers(0, 3)) > 0
    closer = [opener.strip()[:3] if draw(st.booleans()) else opener.strip().split()[0]]
    return [opener, *body, *(closer if closed else [])]


@st.composite
def _comment(draw: st.DrawFn) -> list[str]:
    body = draw(st.lists(_SIMPLE_LINE, max_size=3))
    closed = draw(st.integers(0, 3)) > 0
    return ["<!-- " + draw(_TITLE), *body, *(["-->"] if closed else [])]


# Any code point but the newline, including those YAML alone reads as line breaks
# (U+0085, U+2028, U+2029, a lone \r): see test_yaml_line_breaks below.
_YAML_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=20)
# Front matter lines, valid and broken, with invalid dates and mistagged scalars.
_YAML_LINE = st.sampled_from(
    ["status: approved", "status: hold", "status: Draft", "approved_tasks: [T001, T-002]",
     "approved_tasks: T003 T004", "approved_tasks:", "  - T005", "title: Tasks",
     "created: 2025-01-31", "version: 1.0", "count: 3", "enabled: yes", "empty:",
     "title: a: b", "status: [approved", "  bad: indent", "\tkey: tab", "key: 'open",
     "- just a list", "{", "? complex", "&a x", "*a", "!!set [a]", "created: 2025-02-30",
     "n: !!int xyz", "f: !!float abc", "b: !!bool maybe", "t: !!timestamp foo"]
)  # fmt: skip


@st.composite
def _front_matter(draw: st.DrawFn) -> list[str]:
    body = draw(st.lists(st.one_of(_YAML_LINE, _YAML_LINE, _YAML_TEXT), max_size=5))
    closer = draw(st.sampled_from(["---", "...", "--- ", None]))
    return ["---", *body, *([closer] if closer is not None else [])]


_YAML_VALUE = st.one_of(
    _ANY_ID,
    _WORD,
    _YAML_TEXT,
    st.sampled_from(["approved", "done", "[T001, T002]", "'quoted'", "a: b", "[", "|"]),
)


@st.composite
def _yaml_tasks(draw: st.DrawFn) -> list[str]:
    lines = draw(st.lists(st.sampled_from(["status: approved", "title: Demo", "# c"]), max_size=2))
    lines.append("tasks:")
    keys = st.sampled_from(
        ["id", "title", "status", "depends_on", "files", "spec", "description", "ID"]
    )
    for _ in range(draw(st.integers(0, 4))):
        indent = draw(st.sampled_from(["  ", "", "    "]))
        lines.append(f"{indent}- id: {draw(_YAML_VALUE)}")
        for key in draw(st.lists(keys, max_size=3)):
            lines.append(f"{indent}  {key}: {draw(_YAML_VALUE)}")
            if draw(st.integers(0, 4)) == 0:
                lines.append(f"{indent}    - {draw(_YAML_VALUE)}")
    return lines


@st.composite
def _numbered(draw: st.DrawFn) -> list[str]:
    lines = draw(st.lists(st.sampled_from(["# Plan", "", "Intro text."]), max_size=2))
    for number in range(1, draw(st.integers(0, 6)) + 1):
        skip = draw(st.integers(0, 9)) == 0
        lines.append(f"{number + skip}. {draw(_TITLE)}")
        lines += draw(st.lists(_fmt("   {}", _TITLE), max_size=2))
    return lines


_BLOCK = st.one_of(
    _SIMPLE_LINE.map(lambda line: [line]),
    _SIMPLE_LINE.map(lambda line: [line]),
    _SIMPLE_LINE.map(lambda line: [line]),
    _table(),
    _fence(),
    _comment(),
)


def _encode(draw: st.DrawFn, lines: list[str], *, noise: bool) -> bytes:
    """Join ``lines`` with LF, CRLF or both, encode them, and maybe splice in random bytes."""
    ending = draw(st.sampled_from(["lf", "lf", "crlf", "mixed"]))
    if ending == "mixed":
        ends = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    else:
        ends = ["\r\n" if ending == "crlf" else "\n"] * len(lines)
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if lines and draw(st.booleans()):
        text = text.removesuffix(ends[-1])
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    data = text.encode(encoding)
    if noise and encoding != "utf-16" and draw(st.integers(0, 6)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


@st.composite
def markdown_documents(draw: st.DrawFn) -> bytes:
    """Realistic, broken and random Markdown task files as bytes."""
    if draw(st.integers(0, 9)) == 0:
        return _encode(draw, draw(_numbered()), noise=True)
    front = draw(_front_matter()) if draw(st.integers(0, 3)) == 0 else []
    lines = [line for block in draw(st.lists(_BLOCK, max_size=25)) for line in block]
    # Random bytes may make a lone \r: kept out of YAML for the reason given at _YAML_TEXT.
    return _encode(draw, front + lines, noise=True)


@st.composite
def yaml_documents(draw: st.DrawFn) -> bytes:
    """YAML task files (``tasks:`` lists), valid and broken, as bytes."""
    return _encode(draw, draw(_yaml_tasks()), noise=True)


# --- invariants ----------------------------------------------------------------------


def _line_count(data: bytes) -> int:
    """How many lines the file has, as an editor or git numbers them (LF ends a line)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        text = data.decode("utf-8", errors="replace")
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _check_tasks(data: bytes, result: TaskFile) -> None:
    lines = _line_count(data)
    assert result.path == PATH
    for task in result.tasks:
        assert 1 <= task.line <= task.end_line <= lines, (task, lines)
        assert _HEX64.fullmatch(task.digest), task.digest
        assert task.key
        assert isinstance(task.state, TaskState)
    keys = [task.key for task in result.tasks]
    assert len(keys) == len(set(keys)), keys
    for finding in result.findings:
        assert 0 <= finding.line <= max(lines, 1), (finding, lines)
        assert finding.code, finding
        assert finding.path == PATH
    assert parse_tasks(data, PATH) == result


def _check_sections(data: bytes, result: SectionIndex) -> None:
    lines = _line_count(data)
    assert result.path == PATH
    for section in result.sections:
        assert 1 <= section.line <= section.end_line <= lines, (section, lines)
        assert section.keys
    starts = [section.line for section in result.sections]
    assert starts == sorted(starts)
    for finding in result.findings:
        assert 0 <= finding.line <= max(lines, 1), (finding, lines)
        assert finding.code, finding
        assert finding.path == PATH
    assert index_sections(data, PATH) == result


# --- properties ----------------------------------------------------------------------


@settings(max_examples=2000, deadline=None, suppress_health_check=_SLOW_OK)
@given(markdown_documents())
def test_parse_tasks_generated_documents(data: bytes) -> None:
    """Generated Markdown task files, broken ones included, parse without raising."""
    _check_tasks(data, parse_tasks(data, PATH))


@settings(max_examples=400, deadline=None, suppress_health_check=_SLOW_OK)
@given(yaml_documents())
def test_parse_tasks_yaml_documents(data: bytes) -> None:
    """Generated YAML task files, broken ones included, parse without raising."""
    _check_tasks(data, parse_tasks(data, PATH))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=4096))
def test_parse_tasks_random_bytes(data: bytes) -> None:
    """Random bytes parse without raising."""
    _check_tasks(data, parse_tasks(data, PATH))


@settings(max_examples=500, deadline=None, suppress_health_check=_SLOW_OK)
@given(st.one_of(markdown_documents(), st.binary(max_size=2048)))
def test_index_sections_generated_documents(data: bytes) -> None:
    """Generated documents and random bytes index without raising."""
    _check_sections(data, index_sections(data, PATH))


# --- digest invariance ---------------------------------------------------------------

_TITLE_WORD = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)
_STATUS_TAG = st.sampled_from(["[approved]", "[hold]", "[Approved]", "[on hold]"])


@dataclass(frozen=True)
class _Checklist:
    """A checklist task to render with different markers."""

    indent: str
    id: str
    tags: tuple[str, ...]
    words: tuple[str, ...]
    body: tuple[str, ...]
    heading: bool

    def render(self, mark: str, status: list[str], at: int) -> bytes:
        tags = list(self.tags)
        tags[at:at] = status
        line = " ".join([f"{self.indent}- [{mark}]", self.id, *tags, *self.words])
        head = ["## Phase 1: Setup", ""] if self.heading else []
        return "\n".join([*head, line, *self.body, ""]).encode()


_CHECKLIST = st.builds(
    _Checklist,
    indent=st.sampled_from(["", "  "]),
    id=st.one_of(_NUMBER.map(lambda n: f"T{n:03d}"), _NUMBER.map(lambda n: f"T-{n}")),
    tags=st.lists(st.sampled_from(["[P]", "[US1]", "[Backend]"]), max_size=2).map(tuple),
    words=st.lists(_TITLE_WORD, min_size=1, max_size=6).map(tuple),
    body=st.lists(_TITLE_WORD.map(lambda w: f"  - {w} in `src/a.py`"), max_size=2).map(tuple),
    heading=st.booleans(),
)


def _only_task(data: bytes) -> tuple[str, TaskState]:
    result = parse_tasks(data, PATH)
    assert len(result.tasks) == 1, (data, result)
    return result.tasks[0].digest, result.tasks[0].state


@settings(max_examples=300, deadline=None)
@given(
    _CHECKLIST,
    st.lists(_STATUS_TAG, max_size=2),
    st.integers(min_value=0, max_value=2),
    st.data(),
)
def test_digest_ignores_status_markers(task, status, at, data) -> None:
    """Status tags and the checkbox leave the digest alone; a title word changes it."""
    base, state = _only_task(task.render(" ", [], 0))
    assert state is TaskState.OPEN
    for mark in (" ", "x", "X"):
        digest, state = _only_task(task.render(mark, status, at))
        assert digest == base, (mark, status)
        if mark != " ":
            assert state is TaskState.DONE
        elif status:
            assert state in {TaskState.APPROVED, TaskState.HELD}
    words = list(task.words)
    position = data.draw(st.integers(0, len(words) - 1))
    words[position] = data.draw(_TITLE_WORD.filter(lambda word: word != words[position]))
    changed, _ = _only_task(replace(task, words=tuple(words)).render(" ", status, at))
    assert changed != base


# --- regressions: bugs these properties found, fixed since ---------------------------


def test_yaml_line_breaks_crash() -> None:
    """A YAML task file ending in lone CRs (YAML line breaks) parses without IndexError."""
    data = b"tasks:\n- id: T1\r\r\r"
    _check_tasks(data, parse_tasks(data, PATH))


@pytest.mark.parametrize(
    "data",
    [
        b"tasks:\r- id: T1\r- id: T2\n",
        'tasks:\n  - id: T1\n    title: "a\u2028b"\n  - id: T2\n'.encode(),
        b"tasks:\n- id: T1\n  x\rb\n",
    ],
    ids=["lone-cr", "u2028", "yaml-invalid"],
)
def test_yaml_line_breaks(data: bytes) -> None:
    """Lines from a YAML task file stay within the file when YAML sees extra line breaks."""
    _check_tasks(data, parse_tasks(data, PATH))


@pytest.mark.parametrize(
    "data",
    [b"---\na: " + b"[" * 1000 + b"\n---\n- [ ] T001 Title\n", b"tasks: " + b"[" * 1000],
    ids=["front-matter", "yaml-task-file"],
)
def test_deeply_nested_yaml(data: bytes) -> None:
    """YAML nested a thousand deep is a finding, not a RecursionError."""
    _check_tasks(data, parse_tasks(data, PATH))


@pytest.mark.parametrize(
    "value", ["2025-02-30", "!!int xyz", "!!float abc", "!!bool maybe", "!!timestamp foo"]
)
def test_front_matter_constructor_errors(value: str) -> None:
    """Front matter whose scalars fail to construct is a finding, not an exception."""
    data = f"---\ncreated: {value}\n---\n- [ ] T001 Title\n".encode()
    _check_tasks(data, parse_tasks(data, PATH))


@pytest.mark.parametrize(
    "text",
    [
        "- [ ] T" + "1" * 4301 + " Title\n",
        "- [ ] T001 Title\n  Depends on: T" + "1" * 4301 + "\n",
        "- [ ] T001 See speckit.specify FR-1–FR-" + "1" * 4301 + "\n",
    ],
    ids=["task-id", "dependency", "ref-range"],
)
def test_huge_numbers_in_tasks(text: str) -> None:
    """Task IDs, dependencies and ranges with 4,301 digits parse (int() has a digit limit)."""
    data = text.encode()
    _check_tasks(data, parse_tasks(data, PATH))


def test_wide_reference_range_is_not_expanded() -> None:
    """A range of a billion labels stays its two ends instead of being built member by member."""
    data = "- [ ] T001 See speckit.specify FR-1–FR-999999999\n".encode()
    result = parse_tasks(data, PATH)
    _check_tasks(data, result)
    assert [ref.section for ref in result.tasks[0].refs] == ["FR-1", "FR-999999999"]


@pytest.mark.parametrize(
    "text",
    [
        "## User Story " + "1" * 4301 + "\n",
        "## FR-" + "1" * 4301 + ": Title\n",
        "## User Stories\n### " + "1" * 4301 + ". Login\n",
        "- **FR-" + "1" * 4301 + "**: text\n",
    ],
    ids=["story", "heading-label", "family-number", "bold-label"],
)
def test_huge_numbers_in_sections(text: str) -> None:
    """Section numbers and labels with 4,301 digits index (int() has a digit limit)."""
    data = text.encode()
    _check_sections(data, index_sections(data, PATH))
