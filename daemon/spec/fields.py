"""Inline grammar shared by every task style: field lines, tags, status words, paths."""

from __future__ import annotations

import functools
import re
from typing import Final

# `Name: value`, `**Name**: value`, `**Name:** value`, `- **Name**: value`.
_FIELD: Final = re.compile(
    r"\s*(?:[-*+]\s+)?(?P<open>\*\*|__|\*|_)?(?P<name>[A-Za-z][A-Za-z0-9 /()&'-]{0,40}?)"
    r"\s*(?:(?P=open)\s*:|:\s*(?P=open)|:)(?:\s+|$)(?P<value>.*)$"
)
_TAGS: Final = re.compile(r"(?:\s*\[[^\[\]]{1,40}\])+")
_TAG_TEXT: Final = re.compile(r"\[([^\[\]]{1,40})\]")
_STORY: Final = re.compile(r"(?:[A-Z]+-)?(US-?\d{1,9})", re.IGNORECASE)

APPROVED_WORDS: Final = frozenset({"approved"})
HOLD_WORDS: Final = frozenset({"hold", "on hold", "on-hold", "blocked", "draft"})
DONE_WORDS: Final = frozenset(
    {"done", "complete", "completed", "finished", "closed", "implemented", "x"}
)
_DONE_SUFFIX: Final = re.compile(
    r"\((?:done|complete|completed|finished)\)\s*\.?\s*$", re.IGNORECASE
)
_WORDS: Final = re.compile(r"[a-z][a-z -]*[a-z]|[a-z]")


def field(line: str) -> tuple[str, str] | None:
    """Return ``(name, value)`` for a field line; the name lowercased and single-spaced."""
    if ":" not in line:
        return None  # most lines, read here without a call to field_at
    found = field_at(line)
    return None if found is None else (found[0], line[found[1] : found[2]])


def field_at(line: str) -> tuple[str, int, int] | None:
    """A field line's name (as :func:`field` gives it) and where its value starts and ends.

    For an edit of the value in place: ``line[:start] + new + line[end:]`` keeps the
    name, its emphasis and the spacing around the value.
    """
    if ":" not in line:
        return None
    match = _FIELD.match(line)
    if not match:
        return None
    name = " ".join(match.group("name").lower().split())
    value, first = match.group("value"), match.start("value")
    start = first + len(value) - len(value.lstrip())
    return name, start, max(start, first + len(value.rstrip()))


def leading_tags(text: str) -> tuple[tuple[str, ...], str]:
    """Split ``[P] [US1] rest`` into its bracketed tags and the rest."""
    match = _TAGS.match(text)
    if not match:
        return (), text.strip()
    return _tags_in(match.group(0)), text[match.end() :].strip()


def clear_cache() -> None:
    """Forget cached tag runs."""
    _tags_in.cache_clear()


@functools.lru_cache(maxsize=4096)
def _tags_in(run: str) -> tuple[str, ...]:
    """The tags of a run of them (cached: ``[P] [US1]`` starts many tasks of a file)."""
    # The run holds only tags and the space between them, so each bracket pair is one tag.
    return tuple([tag.strip() for tag in _TAG_TEXT.findall(run)])


def stories_of(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Story labels named by tags: ``US1``, ``US1, US2``, ``AUTH-US1`` → ``US1``."""
    found: list[str] = []
    for tag in tags:
        for part in tag.split(","):
            match = _STORY.fullmatch(part.strip())
            if match:
                story = match.group(1).upper().replace("-", "")
                story = f"US{int(story[2:])}"
                if story not in found:
                    found.append(story)
    return tuple(found)


def status_word(value: str) -> str:
    """The status a value states, lowercased, without emphasis, emoji or trailing notes.

    ``✅ done (note)`` → ``done``; ``**Approved**`` → ``approved``; ``⚠️ not yet`` →
    ``not yet``. A value that is only a check mark reads as ``done``.
    """
    text = value.strip().lower().replace("*", "").replace("`", "")
    if "(" in text:
        text = text[: text.index("(")]
    match = _WORDS.search(text)
    if match is None:
        return "done" if "✅" in value or "✔" in value else ""
    return match.group(0).strip()


# What a scan and `speckitd tasks` say of a status that reads as approval and does not count.
UNCLEAR_APPROVAL: Final = "status {!r} is not approval: only the exact word `approved` approves"


def classify_status(value: str) -> str | None:
    """Map a status value to ``approved``, ``held``, ``done`` or None (open or unknown).

    Only the exact word ``approved`` approves: "Ready for Implementation", a
    check mark or "approved for breakdown" never do (DESIGN §3). A check mark
    reads as done, which is the safe side: done tasks never run.
    """
    return read_status(value)[0]


def read_status(value: str) -> tuple[str | None, str]:
    """:func:`classify_status`'s verdict, and ``value`` when it nearly approved (else ``""``).

    ``Approved ✅``, ``approved by Alice``, ``Approved (pending review)``: the status
    starts with the word ``approved`` but more follows, and only the exact word
    approves (DESIGN §3). A scan reports such a status, so that a reviewer who meant
    to approve is told, not ignored in silence.
    """
    word = status_word(value)
    checked = "✅" in value or "✔" in value
    if _leads(word, DONE_WORDS) or (checked and word not in APPROVED_WORDS):
        return "done", ""
    if _leads(word, HOLD_WORDS):
        return "held", ""
    if word in APPROVED_WORDS and value.strip().lower().replace("*", "").strip(" .!") == word:
        return "approved", ""
    return None, " ".join(value.split()) if _leads(word, APPROVED_WORDS) else ""


def _leads(word: str, words: frozenset[str]) -> bool:
    """Whether the status phrase ``word`` is one of ``words`` or starts with one of them.

    ``blocked by T-002``, ``on hold until Monday`` and ``done - merged`` hold or end a
    task as their first words say: the safe side, as neither runs. Approval has no
    such reading (only the exact word approves), and a lone ``x`` leads nothing.
    """
    return word in words or any(word.startswith(f"{w} ") for w in words if w != "x")


def tag_status(tag: str) -> str | None:
    """Map a bracketed tag to ``approved``, ``held`` or ``done`` (or None)."""
    word = tag.strip().lower()
    if word in APPROVED_WORDS:
        return "approved"
    if word in HOLD_WORDS:
        return "held"
    if word in {"done", "complete", "completed", "x"}:
        return "done"
    return None


def done_suffix(title: str) -> bool:
    """Return whether a title ends with ``(DONE)``, ``(Complete)`` or the like."""
    return _DONE_SUFFIX.search(title) is not None


def strip_done_suffix(title: str) -> str:
    """Remove a trailing ``(DONE)``-style note from a title."""
    return _DONE_SUFFIX.sub("", title).strip() if ")" in title else title.strip()


_EXTENSION_WORDS: Final = (
    "py pyi ts tsx js jsx mjs cjs json md mdx yaml yml toml txt cfg ini sql sh bash html htm css "
    "scss go rs java kt kts rb php cs vue svelte lock env xml gradle proto graphql c h cpp hpp "
    "swift dart ex exs razor cshtml csproj sln tf hcl ipynb csv prisma conf"
)
_EXTENSIONS: Final = frozenset(_EXTENSION_WORDS.split())
_BARE_FILES: Final = frozenset(
    {"Dockerfile", "Makefile", "Procfile", "Jenkinsfile", "Containerfile", "CODEOWNERS"}
)
# Path candidates: a token with a slash, or a word with a dotted extension (or a dotfile).
# Not right after a closing bracket or quote: the ``.py`` of ``{name}.py`` is no dotfile.
_PATH_TOKEN: Final = re.compile(
    r"(?<![\w@:/.~{}\])>\"'-])(?:"
    r"(?:\.{0,2}/)?[\w.@-]+(?:/[\w.@\[\]-]+)+/?|[\w.@-]+/"
    r"|[\w@-]*\.[A-Za-z][\w.-]*"
    r")(?![\w{}])"
)
_CODE_SPAN: Final = re.compile(r"`([^`\n]+)`")
_NOT_IN_PATHS: Final = re.compile(r"[ {}<>|*?\"'$=,]")
_URL: Final = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def _as_path(token: str) -> str | None:
    """``token`` as a relative path if it looks like one (extension, known name, or ``/``)."""
    token = token.strip().rstrip(".,;:)").removeprefix("./").lstrip("/")
    if not token or _NOT_IN_PATHS.search(token) or token.startswith("../"):
        return None
    parts = token.rstrip("/").split("/")
    if "//" in token or any(part in {"", ".", ".."} for part in parts):
        return None
    if token.endswith("/"):
        return token
    name = parts[-1]
    stem, dot, ext = name.rpartition(".")
    known = (dot and ext.lower() in _EXTENSIONS) or name in _BARE_FILES
    dotfile = name.startswith(".") and len(name) > 1 and not stem.strip(".")
    nested_file = len(parts) > 1 and bool(dot) and ext.isalnum() and bool(stem)
    return token if known or dotfile or nested_file else None


def path_words(text: str) -> str:
    """The words of ``text`` that hold a ``.`` or ``/``, one space apart.

    A path token holds one or the other and no white space, and what it may touch
    on either side reads white space as a boundary, so these words hold the same
    tokens as the text (a test holds this), and the pattern reads much less.
    """
    return " ".join([word for word in text.split() if "." in word or "/" in word])


def paths_in(text: str) -> tuple[str, ...]:
    """File and directory paths a task names, in order, without duplicates or URLs."""
    found: list[str] = []
    if "." not in text and "/" not in text and not any(name in text for name in _BARE_FILES):
        return ()
    if "://" in text:
        text = _URL.sub(" ", text)
    candidates: list[str] = []
    rest = text
    if "`" in text:
        candidates += _CODE_SPAN.findall(text)
        rest = _CODE_SPAN.sub(" ", text)
    candidates += _PATH_TOKEN.findall(path_words(rest))  # no groups: whole matches
    if any(name in rest for name in _BARE_FILES):
        candidates += [word for word in rest.split() if word.strip(".,;:()") in _BARE_FILES]
    for candidate in candidates:
        for piece in candidate.split():
            path = _as_path(piece)
            if path and path not in found:
                found.append(path)
    return tuple(found)
