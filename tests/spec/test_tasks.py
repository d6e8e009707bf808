"""Task grammar: each style's ID, title, tags, state, references, paths, dependencies and span."""

from __future__ import annotations

import pytest

from daemon.spec.model import Style, TaskState
from daemon.spec.tasks import parse_tasks


def parse(text: str, path: str = "specs/001-demo/tasks.md"):
    return parse_tasks(text.encode(), path)


SPECKIT = """---
description: "Task list"
---

# Tasks: Demo

## Phase 1: Setup

- [ ] T001 Create project structure per plan.md
- [x] T002 [P] Initialize `backend/pyproject.toml`

## Phase 3: User Story 1 - Login (Priority: P1)

- [ ] T012 [P] [US1] [approved] Create User model in backend/app/models/user.py
  - depends on T002 (see spec.md §FR-001)
- [ ] T013 [US1, US2] [hold] Add login route in backend/app/api/auth.py

```bash
- [ ] T099 not a task: inside a fence
```
<!--
- [ ] T098 not a task: inside a comment
-->
"""


def test_speckit_checklist_reads_ids_tags_states_and_spans():
    """spec-kit checklist lines give ID, tags, stories, state, phase and block span."""
    parsed = parse(SPECKIT)
    assert [t.id for t in parsed.tasks] == ["T001", "T002", "T012", "T013"]
    t001, t002, t012, t013 = parsed.tasks
    assert t001.state is TaskState.OPEN
    assert t001.phase == "Phase 1: Setup"
    assert t002.done
    assert t002.parallel
    assert t002.paths == ("backend/pyproject.toml",)
    assert t012.key == "T12"
    assert t012.stories == ("US1",)
    assert t012.tags == ("P", "US1")
    assert t012.state is TaskState.APPROVED
    assert (t012.line, t012.end_line) == (14, 15)
    assert t012.depends_on == ("T2",)
    assert [(r.doc, r.section) for r in t012.refs] == [("spec", "FR-001"), ("spec", "US1")]
    assert t012.paths == ("backend/app/models/user.py",)
    assert t013.state is TaskState.HELD
    assert t013.stories == ("US1", "US2")
    assert t013.phase == "Phase 3: User Story 1 - Login (Priority: P1)"
    assert t001.style is Style.CHECKLIST


def test_markers_count_where_a_reviewer_types_them():
    """Tags before the ID count as if after it; status tags closing the title mark the task.

    A reviewer who types ``[approved]`` just after the checkbox, or ``[hold]`` at the end
    of the line, means it: the line must stay a task and the marker must count. Without
    an ID after the tags a checkbox line is no task, and other closing brackets are title.
    """
    parsed = parse(
        "- [ ] [approved] T010 Approved first\n"
        "- [ ] [P] [US2] T011 Parallel story\n"
        "- [x] [hold] T012 Done and held\n"
        "- [ ] [P] T013 [US1] Tags on both sides\n"
        "- [ ] [Criterion 1]\n"
        "- [ ] [US1] Login page without an ID\n"
        "- [ ] [see](T014) a link, not an ID\n"
        "- [ ] T020 Build the API [hold]\n"
        "- [ ] T021 [P] Build the UI [approved]\n"
        "- [ ] T022 Wire it up [done]\n"
        "- [ ] T023 Show the [approved] badge\n"
        "- [ ] T024 Fix the [P]\n"
        "- [ ] T025 Both [Approved] [blocked]\n"
        "### T-026: A heading task [hold]\n"
    )
    assert [(t.id, t.title, t.tags, t.state) for t in parsed.tasks] == [
        ("T010", "Approved first", (), TaskState.APPROVED),
        ("T011", "Parallel story", ("P", "US2"), TaskState.OPEN),
        ("T012", "Done and held", (), TaskState.DONE),
        ("T013", "Tags on both sides", ("P", "US1"), TaskState.OPEN),
        ("T020", "Build the API", (), TaskState.HELD),
        ("T021", "Build the UI", ("P",), TaskState.APPROVED),
        ("T022", "Wire it up", (), TaskState.DONE),
        ("T023", "Show the [approved] badge", (), TaskState.OPEN),
        ("T024", "Fix the [P]", (), TaskState.OPEN),
        ("T025", "Both", (), TaskState.HELD),
        ("T-026", "A heading task", (), TaskState.HELD),
    ]
    assert parsed.tasks[1].stories == ("US2",)
    assert parsed.tasks[0].style is Style.CHECKLIST


HEADINGS = """# Tasks

## Backend

### T-001: Set up project structure
- **Description**: Create the layout
- **Links**: speckit.plan §4.5, speckit.constitution §5
- [ ] step one is not a task
- [ ] T-050 not a task either: a step of T-001

### T-002: Implement Task model
**Status:** approved
**Spec:** speckit.specify FR-1 / speckit.plan §2.2
**Preconditions:** T-001 completed
**Output:** src/models/task.py

---

### T-003: Done already
Status: done

## Frontend
- [ ] T-004 Build the page
"""


def test_heading_blocks_own_their_steps_and_fields():
    """Heading tasks own lines to the next heading; checkboxes inside are steps; fields apply."""
    parsed = parse(HEADINGS, "speckit.tasks")
    assert [t.id for t in parsed.tasks] == ["T-001", "T-002", "T-003", "T-004"]
    t1, t2, t3, t4 = parsed.tasks
    assert t1.style is Style.HEADING
    assert (t1.line, t1.end_line) == (5, 9)
    assert [(r.doc, r.section) for r in t1.refs] == [("plan", "4.5"), ("constitution", "5")]
    assert t2.state is TaskState.APPROVED
    assert t2.depends_on == ("T1",)
    assert [(r.doc, r.section) for r in t2.refs] == [("spec", "FR-1"), ("plan", "2.2")]
    assert t2.paths == ("src/models/task.py",)
    assert t2.end_line == 15  # the trailing rule and blank lines are not part of the block
    assert t3.state is TaskState.DONE
    assert t4.style is Style.CHECKLIST
    assert t4.phase == "Frontend"


TABLE = """# Tasks

## M1: Foundation

| ID | Task | Deps | Status | Spec Ref |
|----|------|------|--------|----------|
| T001 | Scaffold project | None | ✅ done | REQ-01 |
| T002 | Define types in `src/types.ts` | T001 | approved | speckit.plan §2 |
| T003 | Parser | T001–T002 | hold | |
| **Total** | | | | |

| Phase | Task Count |
|---|---|
| 1 | 10 |
"""


def test_tables_with_an_id_column_are_task_lists():
    """Rows of a table with an ID column are tasks; status, deps and refs come from columns."""
    parsed = parse(TABLE, "speckit.tasks")
    assert [t.id for t in parsed.tasks] == ["T001", "T002", "T003"]
    t1, t2, t3 = parsed.tasks
    assert t1.state is TaskState.DONE
    assert t1.style is Style.TABLE
    assert [(r.doc, r.section) for r in t1.refs] == [(None, "REQ-01")]
    assert t2.state is TaskState.APPROVED
    assert t2.depends_on == ("T1",)
    assert t2.paths == ("src/types.ts",)
    assert t3.state is TaskState.HELD
    assert t3.depends_on == ("T1", "T2")
    assert t1.phase == "M1: Foundation"


def test_status_words_that_are_not_approval_never_approve():
    """'Ready for Implementation', a check mark, or 'approved for X' never approve a task."""
    text = """### T-001: One
Status: Ready for Implementation

### T-002: Two
Status: approved for breakdown

### T-003: Three
Status: ✅
"""
    states = [t.state for t in parse(text, "speckit.tasks").tasks]
    assert states == [TaskState.OPEN, TaskState.OPEN, TaskState.DONE]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("blocked by T-002", TaskState.HELD),
        ("On hold until the API lands", TaskState.HELD),
        ("Draft - needs review", TaskState.HELD),
        ("done - merged in #12", TaskState.DONE),
        ("Closed as a duplicate", TaskState.DONE),
        ("not done", TaskState.OPEN),
        ("unblocked", TaskState.OPEN),
        ("approved by alice", TaskState.OPEN),  # approval stays the exact word
        ("x-platform build", TaskState.OPEN),
    ],
)
def test_a_status_that_starts_with_a_hold_or_done_word_says_so(status: str, state: TaskState):
    """``Status: blocked by T-002`` holds: a reviewer's hold with a reason must still hold."""
    assert [t.state for t in parse(f"### T-001: One\nStatus: {status}\n", "x.md").tasks] == [state]


@pytest.mark.parametrize(
    ("text", "line", "written"),
    [
        ("### T-001: One\nBody\nStatus: Approved ✅\n", 3, "Approved ✅"),
        ("### T-001: One\n**Status**: approved  by Alice\n", 2, "approved by Alice"),
        ("- [ ] T001 One\n  - Status: Approved (pending review)\n", 2, "Approved (pending review)"),
        ("| ID | Task | Status |\n|---|---|---|\n| T1 | One | Approved ✅ |\n", 3, "Approved ✅"),
        ("tasks:\n  - id: T1\n    title: One\n    status: approved for breakdown\n", 4,
         "approved for breakdown"),
    ],
)  # fmt: skip
def test_a_status_that_reads_as_approval_but_is_not_is_a_finding(
    text: str, line: int, written: str
):
    """``Status: Approved ✅`` leaves the task open and says why, on the status line.

    A reviewer who meant to approve is told, at the line they wrote (a table's row).
    """
    parsed = parse(text, "speckit.tasks")
    assert [parsed.state(t) for t in parsed.tasks] == [TaskState.OPEN]
    found = [f for f in parsed.findings if f.code == "tasks.unclear-approval"]
    assert [(f.line, written in f.message) for f in found] == [(line, True)]


@pytest.mark.parametrize(
    "status", ["approved", "**Approved**.", "not approved", "Ready for Implementation", "✅"]
)
def test_a_status_that_approves_or_never_reads_as_approval_is_no_finding(status: str):
    """Only a near miss is reported: the exact word approves, other statuses are quiet."""
    parsed = parse(f"### T-001: One\nStatus: {status}\n", "speckit.tasks")
    assert not [f for f in parsed.findings if f.code == "tasks.unclear-approval"]


@pytest.mark.parametrize(
    "line",
    ["*Status:* on hold", "*Status*: on hold", "_Status_: on hold", "**Status:** on hold"],
)
def test_a_status_field_in_italics_is_a_status_field(line: str):
    """A field name in single emphasis is a field too: ``*Status:* on hold`` holds the task."""
    parsed = parse(f"### T-001: One\n{line}\nBody\n", "speckit.tasks")
    assert [parsed.state(t) for t in parsed.tasks] == [TaskState.HELD]


def test_yaml_task_file_and_front_matter_approval():
    """YAML task lists read id/title/status/depends_on; front matter approves listed tasks."""
    yaml_file = """name: demo
tasks:
  - id: T1
    title: First
    status: done
  - id: T2
    title: Second
    depends_on: [T1]
    files:
      - src/app.py
"""
    parsed = parse(yaml_file, "speckit.tasks")
    assert [(t.id, t.state, t.line, t.end_line) for t in parsed.tasks] == [
        ("T1", TaskState.DONE, 3, 5),
        ("T2", TaskState.OPEN, 6, 10),
    ]
    assert parsed.tasks[1].depends_on == ("T1",)
    assert parsed.tasks[1].paths == ("src/app.py",)
    front = "---\napproved_tasks: [T-002]\n---\n- [ ] T-001 One\n- [ ] T-002 Two\n"
    parsed = parse(front)
    assert [parsed.state(t) for t in parsed.tasks] == [TaskState.OPEN, TaskState.APPROVED]
    everything = "---\nstatus: approved\n---\n- [ ] T-001 One\n- [x] T-002 Two\n"
    parsed = parse(everything)
    assert [parsed.state(t) for t in parsed.tasks] == [TaskState.APPROVED, TaskState.DONE]


@pytest.mark.parametrize("tail", ["", "  - id: T3\n    title: a: b\n"])  # strict YAML, lenient
@pytest.mark.parametrize("key", ["Tasks", "TASKS"])
def test_a_yaml_task_list_key_is_read_in_any_case(key: str, tail: str):
    """``Tasks:`` holds a YAML file's tasks as ``tasks:`` does: read as typed, not missed."""
    text = f"name: demo\n{key}:\n  - ID: T1\n    Status: approved\n  - id: T2\n{tail}"
    parsed = parse(text, "speckit.tasks")
    states = [parsed.state(t) for t in parsed.tasks]
    assert [t.id for t in parsed.tasks] == ["T1", "T2", "T3"][: 2 + bool(tail)]
    assert states[:2] == [TaskState.APPROVED, TaskState.OPEN]


@pytest.mark.parametrize(
    ("front", "states"),
    [
        ("Status: on hold", [TaskState.HELD, TaskState.HELD]),
        ("STATUS: Approved", [TaskState.APPROVED, TaskState.APPROVED]),
        ("Approved-Tasks: T-002", [TaskState.OPEN, TaskState.APPROVED]),
        ("Approved_Tasks: [T-001]", [TaskState.APPROVED, TaskState.OPEN]),
        ("status: hold\nStatus: approved", [TaskState.HELD, TaskState.HELD]),  # exact key wins
    ],
)
def test_front_matter_keys_are_read_as_typed(front: str, states: list[TaskState]):
    """``Status:`` and ``Approved-Tasks:`` are the front matter's ``status``/``approved_tasks``.

    A hold typed with a capital S must hold: read case-sensitively it was ignored.
    """
    parsed = parse(f"---\n{front}\n---\n- [ ] T-001 One\n- [ ] T-002 Two\n")
    assert [parsed.state(t) for t in parsed.tasks] == states


def test_field_blocks_and_plain_id_lines():
    """'Task ID: T1' blocks (with a 'Task 1' label) and 'TASK-1: Title' lines are tasks."""
    text = """PHASE 1: Setup

Task 1
Task ID: T1
Task name: Create the app
Dependencies: none

Task 2
Task ID: T2
Task name: Add config
Dependencies: Task 1
"""
    parsed = parse(text, "speckit.tasks")
    assert [(t.id, t.title, t.depends_on) for t in parsed.tasks] == [
        ("T1", "Create the app", ()),
        ("T2", "Add config", ("T1",)),
    ]
    assert parsed.tasks[0].phase == "PHASE 1: Setup"
    assert parsed.tasks[0].line == 3
    plain = parse("# Tasks\n\nTASK-1: Model\n- fields\n\nTASK-2: API\n", "speckit.tasks")
    assert [(t.id, t.end_line) for t in plain.tasks] == [("TASK-1", 4), ("TASK-2", 6)]


def test_numbered_list_fallback_only_for_a_whole_numbered_file():
    """A file that is one numbered list 1..N reads as tasks; a restarting or minor list does not."""
    whole = "Tasks\n\n1. First (DONE)\n   - detail\n2. Second\n3. Third\n"
    parsed = parse(whole, "speckit.tasks")
    assert [(t.id, t.state) for t in parsed.tasks] == [
        ("1", TaskState.DONE), ("2", TaskState.OPEN), ("3", TaskState.OPEN)
    ]  # fmt: skip
    restarting = "## A\n1. x\n2. y\n## B\n1. z\n2. w\n"
    assert parse(restarting, "speckit.tasks").tasks == ()
    minor = "| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 20 + "1. x\n2. y\n"
    assert parse(minor, "speckit.tasks").tasks == ()


def test_bold_bullets_need_exactly_one_task_id():
    """'- **[COMPLETE] T-201**: ...' is a task; '- **T002, T003**: ...' and labels are not."""
    text = """- **[COMPLETE] T-201**: **Models**: Create `backend/app/db/models.py`
- **T002, T003, T006**: can run in parallel
- **Task ID**: Sequential numbers (T001, T002)
- **T-202**: Session manager
"""
    parsed = parse(text, "speckit.tasks")
    assert [(t.id, t.state) for t in parsed.tasks] == [
        ("T-201", TaskState.DONE), ("T-202", TaskState.OPEN)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("- [ ] T001 Create models", "- [x] T001 Create models"),
        ("- [ ] T001 Create models", "- [ ] T001 [approved] Create models"),
        ("- [ ] T001 Create models", "- [ ] [approved] T001 Create models"),
        ("- [ ] T001 Create models", "- [ ] T001 Create models [hold]"),
        ("- [ ] T001 [hold] Create models", "- [ ] T001 Create models"),
        ("- [ ] T001   Create\tmodels", "- [ ] T001 Create models"),
        ("### T-1: X\nStatus: approved\nBody", "### T-1: X\nBody"),
        ("| T1 | X | open |", "| T1 | X | approved |"),
    ],
)
def test_digest_ignores_markers_and_whitespace(before: str, after: str):
    """Checkbox state, approval/hold markers, status lines and spacing leave the digest alone."""
    header = "| ID | Task | Status |\n|---|---|---|\n" if before.startswith("|") else ""
    a = parse(header + before + "\n").tasks[0]
    b = parse(header + after + "\n").tasks[0]
    assert a.digest == b.digest


def test_digest_changes_with_the_task_text():
    """Editing the words of a task changes its digest."""
    a = parse("- [ ] T001 Create models\n").tasks[0]
    b = parse("- [ ] T001 Create model\n").tasks[0]
    c = parse("- [ ] T001 Create models\n  - in backend/\n").tasks[0]
    assert len({a.digest, b.digest, c.digest}) == 3


def test_t_forms_share_a_key_and_other_schemes_keep_theirs():
    """T-042, T042 and T42 share key T42; TASK-001, P2-T-001, T3-01, T016b keep their own."""
    text = "\n".join(
        f"- [ ] {i} x" for i in ["T-042", "TASK-001", "P2-T-001", "T3-01", "T016b", "T0"]
    )
    keys = [t.key for t in parse(text).tasks]
    assert keys == ["T42", "TASK-001", "P2-T-001", "T3-01", "T016B", "T0"]
    duplicate = parse("- [ ] T-042 first\n- [ ] T42 second\n")
    assert [t.title for t in duplicate.tasks] == ["first"]
    assert [f.code for f in duplicate.findings] == ["tasks.duplicate-id"]


def test_dependency_ranges_and_unknown_ids():
    """'depends on T001-T003' expands in document order; an unknown task ID is a finding."""
    text = "- [ ] T001 a\n- [ ] T002 b\n- [ ] T003 c\n- [ ] T004 d, depends on T001-T003 and T009\n"
    parsed = parse(text)
    assert parsed.tasks[3].depends_on == ("T1", "T2", "T3")
    assert [(f.code, f.line) for f in parsed.findings] == [("tasks.unknown-dependency", 4)]
