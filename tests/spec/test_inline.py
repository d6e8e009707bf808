"""The inline grammar's short cuts read exactly what the plain rules read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.spec import fields, recognize
from daemon.spec.fields import leading_tags
from daemon.spec.ids import _ID, _TASK_SEGMENT, is_task_like
from daemon.spec.markdown import plain
from daemon.spec.text import split_lines

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
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
        ("{name}.py, (x).py, [a].md, \"\".py and 'q'.ts", ()),  # no ".py" out of a fragment
        ("copy (.env) and a/{b}.ts", (".env",)),
    ],
)
def test_paths_in_named_examples(text: str, paths: tuple[str, ...]) -> None:
    """Code spans, path tokens and bare file names; URLs and odd tokens are not paths."""
    assert fields.paths_in(text) == paths


PATH_TEXT = st.lists(
    st.sampled_from(
        [
            "a",
            "/",
            ".",
            "b.py",
            "x/y",
            "-",
            "@",
            "~",
            ":",
            "{",
            "}",
            "[",
            "]",
            "_",
            "1",
            "é",
            "\u2028",
            "\x1c",
            "\x85",
            "\u00a0",
        ]
    )
    | st.text(alphabet=" \t\n./a-{}:~@", max_size=4),
    max_size=12,
).map("".join)


@settings(max_examples=3000)
@given(PATH_TEXT)
def test_path_tokens_are_found_in_the_words_that_hold_a_dot_or_slash(text: str) -> None:
    """The words paths_in reads hold every path token of the text, in order."""
    assert fields._PATH_TOKEN.findall(fields.path_words(text)) == fields._PATH_TOKEN.findall(text)


def test_characters_no_path_holds_are_the_listed_ones() -> None:
    """The pattern that refuses a path token matches exactly the characters listed."""
    listed = set(" {}<>|*?\"'$=,")
    for code in range(0x3000):
        char = chr(code)
        assert (fields._NOT_IN_PATHS.search(char) is not None) == (char in listed), repr(char)


CHECKLIST_LINES = st.tuples(
    st.sampled_from(["", "  ", "    ", "\t", " "]),
    st.sampled_from(["- ", "-  ", "* ", "1. ", "-\t"]),
    st.sampled_from(["[ ]", "[x]", "[X]", "[-]"]),
    st.sampled_from([" ", "", "  "]),
    st.sampled_from(["T001", "T-001", "T1", "T016b", "T0000000001", "US1", "T12", "T١٢", "T１"]),
    st.lists(
        st.sampled_from(
            [
                " [P]",
                " [US1]",
                " [approved]",
                " [hold]",
                " [x]",
                " [Done]",
                " [a b]",
                " [ P ]",
                "  [P]",
                " [US1, US2]",
            ]
        ),
        max_size=3,
    ).map("".join),
    st.sampled_from([" ", "  ", ": ", " — ", ""]),
    st.lists(
        st.sampled_from(
            [
                "Implement",
                "part_1.py",
                "__init__.py",
                "**bold**",
                "`code`",
                "(done)",
                "[link](x)",
                "<!-- c -->",
                "ü",
                "a:b",
                "x",
                "",
                "\u00a0",
                "T2",
                "—",
            ]
        ),
        max_size=4,
    ).map(" ".join),
    st.sampled_from(["", " ", "\t"]),
).map("".join)


# Lines the short cut reads, bar one tricky word in the title.
NEAR_SPEC_KIT = st.tuples(
    st.sampled_from(
        [
            "- [ ] T001 ",
            "  - [x] T12 [P] ",
            "- [X] T003 [US1] [approved] ",
            "- [ ] T١٢ ",
            "- [ ] T٠٠١ [P] ",
        ]
    ),
    st.lists(st.sampled_from(["Build", "part_1.py", "x"]), min_size=1, max_size=3).map(" ".join),
    st.sampled_from(
        [
            "",
            " __init__.py",
            " **b**",
            " `c`",
            " `",
            "`",
            " (done)",
            " (done).",
            " (x)",
            " [l](x)",
            " <!-- c -->",
            " a:b",
            " ü",
            " \u00a0x",
            "  two",
            " ",
            " [P]",
            " T2",
            " — x",
            " a\\b",
        ]
    ),
).map("".join)


@given(CHECKLIST_LINES | NEAR_SPEC_KIT)
@settings(max_examples=2000)
def test_spec_kit_lines_read_as_the_general_reading_reads_them(line: str) -> None:
    fast = recognize.spec_kit_task(line)
    assert fast is None or fast == recognize.general_list_task(line)


@pytest.mark.parametrize(
    "line",
    [
        "- [ ] T011 [P] [US3] Implement part 11 in backend/app/part_11.py",
        "  - [x] T012 [approved] Ship it",
        "- [X] T013 [P] [Done] Finished",
        "- [ ] T014 Create models in backend/app/models.py",
        "- [ ] T015 Add routes (backend) in app/routes.py (reworded)",
        "- [x] T016 Ship it (done).",
        "- [ ] T017 [P] Ship it (Complete) .",
        "- [ ] T018 [US1] Create `User` model in `backend/app/models.py`",
        "- [ ] T019 Run it `",
        "- [ ] T020 Close it (done`)`",
    ],
)
def test_spec_kit_lines_are_read_at_once(line: str) -> None:
    fast = recognize.spec_kit_task(line)
    assert fast is not None
    assert fast == recognize.general_list_task(line)


def test_ids_with_other_scripts_digits_are_not_task_ids() -> None:
    """A pattern's digit class would take Arabic-Indic or fullwidth digits; task IDs are ASCII."""
    for line in ("- [ ] T١٢ Title", "- [ ] T１ Title", "- [ ] T٠٠١ [P] Build x"):
        assert recognize.spec_kit_task(line) is None
        assert recognize.general_list_task(line) is None


def test_spec_kit_reading_of_every_corpus_line() -> None:
    """Every corpus line the short cut reads, it reads as the general reading does."""
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    read = 0
    for path in sorted(CORPUS.glob("*/*")):
        for line in split_lines(path.read_bytes().decode("utf-8", "replace")):
            fast = recognize.spec_kit_task(line)
            if fast is not None:
                read += 1
                assert fast == recognize.general_list_task(line), (path.name, line)
    assert read > 100  # spec-kit's own task files are in the corpus
