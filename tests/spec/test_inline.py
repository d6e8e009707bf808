"""The inline grammar's short cuts read exactly what the plain rules read."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.spec import fields
from daemon.spec.fields import leading_tags
from daemon.spec.ids import _ID, _TASK_SEGMENT, is_task_like
from daemon.spec.markdown import plain
from daemon.spec.text import split_lines

_ONE_TAG = re.compile(r"\s*\[([^\[\]]{1,40})\]")


def _tags_one_by_one(text: str) -> tuple[tuple[str, ...], str]:
    """The rule as written: take one bracketed tag at a time off the front."""
    tags: list[str] = []
    while match := _ONE_TAG.match(text):
        tags.append(match.group(1).strip())
        text = text[match.end() :]
    return tuple(tags), text.strip()


def _task_like_by_rule(token: str) -> bool:
    """An ID shape with a digit, one of whose hyphen parts is a task segment."""
    if _ID.fullmatch(token) is None or not any(c.isdigit() for c in token):
        return False
    return any(_TASK_SEGMENT.fullmatch(part) for part in token.upper().split("-"))


TAG_TEXT = st.lists(
    st.sampled_from(["[P]", "[US1]", " [ approved ]", "[hold]", "[", "]", " ", "x", "[]", "[a]b"])
    | st.text(alphabet="[] Pa\t", max_size=6),
    max_size=8,
).map("".join)


@settings(max_examples=2000)
@given(TAG_TEXT)
def test_leading_tags_reads_like_one_tag_at_a_time(text: str) -> None:
    """The one-pass reading of leading tags equals taking them one by one."""
    assert leading_tags(text) == _tags_one_by_one(text)


def test_leading_tags_of_a_task_line() -> None:
    """Tags in front of a title are split off, stripped; the title keeps its own brackets."""
    assert leading_tags("[P] [ US1 ]  Build [x] part") == (("P", "US1"), "Build [x] part")
    assert leading_tags(f"[{'a' * 41}] Title") == ((), f"[{'a' * 41}] Title")


@settings(max_examples=2000)
@given(st.text(alphabet="TASKPUS-0129ab.", max_size=10))
def test_task_ids_read_as_the_rule_says(token: str) -> None:
    """The short cut for T-forms gives the rule's answer for every token."""
    assert is_task_like(token) == _task_like_by_rule(token)


def test_plain_keeps_lone_underscores_and_strips_emphasis() -> None:
    """A lone underscore (common in paths) is text; paired ** and __ are emphasis."""
    assert plain("see backend/app/part_1.py") == "see backend/app/part_1.py"
    assert plain("**bold** and __also__ in a_b") == "bold and also in a_b"


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("", ()),
        ("a", ("a",)),
        ("a\n", ("a",)),
        ("a\r\nb\r\n", ("a", "b")),
        ("a\rb\n", ("a\rb",)),  # a CR inside a line stays
        ("a\r\r\n", ("a\r",)),  # only the CR of the CRLF goes
        ("\n\n", ("", "")),
        ("a\x0cb\n", ("a\x0cb",)),  # a form feed does not end a line
    ],
)
def test_split_lines_ends_lines_at_lf_and_drops_only_a_crlf_cr(text: str, lines: tuple) -> None:
    """Lines end at LF only; a CR just before an LF goes, any other CR stays."""
    assert split_lines(text) == lines


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("in backend/app/x.py and `docs/b.md`", ("docs/b.md", "backend/app/x.py")),
        ("see the Dockerfile, then Makefile.", ("Dockerfile", "Makefile")),
        ("no paths here", ()),
        ("http://host/p.py and ./y.md", ("y.md",)),
        ("../up.py", ()),
    ],
)
def test_paths_in_named_examples(text: str, paths: tuple[str, ...]) -> None:
    """Code spans, path tokens and bare file names; URLs and odd tokens are not paths."""
    assert fields.paths_in(text) == paths


def test_characters_no_path_holds_are_the_listed_ones() -> None:
    """The pattern that refuses a path token matches exactly the characters listed."""
    listed = set(" {}<>|*?\"'$=,")
    for code in range(0x3000):
        char = chr(code)
        assert (fields._NOT_IN_PATHS.search(char) is not None) == (char in listed), repr(char)
