"""Bad bytes and broken Markdown become findings on the right line; good tasks survive."""

from __future__ import annotations

import codecs

import pytest

from daemon.spec.model import FileApproval, Finding, TaskFile, TaskState
from daemon.spec.tasks import parse_tasks

PATH = "specs/001-demo/tasks.md"

T001 = "- [ ] T001 Create models in backend/app/models.py"
T002 = "- [ ] T002 Add API routes in backend/app/api.py"
T003 = "- [ ] T003 Write API tests in backend/tests/test_api.py"
T004 = "- [ ] T004 Document the API in docs/api.md"


def _doc(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def _findings(result: TaskFile, code: str) -> list[Finding]:
    return [finding for finding in result.findings if finding.code == code]


def _only(result: TaskFile, code: str) -> Finding:
    found = _findings(result, code)
    assert len(found) == 1, result.findings
    assert found[0].path == PATH
    return found[0]


def _ids(result: TaskFile) -> list[str]:
    return [task.id for task in result.tasks]


@pytest.mark.parametrize(
    "bad",
    [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xe2\x82"],
    ids=["ff", "bad-continuation", "surrogate", "truncated"],
)
def test_invalid_utf8_on_line_3(bad: bytes) -> None:
    """Invalid UTF-8 on line 3 is reported on line 3 and repaired; every task still parses."""
    data = _doc(T001, T002) + b"- [ ] T003 Write tests " + bad + b"\n" + _doc(T004)
    result = parse_tasks(data, PATH)
    finding = _only(result, "input.invalid-utf8")
    assert finding.line == 3
    assert _ids(result) == ["T001", "T002", "T003", "T004"]
    assert [task.line for task in result.tasks] == [1, 2, 3, 4]
    assert "\ufffd" in result.tasks[2].title
    assert result.tasks[0].title == "Create models in backend/app/models.py"


def test_nul_byte_on_line_2() -> None:
    """A NUL byte in text on line 2 is reported on line 2; the file is not taken for binary."""
    data = _doc(T001, "- [ ] T002 Add API\0 routes in backend/app/api.py", T003)
    result = parse_tasks(data, PATH)
    finding = _only(result, "input.nul")
    assert finding.line == 2
    assert not _findings(result, "input.binary")
    assert _ids(result) == ["T001", "T002", "T003"]
    assert "\0" not in result.tasks[1].title
    assert result.tasks[1].title == "Add API\ufffd routes in backend/app/api.py"


def test_over_small_size_limit() -> None:
    """A file over ``max_bytes`` is not parsed at all: one finding on line 1, no tasks."""
    limit = 2 * 1024
    data = _doc(T001, T002, T003) * 40
    assert len(data) > limit
    result = parse_tasks(data, PATH, max_bytes=limit)
    finding = _only(result, "input.too-large")
    assert finding.line == 1
    assert result.tasks == ()
    assert len(result.findings) == 1


def test_at_size_limit_is_parsed() -> None:
    """A file of exactly ``max_bytes`` bytes is still parsed."""
    data = _doc(T001, T002, T003)
    result = parse_tasks(data, PATH, max_bytes=len(data))
    assert not _findings(result, "input.too-large")
    assert _ids(result) == ["T001", "T002", "T003"]


def test_fifty_megabytes_is_too_large() -> None:
    """A real 50 MiB file completes with ``input.too-large`` under the default limit."""
    data = b"x" * (50 * 1024 * 1024)
    result = parse_tasks(data, PATH)
    finding = _only(result, "input.too-large")
    assert finding.line == 1
    assert result.tasks == ()


def test_crlf_and_bom_match_lf() -> None:
    """CRLF line ends and a UTF-8 BOM change no task, line number or digest."""
    text = "\n".join(
        [
            "# Tasks: Demo",
            "",
            "## Phase 1: Setup",
            "",
            T001,
            "  Depends on: nothing yet",
            "  - step one in `backend/app/models.py`",
            T002,
            "",
            "## Phase 2: Core",
            "",
            "### T-010: Wire the API",
            "",
            "**Status**: approved",
            "Depends on: T001-T002",
            "",
            "## Phase 3: Polish",
            "",
            T003,
            "",
        ]
    )
    lf = parse_tasks(text.encode(), PATH)
    assert _ids(lf) == ["T001", "T002", "T-010", "T003"]
    assert [(t.line, t.end_line) for t in lf.tasks] == [(5, 7), (8, 8), (12, 15), (19, 19)]
    assert lf.findings == ()
    variants = {
        "crlf": text.replace("\n", "\r\n").encode(),
        "bom": codecs.BOM_UTF8 + text.encode(),
        "crlf+bom": codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode(),
    }
    for name, data in variants.items():
        result = parse_tasks(data, PATH)
        assert result.findings == lf.findings, name
        assert _ids(result) == _ids(lf), name
        assert [(t.line, t.end_line) for t in result.tasks] == [
            (t.line, t.end_line) for t in lf.tasks
        ], name
        assert [t.digest for t in result.tasks] == [t.digest for t in lf.tasks], name
        assert result.tasks == lf.tasks, name


def test_unclosed_code_fence() -> None:
    """An unclosed fence is reported at its line; tasks before it parse, lines after do not."""
    data = _doc(T001, T002, "", "```python", "x = 1", T003, "")
    result = parse_tasks(data, PATH)
    finding = _only(result, "markdown.unclosed-fence")
    assert finding.line == 4
    assert _ids(result) == ["T001", "T002"]
    assert result.task("T3") is None


@pytest.mark.parametrize("second", ["T001", "T-001", "T1"])
def test_duplicate_id(second: str) -> None:
    """The second task with one key is a finding at its line; the first one is kept."""
    data = _doc(T001, T002, f"- [ ] {second} Replace the models entirely", T003)
    result = parse_tasks(data, PATH)
    finding = _only(result, "tasks.duplicate-id")
    assert finding.line == 3
    assert _ids(result) == ["T001", "T002", "T003"]
    kept = result.task("T1")
    assert kept is not None
    assert kept.line == 1
    assert kept.title == "Create models in backend/app/models.py"


def test_binary_file_named_tasks_md() -> None:
    """PNG-like bytes full of NULs are binary: one finding at the first NUL's line, no tasks."""
    data = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
        + (bytes(range(256)) + b"\x00" * 64) * 8
        + b"\n"
        + _doc(T001, T002)
    )
    result = parse_tasks(data, "tasks.md")
    found = _findings(result, "input.binary")
    assert len(found) == 1, result.findings
    assert found[0].path == "tasks.md"
    assert found[0].line == 3
    assert result.tasks == ()


def test_unclosed_html_comment() -> None:
    """An unclosed comment is reported at its line; it hides the rest, not what came before."""
    data = _doc(T001, "<!-- Closed comment --> ", T002, "", "<!-- TODO: split this", T003, T004)
    result = parse_tasks(data, PATH)
    finding = _only(result, "markdown.unclosed-comment")
    assert finding.line == 5
    assert _ids(result) == ["T001", "T002"]


def test_invalid_front_matter() -> None:
    """Front matter that is not YAML is reported at the bad line and ignored; tasks parse."""
    data = _doc(
        "---",
        "title: Demo tasks",
        "status: approved: yes",
        "approved_tasks: [T001]",
        "---",
        "",
        "# Tasks",
        "",
        T001,
        T002,
    )
    result = parse_tasks(data, PATH)
    finding = _only(result, "frontmatter.invalid")
    assert finding.line == 3
    assert _ids(result) == ["T001", "T002"]
    assert [task.line for task in result.tasks] == [9, 10]
    assert result.approval == FileApproval()
    assert result.state(result.tasks[0]) is TaskState.OPEN


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
    ids=["le", "be"],
)
def test_utf16_with_bom(bom: bytes, codec: str) -> None:
    """UTF-16 with a BOM gives the same tasks as UTF-8."""
    text = "\n".join(
        ["# Tasks — démo ✅", "", T001, "  - étape: `backend/app/models.py`", T002, ""]
    )
    utf8 = parse_tasks(text.encode(), PATH)
    result = parse_tasks(bom + text.encode(codec), PATH)
    assert _ids(result) == ["T001", "T002"]
    assert result.findings == utf8.findings == ()
    assert result.tasks == utf8.tasks
