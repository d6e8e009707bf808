"""Hostile documents: inputs that once took quadratic time, and unusual encodings.

No timing assertions: each input is sized so that quadratic work would take minutes
and stall the suite, while linear work takes milliseconds.
"""

from __future__ import annotations

import pytest

from daemon.spec.markdown import heading, plain
from daemon.spec.sections import index_sections
from daemon.spec.tasks import parse_tasks

N = 200_000


@pytest.mark.parametrize(
    "text",
    [
        "- [ ] T001 Title\n  Depends on: " + "a" * N + "\n",
        "- [ ] T001 depends on " + "a-" * N + "!\n",
        "# a" + " " * N + "b\n- [ ] T001 Title\n",
        "- [ ] T001 " + "[a](" * N + "\n",
        "- [ ] T001 " + "<!--" * N + "\n",
        "- [ ] T001 see spec.md §" + "a " * N + "\n",
        "- [ ] T001 " + "**a" * N + "\n",
    ],
    ids=["dep-word", "dep-hyphens", "heading-spaces", "links", "comments", "section-title", "bold"],
)
def test_pathological_lines_parse(text: str) -> None:
    """Lines built to make backtracking patterns quadratic parse, keeping task T001."""
    parsed = parse_tasks(text.encode(), "tasks.md")
    assert [task.id for task in parsed.tasks] == ["T001"]


def test_pathological_headings_index() -> None:
    """A heading padded with spaces is indexed with its text."""
    index = index_sections(("## Title" + " " * N + "##\n").encode(), "spec.md")
    assert [section.title for section in index.sections] == ["Title"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("## Title ##", (2, "Title")),
        ("### T-001: x #", (3, "T-001: x")),
        ("#", (1, "")),
        ("# #", (1, "")),
        ("#hashtag", None),
        ("    # indented code", None),
        ("####### seven", None),
        ("## C# and F#", (2, "C# and F#")),
    ],
)
def test_heading_grammar(line: str, expected: tuple[int, str] | None) -> None:
    """ATX headings: 1-6 hashes, a space, an optional closing run of hashes."""
    assert heading(line) == expected


def test_plain_strips_markup_and_unclosed_comments() -> None:
    """plain() keeps words, drops emphasis, link targets and comments (to the end if unclosed)."""
    assert plain("**Bold** [text](http://x) `code` <!-- hidden --> tail <!-- open") == (
        "Bold text code  tail"
    )


def test_utf16_nul_and_bad_units_are_findings() -> None:
    """UTF-16 text gets the NUL check; an unpaired surrogate is reported with its line."""
    nul = parse_tasks("- [ ] T001 a\x00b\n".encode("utf-16"), "tasks.md")
    assert [(f.code, f.line) for f in nul.findings] == [("input.nul", 1)]
    broken = "- [ ] T001 a\n- [ ] T002 b\n".encode("utf-16-le")
    data = b"\xff\xfe" + broken + b"\x00\xd8" + "\n".encode("utf-16-le")
    parsed = parse_tasks(data, "tasks.md")
    assert [(f.code, f.line) for f in parsed.findings] == [("input.invalid-text", 3)]
    assert [task.id for task in parsed.tasks] == ["T001", "T002"]


def test_utf32_with_bom_decodes() -> None:
    """A UTF-32 byte-order mark is read as UTF-32, not UTF-16."""
    data = "- [ ] T001 a\n".encode("utf-32")
    assert [task.id for task in parse_tasks(data, "tasks.md").tasks] == ["T001"]


def test_size_limit_message_uses_readable_units() -> None:
    """Small limits are reported in bytes or KiB, not as 0.0 MiB."""
    parsed = parse_tasks(b"x" * 3000, "tasks.md", max_bytes=2048)
    assert parsed.findings[0].message == "file is 2.9 KiB, over the 2.0 KiB limit; not parsed"
