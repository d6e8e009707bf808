"""Incremental reading equals a full parse, for every edit it accepts."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.spec.incremental import common_prefix, common_suffix, update
from daemon.spec.markdown import rescan, scan
from daemon.spec.tasks import parse_cores, parse_tasks, parse_tasks_at
from daemon.spec.text import decode
from tests.spec.corpus_edits import CORPUS, edited

LINES = st.sampled_from(
    [
        "- [ ] T{n:03d} Build part {n} in backend/app/p{n}.py",
        "- [x] T{n:03d} Done part {n}",
        "- [ ] T{n:03d} [P] [US1] [approved] Approved part {n}",
        "- [ ] T{n:03d} [hold] Held part {n}",
        "- **T{n:03d}**: Bold part {n}",
        "  - [ ] T{n:03d} Nested part {n}",
        "    - [x] T{n:03d} Deeper part {n}",
        "lazy continuation {n}",
        "  - depends on T001",
        "  - detail line {n}",
        "  Status: approved",
        "",
        "## Phase {n}",
        "plain prose {n}",
        "```",
        "<!-- note -->",
        "| a | b |",
        "---",
        "1. numbered {n}",
    ]
)


# What list-task files hold between their tasks (no structure the fast paths refuse).
LIST_LINES = st.sampled_from(
    [
        "  - [ ] T1{n:02d} Nested part {n}",
        "  - depends on T001",
        "  - detail line {n}",
        "  Status: approved",
        "lazy continuation {n}",
        "    indented text {n}",
        "",
        "- **T2{n:02d}**: Bold part {n}",
    ]
)


@st.composite
def documents(draw: st.DrawFn, between: st.SearchStrategy[str] = LINES) -> list[str]:
    lines = ["# Tasks", ""]
    for n in range(draw(st.integers(1, 25))):
        mark = draw(st.sampled_from(" x"))  # open or ticked: edits may tick or un-tick
        lines.append(f"- [{mark}] T{n + 1:03d} Task {n + 1}")
        lines += [draw(between).format(n=n + 1) for _ in range(draw(st.integers(0, 2)))]
    return lines


@st.composite
def edits(draw: st.DrawFn, lines: list[str]) -> list[str]:
    edited = list(lines)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.integers(0, len(edited)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "mark", "tick"]))
        if action == "insert" or not edited or where == len(edited):
            edited.insert(where, draw(LINES).format(n=draw(st.integers(1, 40))))
        elif action == "delete":
            del edited[where]
        elif action == "mark":
            edited[where] = (
                edited[where].replace("] T", "] T", 1).replace(" Task", " [approved] Task", 1)
            )
        elif action == "tick":
            edited[where] = edited[where].replace("- [ ]", "- [x]", 1)
        else:
            edited[where] = draw(LINES).format(n=draw(st.integers(1, 40)))
    return edited


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_update_equals_full_parse(data: st.DataObject) -> None:
    """Whenever update() accepts an edit, its result equals parsing the new bytes in full."""
    lines = data.draw(documents())
    ending = data.draw(st.sampled_from(["\n", "\r\n"]))
    last = data.draw(st.sampled_from([ending, ""]))  # with or without a final line end
    old = (ending.join(lines) + last).encode()
    new = (ending.join(data.draw(edits(lines))) + last).encode()
    previous = parse_cores(old, "tasks.md")
    # update() counts lines from either end of the bytes: one line end per line (bar the last).
    assert old.count(b"\n") == len(previous.kinds) - (0 if old.endswith(b"\n") else 1)
    result = update(previous, old, new)
    full = parse_cores(new, "tasks.md")
    if result is None:
        return
    core, changed = result
    assert core == full
    before = {c.key: c for c in previous.cores}
    assert changed == {c.key for c in full.cores if before.get(c.key) != c}


def test_typical_edits_are_incremental() -> None:
    """Approving, ticking and rewording a task, or adding a detail line, take the fast path."""
    lines = [f"- [ ] T{n:03d} Task {n}" for n in range(1, 51)]
    old = ("# Tasks\n\n" + "\n".join(lines) + "\n").encode()
    previous = parse_cores(old, "tasks.md")
    for before, after in [
        ("T010 Task", "T010 [approved] Task"),
        ("- [ ] T020", "- [x] T020"),
        ("Task 30\n", "Task 30 reworded\n"),
        ("Task 40\n", "Task 40\n  - in backend/app/x.py\n"),
    ]:
        new = old.replace(before.encode(), after.encode(), 1)
        result = update(previous, old, new)
        assert result is not None, before
        assert result[0] == parse_cores(new, "tasks.md")
        assert len(result[1]) == 1


def test_wide_encodings_take_the_full_parse() -> None:
    """UTF-16 bytes hold line ends other than newline bytes: update() leaves them alone."""
    text = "# Tasks\n\n" + "".join(f"- [ ] T{n:03d} Task {n}\n" for n in range(1, 30))
    edited = text.replace("T020 Task", "T020 [approved] Task")
    for old, new in [
        (text.encode("utf-16"), edited.encode()),  # the old version is wide
        (text.encode(), edited.encode("utf-16")),  # the new one is
    ]:
        previous = parse_cores(old, "tasks.md")
        assert previous.editable  # the case is reachable: the guard, not a finding, refuses
        assert update(previous, old, new) is None
    # Without a BOM, UTF-16 reads as binary: no core pass to build on at all.
    assert not parse_cores(text.encode("utf-16-le"), "tasks.md").editable


def test_structural_edits_fall_back() -> None:
    """Edits that touch headings, fences or the set of tasks return None (a full parse)."""
    old = b"# Tasks\n\n- [ ] T001 a\n- [ ] T002 b\n"
    previous = parse_cores(old, "tasks.md")
    for new in [
        old.replace(b"- [ ] T002 b\n", b"## Phase 2\n- [ ] T002 b\n"),
        old.replace(b"- [ ] T002 b\n", b"- [ ] T002 b\n- [ ] T003 c\n"),
        old.replace(b"- [ ] T001 a\n", b"```\n- [ ] T001 a\n"),
    ]:
        assert update(previous, old, new) is None


def test_a_copy_of_a_task_line_in_code_is_not_the_task() -> None:
    """A task's line found by its key stands for itself only where no code can copy it."""
    for opener, closer in ((b"```", b"```"), (b"<!--", b"-->")):
        task = b"# Tasks\n\n- [ ] T001 One\n\n"
        old = task + opener + b"\n- [ ] T001 One\n" + closer + b"\n"
        new = task + opener + b"\n- [x] T001 One\n" + closer + b"\n"  # only the copy ticked
        previous = parse_cores(old, "tasks.md")
        assert previous.editable
        result = update(previous, old, new)
        assert result is None or result == (parse_cores(new, "tasks.md"), frozenset())
    # Where the file has no code, the task's own line is found by its key: the same result.
    old = b"# Tasks\n\n- [ ] T001 One\n  - detail\n\n## Phase 2\n\n- [ ] T002 Two\n"
    new = old.replace(b"- [ ] T002", b"- [x] T002")
    result = update(parse_cores(old, "tasks.md"), old, new)
    assert result is not None
    assert result == (parse_cores(new, "tasks.md"), frozenset({"T2"}))


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_common_prefix_and_suffix(a: bytes, b: bytes) -> None:
    """The binary searches find the longest common prefix and suffix."""
    p = common_prefix(a, b)
    assert a[:p] == b[:p]
    assert p == min(len(a), len(b)) or a[p : p + 1] != b[p : p + 1]
    s = common_suffix(a, b, min(len(a), len(b)))
    assert a[len(a) - s :] == b[len(b) - s :]
    assert (
        s == min(len(a), len(b)) or a[len(a) - s - 1 : len(a) - s] != b[len(b) - s - 1 : len(b) - s]
    )


def _equal_at(data: bytes, path: str, only: set[str]) -> None:
    core = parse_cores(data, path)
    assert parse_tasks_at(core, data, only=only) == parse_tasks(data, path, only=only)
    lines = decode(data, path).lines
    if core.editable:  # the structure rebuilt from the core pass's kinds is the scanned one
        assert rescan(lines, core.kinds) == scan(lines, path)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_details_from_the_core_pass_equal_a_full_parse(data: st.DataObject) -> None:
    """parse_tasks_at, which re-reads only the wanted blocks, equals parse_tasks."""
    lines = data.draw(documents())
    lines += [draw.format(n=7) for draw in data.draw(st.lists(LINES, max_size=3))]
    raw = ("\n".join(lines) + "\n").encode()
    keys = [c.key for c in parse_cores(raw, "tasks.md").cores] + ["T999"]
    _equal_at(raw, "tasks.md", set(data.draw(st.lists(st.sampled_from(keys), max_size=6))))


@pytest.mark.skipif(not CORPUS.exists(), reason=f"the shared corpus is not here ({CORPUS})")
def test_details_from_the_core_pass_on_the_corpus() -> None:
    """On every corpus file, for all its tasks and for every other one."""
    windowed = 0
    for file in sorted(CORPUS.glob("*/*")):
        if not file.is_file():
            continue
        data = file.read_bytes()
        core = parse_cores(data, file.name)
        keys = [c.key for c in core.cores]
        windowed += core.editable and bool(keys)
        _equal_at(data, file.name, set(keys))
        _equal_at(data, file.name, set(keys[::2]))
    assert windowed >= 20  # list-task files, where only the wanted blocks are re-read


TASK_LINE_EDITS = st.sampled_from(
    [
        lambda line: line.replace("- [ ]", "- [x]", 1),
        lambda line: line.replace("- [x]", "- [ ]", 1),
        lambda line: line.replace(" Task", " [approved] Task", 1),
        lambda line: line.replace(" Task", " [hold] Task", 1),
        lambda line: line + " reworded",
        lambda line: "  " + line,  # now nested under the task above
        lambda line: line.replace("T0", "T9", 1),  # another ID
        lambda line: line.replace("- [ ] ", "- ", 1),  # no longer a checkbox
        lambda line: line.replace("Task", "<!-- Task", 1),
        lambda line: line.replace("Task", "`Task", 1),
        lambda line: line.replace("- ", "# ", 1),
        lambda line: line.replace("- ", "| ", 1),
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.data())
def test_in_place_edits_of_a_task_line_equal_a_full_parse(data: st.DataObject) -> None:
    """One task's first line rewritten in place (the commonest edit): update() equals a parse."""
    lines = data.draw(documents(LIST_LINES))
    starts = [i for i, line in enumerate(lines) if line.startswith("- [")]
    where = data.draw(st.sampled_from(starts))
    edited = list(lines)
    edited[where] = data.draw(TASK_LINE_EDITS)(lines[where])
    old = ("\n".join(lines) + "\n").encode()
    new = ("\n".join(edited) + "\n").encode()
    previous = parse_cores(old, "tasks.md")
    result = update(previous, old, new)
    full = parse_cores(new, "tasks.md")
    if result is not None:
        assert result[0] == full
        before = {c.key: c for c in previous.cores}
        assert result[1] == {c.key for c in full.cores if before.get(c.key) != c}


@pytest.mark.skipif(not CORPUS.exists(), reason=f"the shared corpus is not here ({CORPUS})")
def test_edits_of_the_corpus_files_equal_a_full_parse() -> None:
    """Seeded random edits of every corpus file update() may read: each one it takes equals a parse.

    The generated documents above hold a few line shapes; these are real files, with
    their own headings, notes, emphasis and line ends.
    """
    rng = random.Random(20261127)  # noqa: S311 - reproducible edits, not cryptography
    taken = 0
    for file in sorted(CORPUS.glob("*/*")):
        data = file.read_bytes()
        previous = parse_cores(data, file.name) if file.is_file() else None
        if previous is None or not previous.editable:
            continue
        lines = data.decode("utf-8").split("\n")  # editable: the bytes decoded cleanly
        before = {c.key: c for c in previous.cores}
        for _ in range(20):
            new = "\n".join(edited(rng, lines)).encode()
            result = update(previous, data, new)
            if result is None:
                continue
            taken += 1
            full = parse_cores(new, file.name)
            assert result[0] == full, file.name
            assert result[1] == {c.key for c in full.cores if before.get(c.key) != c}, file.name
    assert taken >= 200  # the fast paths took a good share of the edits


def test_a_structure_rebuilt_from_kinds_keeps_front_matter_and_headings() -> None:
    """Front matter, headings with closing hashes, and fenced lines come back as scanned."""
    text = "---\ntitle: x\n---\n# Tasks ##\n\n## Phase 1\n\n- [ ] T001 One\n```\n# not\n```\n"
    lines = decode(text.encode(), "tasks.md").lines
    core = parse_cores(text.encode(), "tasks.md")
    assert core.editable
    assert rescan(lines, core.kinds) == scan(lines, "tasks.md")
    assert rescan(lines, core.kinds).front == (0, 2)


def test_an_edit_that_makes_the_file_a_yaml_task_list_is_read_in_full() -> None:
    """A file is Markdown until a YAML task list parses; where YAML may read it, edits reread it.

    A first content line ``key:`` makes a file one YAML may read: any edit below can
    complete a task list. Otherwise only an edit from that first line up can.
    """
    old = b"tasks:\n- [ ] T2 short\n"
    previous = parse_cores(old, "tasks.md")
    assert [c.id for c in previous.cores] == ["T2"]
    assert not previous.editable
    cases = [
        (old, old + b"  - id: T001\n"),
        (b"note\n- id: T001\n- [ ] T2 short\n", b"tasks:\n- id: T001\n- [ ] T2 short\n"),
        (b"# T\nnote\ntasks:\n  - id: T001\n- [ ] T2 short\n",
         b"# T\n\ntasks:\n  - id: T001\n- [ ] T2 short\n"),
    ]  # fmt: skip
    for before, after in cases:
        assert [c.id for c in parse_cores(after, "tasks.md").cores] == ["T001"]
        result = update(parse_cores(before, "tasks.md"), before, after)
        assert result is None or result[0] == parse_cores(after, "tasks.md")


def test_core_facts_are_the_full_tasks_facts() -> None:
    """Each TaskCore (made positionally, for speed) holds its full Task's facts, field by field."""
    data = (
        b"# Tasks\n\n- [ ] T001 [approved] Open one\n- [x] T002 Done one\n"
        b"- [ ] T003 [hold] Held one\n  Status: approved\n- [ ] T004 [P] Plain one\n"
    )
    documents = [data] + [p.read_bytes() for p in sorted(CORPUS.glob("*/*")) if p.is_file()]
    for document in documents:
        cores = parse_cores(document, "tasks.md").cores
        tasks = parse_tasks(document, "tasks.md").tasks
        fields = ("id", "key", "title", "digest", "done", "approved", "held")
        assert [tuple(getattr(c, f) for f in fields) for c in cores] == [
            tuple(getattr(t, f) for f in fields) for t in tasks
        ]
    flags = [(c.done, c.approved, c.held) for c in parse_cores(data, "tasks.md").cores]
    expected = [(False, True, False), (True, False, False), (False, False, True)]
    assert flags == [*expected, (False, False, False)]
