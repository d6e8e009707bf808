"""Marking a task done in its file: the smallest edit its grammar reads as done, or None."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from daemon.spec.model import Style, TaskState
from daemon.spec.tasks import parse_tasks
from daemon.spec.tick import mark_done

SPECKIT = "specs/001-demo/tasks.md"
ROOT = "speckit.tasks"
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MANIFEST = SHARED / "corpus" / "MANIFEST.tsv"
PER_FILE = 16  # tasks checked per corpus file: each check parses the file three times


def tick(data: bytes, path: str, key: str) -> bytes | None:
    task = parse_tasks(data, path).task(key)
    assert task is not None, f"{key} is not a task of the input"
    return mark_done(data, path, task)


def assert_only_done(before: bytes, after: bytes, path: str, key: str) -> None:
    """``after`` has the same tasks and digests as ``before``; only ``key`` changed: to done."""
    old, new = parse_tasks(before, path), parse_tasks(after, path)
    assert [t.key for t in new.tasks] == [t.key for t in old.tasks]
    for was, now in zip(old.tasks, new.tasks, strict=True):
        assert now.digest == was.digest, now.key
        if was.key == key:
            assert new.state(now) is TaskState.DONE
        else:
            assert new.state(now) is old.state(was), now.key


CASES = [
    pytest.param(
        SPECKIT,
        "# Tasks\n\n- [ ] T001 One\n- [ ] T009 [P] [US1] Nine\n- [x] T010 Ten\n",
        "T9",
        "# Tasks\n\n- [ ] T001 One\n- [x] T009 [P] [US1] Nine\n- [x] T010 Ten\n",
        id="checklist",
    ),
    pytest.param(
        SPECKIT,
        "- [ ] T001 [approved] One\n  - depends on T000\n- [ ] T002 Two\n",
        "T1",
        "- [x] T001 [approved] One\n  - depends on T000\n- [ ] T002 Two\n",
        id="checklist-approved-tag",
    ),
    pytest.param(
        SPECKIT,
        "- [ ] [approved] T001 One\n- [ ] [P] T002 Two\n",
        "T1",
        "- [x] [approved] T001 One\n- [ ] [P] T002 Two\n",
        id="checklist-tags-before-the-id",
    ),
    pytest.param(
        SPECKIT,
        "* [ ] T001 One\n+ [ ] T002 Two\n1. [ ] T003 Three\n",
        "T3",
        "* [ ] T001 One\n+ [ ] T002 Two\n1. [x] T003 Three\n",
        id="checklist-other-markers",
    ),
    pytest.param(
        SPECKIT,
        "## Tasks\n\n- 16.3.1 [ ] Title one\n- 16.3.2 [ ] Title two\n",
        "16.3.1",
        "## Tasks\n\n- 16.3.1 [x] Title one\n- 16.3.2 [ ] Title two\n",
        id="id-before-checkbox",
    ),
    pytest.param(
        ROOT,
        "### T-002: Implement\n**Status:** approved\n**Spec:** speckit.specify FR-1\n\n"
        "### T-003: Other\nStatus: approved\n",
        "T2",
        "### T-002: Implement\n**Status:** done\n**Spec:** speckit.specify FR-1\n\n"
        "### T-003: Other\nStatus: approved\n",
        id="heading-bold-status",
    ),
    pytest.param(
        ROOT,
        "### T-002: Implement\nStatus: approved\n\n### T-003: Other\nStatus: approved\n",
        "T3",
        "### T-002: Implement\nStatus: approved\n\n### T-003: Other\nStatus: done\n",
        id="heading-plain-status",
    ),
    pytest.param(
        ROOT,
        "### T-001: X\n- **Status**: approved\n- **Spec**: speckit.plan §1\n",
        "T1",
        "### T-001: X\n- **Status**: done\n- **Spec**: speckit.plan §1\n",
        id="heading-bullet-status",
    ),
    pytest.param(
        ROOT,
        "### T-001: X\n*Status:* approved\n_Spec_: speckit.plan §1\n",
        "T1",
        "### T-001: X\n*Status:* done\n_Spec_: speckit.plan §1\n",
        id="heading-italic-status",
    ),
    pytest.param(
        ROOT,
        "### T-001: X\nStatus: **approved**\n\n### T-002: Y\nState: approved\n",
        "T1",
        "### T-001: X\nStatus: done\n\n### T-002: Y\nState: approved\n",
        id="heading-bold-status-value",
    ),
    pytest.param(
        ROOT,
        "### T-001: X\nStatus: approved\n\n### T-002: Y\nState: approved\n",
        "T2",
        "### T-001: X\nStatus: approved\n\n### T-002: Y\nState: done\n",
        id="heading-state-field",
    ),
    pytest.param(
        ROOT,
        "### T-002: Implement\n**Spec:** speckit.specify FR-1\n\n### T-003: Other\n",
        "T2",
        "### T-002: Implement\n\n**Status:** done\n**Spec:** speckit.specify FR-1\n\n"
        "### T-003: Other\n",
        id="heading-without-status",
    ),
    pytest.param(
        ROOT,
        "### T-001: X\n- [ ] step one\n- [ ] step two\n\n### T-002: Y\n",
        "T1",
        "### T-001: X\n\n**Status:** done\n- [ ] step one\n- [ ] step two\n\n### T-002: Y\n",
        id="heading-with-steps",
    ),
    pytest.param(
        ROOT,
        "| ID | Task | Status |\n|---|---|---|\n| T1 | X | approved |\n| T2 | Y | open |\n",
        "T1",
        "| ID | Task | Status |\n|---|---|---|\n| T1 | X | done |\n| T2 | Y | open |\n",
        id="table-status",
    ),
    pytest.param(
        ROOT,
        "| ID | Task | Status |\n|---|---|---|\n| T1 | X |  |\n| T2 | Y | open |\n",
        "T1",
        "| ID | Task | Status |\n|---|---|---|\n| T1 | X | done |\n| T2 | Y | open |\n",
        id="table-empty-status",
    ),
    pytest.param(
        ROOT,
        "| ID | Task | Status | Spec |\n|---|---|---|---|\n| T1 | X | open | §1 |\n"
        "| T2 | Y | open | §2 |\n",
        "T2",
        "| ID | Task | Status | Spec |\n|---|---|---|---|\n| T1 | X | open | §1 |\n"
        "| T2 | Y | done | §2 |\n",
        id="table-status-not-last",
    ),
    pytest.param(
        ROOT,
        "name: demo\ntasks:\n  - id: T1\n    title: First\n    status: todo\n"
        "  - id: T2\n    title: Second\n    status: todo\n",
        "T2",
        "name: demo\ntasks:\n  - id: T1\n    title: First\n    status: todo\n"
        "  - id: T2\n    title: Second\n    status: done\n",
        id="yaml",
    ),
    pytest.param(
        ROOT,
        "Task 1\nTask ID: T1\nTask name: Create the app\nDependencies: none\n",
        "T1",
        "Task 1\nTask ID: T1\nStatus: done\nTask name: Create the app\nDependencies: none\n",
        id="fields",
    ),
]


@pytest.mark.parametrize(("path", "text", "key", "expected"), CASES)
def test_mark_done_makes_the_smallest_edit_of_each_style(path, text, key, expected):
    """Each style gets its own done marker; every other task keeps its digest and state."""
    edited = tick(text.encode(), path, key)
    assert edited is not None
    assert edited.decode() == expected
    assert_only_done(text.encode(), edited, path, key)


@pytest.mark.parametrize(
    ("path", "text", "key"),
    [
        (ROOT, "Tasks\n\n1. Do x\n2. Do y\n3. Do z\n", "1"),
        (ROOT, "# Tasks\n\nTASK-1: Model\n- fields\n\nTASK-2: API\n", "TASK-1"),
        (ROOT, "- **T-202**: Session manager\n- **T-203**: Other\n", "T202"),
        (
            ROOT,
            "name: demo\ntasks:\n  - id: T1\n    title: First\n  - id: T2\n    title: X\n",
            "T1",
        ),
    ],
    ids=["numbered", "plain-line", "bold-bullet", "yaml-without-status"],
)
def test_a_style_without_a_done_marker_is_left_alone(path, text, key):
    """Where the grammar has no way to say done, mark_done returns None."""
    assert tick(text.encode(), path, key) is None


@pytest.mark.parametrize(
    ("path", "text", "key"),
    [
        (SPECKIT, "# T\r\n\r\n- [ ] T001 One\r\n- [ ] T002 Two\r\n", "T1"),
        (ROOT, "### T-1: X\r\nStatus: approved\r\n\r\n### T-2: Y\r\n", "T1"),
        (
            ROOT,
            "tasks:\r\n  - id: T1\r\n    status: todo\r\n  - id: T2\r\n    status: todo\r\n",
            "T2",
        ),
        (ROOT, "| ID | Task | Status |\r\n|---|---|---|\r\n| T1 | X | open |\r\n", "T1"),
        (ROOT, "### T-1: X\r\n**Spec:** speckit.plan §1\r\n\r\n### T-2: Y\r\n", "T1"),
    ],
    ids=["checklist", "heading-status", "yaml", "table", "heading-added-status"],
)
def test_crlf_files_stay_crlf(path, text, key):
    """Every line of a CRLF file still ends in CRLF after the edit, the new one included."""
    edited = tick(text.encode(), path, key)
    assert edited is not None
    assert edited.count(b"\n") == edited.count(b"\r\n")
    assert edited.endswith(b"\r\n")
    assert_only_done(text.encode(), edited, path, key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- [ ] T001 One\n- [ ] T002 Two\n", "- [ ] T001 One\n- [x] T002 Two\n"),
        ("- [ ] T001 One\n- [ ] T002 Two", "- [ ] T001 One\n- [x] T002 Two"),
        ("- [ ] T001 One\n- [ ] T002 Two\n\n\n", "- [ ] T001 One\n- [x] T002 Two\n\n\n"),
    ],
    ids=["trailing-newline", "no-trailing-newline", "blank-lines-at-end"],
)
def test_the_end_of_the_file_is_kept(text, expected):
    """A final newline stays, a missing one is not added, trailing blank lines remain."""
    edited = tick(text.encode(), SPECKIT, "T2")
    assert edited is not None
    assert edited.decode() == expected


def test_a_utf8_bom_is_kept():
    """A byte-order mark at the start survives the edit."""
    data = b"\xef\xbb\xbf- [ ] T001 One\n- [ ] T002 Two\n"
    assert tick(data, SPECKIT, "T2") == b"\xef\xbb\xbf- [ ] T001 One\n- [x] T002 Two\n"


def test_duplicate_ids_tick_only_the_line_of_the_given_task():
    """The parser keeps the first of two equal IDs; only its line is ticked."""
    text = "- [ ] T001 One\n- [ ] T002 Two\n- [ ] T001 One again\n"
    parsed = parse_tasks(text.encode(), SPECKIT)
    [first] = [t for t in parsed.tasks if t.key == "T1"]
    assert first.line == 1
    edited = mark_done(text.encode(), SPECKIT, first)
    assert edited == b"- [x] T001 One\n- [ ] T002 Two\n- [ ] T001 One again\n"


def test_a_task_that_is_already_done_gives_none():
    """A ticked checkbox has no '[ ]' left to tick."""
    assert tick(b"- [x] T001 One\n- [ ] T002 Two\n", SPECKIT, "T1") is None


def test_a_task_from_another_version_of_the_file_ticks_nothing_else():
    """When the task's line now holds another task, that other task is not marked done."""
    stale = parse_tasks(b"- [ ] T001 One\n- [ ] T002 Two\n", SPECKIT).task("T2")
    assert stale is not None
    moved = b"- [ ] T000 Zero\n- [ ] T001 One\n- [ ] T002 Two\n"
    edited = mark_done(moved, SPECKIT, stale)
    if edited is not None:
        assert [t.key for t in parse_tasks(edited, SPECKIT).tasks if t.done] == ["T2"]


@pytest.mark.parametrize(
    "data",
    [
        b"- [ ] T001 Caf\xe9 one\n- [ ] T002 Two\n",  # a stray Latin-1 byte
        "- [ ] T001 One\n- [ ] T002 Two\n".encode("utf-16"),  # UTF-16 with its BOM
    ],
    ids=["invalid-utf8", "utf16"],
)
def test_files_the_parser_reads_never_make_mark_done_raise(data):
    """The parser reads these files; mark_done returns an edit or None, never an exception."""
    edited = tick(data, SPECKIT, "T2")
    if edited is not None:
        assert [t.key for t in parse_tasks(edited, SPECKIT).tasks if t.done] == ["T2"]


def test_mixed_line_endings_are_kept_line_by_line():
    """Only the task's line changes: other lines keep their own LF or CRLF ending."""
    data = b"- [ ] T001 One\r\n- [ ] T002 Two\n- [ ] T003 Three\n"
    assert tick(data, SPECKIT, "T2") == b"- [ ] T001 One\r\n- [x] T002 Two\n- [ ] T003 Three\n"


def _corpus() -> list[dict[str, str]]:
    if not MANIFEST.exists():
        return []
    with MANIFEST.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [row for row in rows if row["file"].startswith("corpus/tasks/")]


CORPUS = _corpus()


def _spread(items: list, count: int) -> list:
    """At most ``count`` items, evenly spread, the first and the last included."""
    if len(items) <= count:
        return items
    step = (len(items) - 1) / (count - 1)
    return [items[round(n * step)] for n in range(count)]


@pytest.mark.skipif(not CORPUS, reason=f"the shared corpus is not here ({MANIFEST} missing)")
@pytest.mark.parametrize("row", CORPUS, ids=[Path(r["file"]).name for r in CORPUS])
def test_open_checklist_tasks_of_the_corpus_can_be_ticked(row):
    """Open checklist tasks of real files tick; the result reads them done, the rest unchanged."""
    data = (SHARED / row["file"]).read_bytes()
    parsed = parse_tasks(data, row["path"])
    open_tasks = [t for t in parsed.tasks if t.style is Style.CHECKLIST and not t.done]
    for task in _spread(open_tasks, PER_FILE):
        edited = mark_done(data, row["path"], task)
        assert edited is not None, f"{task.id} at line {task.line}"
        assert_only_done(data, edited, row["path"], task.key)
