"""The agent's file tools, confined to one git worktree.

:class:`Workspace` backs ``str_replace_based_edit_tool`` (Anthropic's text editor:
``view``, ``create``, ``str_replace``, ``insert``) and ``search_code`` (DESIGN §5).
The agent is adversarial (DESIGN §9, test plan §6.6): every path goes through
:mod:`daemon.agent.paths` — relative, no ``..``, never ``.git``, never through a
symbolic link, resolved fd-relative so a link swapped in later is still refused —
reads may go anywhere else in the worktree, and writes only where ``write_scope``
allows and ``protected`` does not. Mistakes raise :class:`ToolError`, whose message
goes back to the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeGuard, TypeVar

import regex

from daemon.agent.paths import (
    ToolError,
    contents,
    directory,
    listing,
    opened,
    portable,
    read,
    read_fd,
    root_fd,
    split,
    walk,
    write_file,
)
from daemon.globs import matches, matches_loosely

__all__ = ["Limits", "ToolError", "Workspace"]

BINARY_SNIFF: Final = 8192
MAX_PATTERN: Final = 500
MAX_LINE: Final = 300
_COMMANDS: Final = ("view", "create", "str_replace", "insert")
_KINDS: Final = {"str": "a string", "int": "an integer"}
_T = TypeVar("_T", str, int)


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits of the file tools, in bytes or characters."""

    max_read_bytes: int = 512 * 1024
    max_write_bytes: int = 256 * 1024
    max_view_chars: int = 60_000
    max_matches: int = 200
    max_search_bytes: int = 8 * 1024 * 1024  # total bytes scanned by one search
    search_seconds: float = 5.0  # wall time of one search, backtracking included


class Workspace:
    """File tools over the worktree at ``root``; writes limited to ``write_scope`` globs."""

    def __init__(
        self,
        root: Path,
        *,
        write_scope: tuple[str, ...],
        protected: tuple[str, ...] = (),
        limits: Limits = Limits(),
    ) -> None:
        self.root = Path(root).resolve(strict=True)
        self.write_scope = write_scope
        self.protected = protected
        self.limits = limits

    def edit(self, command: Mapping[str, object]) -> str:
        """Run one ``str_replace_based_edit_tool`` call given its input; the tool's text result."""
        name = command.get("command")
        if name == "undo_edit":
            raise ToolError("undo_edit is not supported; use str_replace to revert a change")
        if name not in _COMMANDS:
            raise ToolError(f"unknown command {name!r}; use one of {', '.join(_COMMANDS)}")
        path = _field(command, "path", str)
        if name == "view":
            view_range = command.get("view_range")
            if view_range is not None and not _is_range(view_range):
                raise ToolError("view_range must be two integers [start, end]")
            return self.view(path, view_range)
        if name == "create":
            return self.create(path, _field(command, "file_text", str))
        if name == "str_replace":
            new_str = _field(command, "new_str", str, "")
            return self.str_replace(path, _field(command, "old_str", str), new_str)
        key = "insert_text" if "insert_text" in command else "new_str"
        return self.insert(path, _field(command, "insert_line", int), _field(command, key, str))

    def view(self, path: str, view_range: Sequence[int] | None = None) -> str:
        """A file's lines numbered like ``cat -n``, or a directory's listing two levels deep."""
        parts = split(path, allow_root=True)
        shown = "/".join(parts) or "."
        with (
            root_fd(self.root) as root,
            directory(root, parts[:-1]) as parent,
            opened(parent, parts[-1] if parts else ".", shown) as (fd, status),
        ):
            if stat.S_ISDIR(status.st_mode):
                if view_range is not None:
                    raise ToolError("view_range applies to files, not directories")
                if not (rows := listing(fd, f"{shown}/" if parts else "")):
                    return f"{shown}/ is empty"
                return f"{shown}/ up to 2 levels deep (directories end in /, links in @):\n" + (
                    self._fit(rows, lambda kept: f"[{len(rows) - kept} more: view a subdirectory]")
                )
            limit = self.limits.max_read_bytes * (1 if view_range is None else 8)
            hint = "" if view_range else "; view a part of it with view_range [start, end]"
            data = read_fd(fd, status, limit, shown, hint)
        if b"\x00" in data[:BINARY_SNIFF]:
            raise ToolError(f"{shown} is a binary file; the tools show text only")
        return self._numbered(shown, _lines(data.decode("utf-8", "replace")), view_range)

    def create(self, path: str, file_text: str) -> str:
        """Create or overwrite a file (and its missing parent directories) in the write scope."""
        parts = split(path)
        shown = self._writable(parts)
        data = self._encode(file_text, shown)
        with root_fd(self.root) as root, directory(root, parts[:-1], create=True) as parent:
            existed = write_file(parent, parts[-1], data, shown)
        return f"{'overwrote' if existed else 'created'} {shown} ({_count(_lines(file_text))})"

    def str_replace(self, path: str, old_str: str, new_str: str) -> str:
        """Replace the one occurrence of ``old_str`` in a file with ``new_str``."""
        if not old_str:
            raise ToolError("old_str is empty; give the exact text to replace")
        parts = split(path)
        shown = self._writable(parts)
        with self._editing(parts, shown) as (text, crlf, save):
            old, new = (_lf(old_str), _lf(new_str)) if crlf else (old_str, new_str)
            starts = _occurrences(text, old)
            if not starts:
                raise ToolError(
                    f"no match for old_str in {shown}; view the file and copy the text "
                    "exactly, including whitespace and indentation"
                )
            lines = [text.count("\n", 0, start) + 1 for start in starts]
            if len(starts) > 1:
                raise ToolError(
                    f"old_str occurs {len(starts)} times in {shown} (at lines "
                    f"{', '.join(map(str, lines[:20]))}); include more surrounding lines "
                    "so that it matches exactly once"
                )
            save(text[: starts[0]] + new + text[starts[0] + len(old) :])
        return f"edited {shown}: replaced 1 occurrence at line {lines[0]}"

    def insert(self, path: str, insert_line: int, insert_text: str) -> str:
        """Insert ``insert_text`` after line ``insert_line`` of a file (0 inserts at the top)."""
        if not insert_text:
            raise ToolError("insert_text is empty")
        parts = split(path)
        shown = self._writable(parts)
        with self._editing(parts, shown) as (text, crlf, save):
            lines = _lines(text)
            if not 0 <= insert_line <= len(lines):
                raise ToolError(
                    f"insert_line {insert_line} is outside {shown}, which has {len(lines)} "
                    f"lines; use 0 to {len(lines)}"
                )
            added = _lf(insert_text) if crlf else insert_text
            added += "" if added.endswith("\n") else "\n"
            head = "".join(line + "\n" for line in lines[:insert_line])
            tail = text[len(head) :]
            if head and not text.startswith(head):  # the last line had no newline
                tail = ""
            save(head + added + tail)
        return f"edited {shown}: inserted {_count(_lines(added))} after line {insert_line}"

    def search(self, pattern: str, glob: str | None = None) -> str:
        """``search_code``: lines matching a Python regex, as ``path:line: text``, by path.

        ``glob`` limits the files with :mod:`daemon.globs` patterns; one without ``/``
        also matches file names at any depth, and a directory matches what it contains.
        Binary files, files over the read limit, ``.git`` and links are skipped.
        """
        if len(pattern) > MAX_PATTERN:
            raise ToolError(f"pattern is longer than {MAX_PATTERN} characters")
        try:
            compiled = regex.compile(pattern)
        except (regex.error, OverflowError, RecursionError, ValueError) as error:
            raise ToolError(f"invalid regular expression {pattern!r}: {error}") from None
        # A pattern can backtrack for ever: the regex module stops it at a deadline, and
        # releases the GIL meanwhile (concurrent=True), so the daemon keeps running.
        deadline = time.monotonic() + self.limits.search_seconds
        globs = _globs(glob) if glob else ()
        limit, budget = self.limits.max_read_bytes, self.limits.max_search_bytes
        hits: list[str] = []
        more = 0
        stopped = ""
        with (
            root_fd(self.root) as root,
            contextlib.closing(
                contents(root, lambda path: not globs or matches(path, globs), limit, budget)
            ) as found,
        ):
            for path, data in found:
                if data is None:
                    stopped = f"\n[search stopped after {budget} bytes; narrow it with a glob]"
                    break
                if b"\x00" in data[:BINARY_SNIFF]:
                    continue
                for number, line in enumerate(_lines(data.decode("utf-8", "replace")), 1):
                    found_line = _search(compiled, line := _bare(line), deadline)
                    if found_line is None:
                        raise ToolError(
                            f"the search took longer than {self.limits.search_seconds:g} s; "
                            "use a simpler pattern or a narrower glob"
                        )
                    if not found_line:
                        continue
                    if len(hits) < self.limits.max_matches:
                        hits.append(f"{path}:{number}: {_cut(line)}")
                    else:
                        more += 1
        more_note = f"\n… {more} more; narrow the pattern or glob" if more else ""
        return ("\n".join(hits) if hits else "no matches") + more_note + stopped

    def fingerprint(self, path: str) -> str:
        """A digest of a file's bytes ("absent" when there is none), for replay checks."""
        parts = split(path)
        shown = "/".join(parts)
        try:
            with root_fd(self.root) as root, directory(root, parts[:-1]) as parent:
                data = read(parent, parts[-1], self.limits.max_write_bytes * 8, shown)
        except ToolError:
            return "absent"
        return hashlib.sha256(data).hexdigest()

    def files(self, scope: tuple[str, ...] | None = None) -> list[str]:
        """Every regular file (sorted relative paths; no ``.git``, no links), within ``scope``."""
        with root_fd(self.root) as root, contextlib.closing(walk(root)) as found:
            return [path for path, _, _ in found if scope is None or matches(path, scope)]

    def _writable(self, parts: tuple[str, ...]) -> str:
        """The path as text, if the agent may write it."""
        shown = "/".join(parts)
        portable(parts, shown)
        if matches_loosely(shown, self.protected):
            raise ToolError(f"{shown} is a protected file; the agent may not change it")
        if not matches(shown, self.write_scope):
            scope = ", ".join(self.write_scope[:10]) or "nothing"
            raise ToolError(f"{shown} is outside this task's write scope ({scope})")
        return shown

    def _encode(self, text: str, shown: str) -> bytes:
        if "\0" in text:  # a NUL makes git (and the gates) take the file for binary
            raise ToolError(f"the text for {shown} holds a NUL character; write text only")
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolError(f"the text for {shown} is not valid Unicode") from None
        if len(data) > self.limits.max_write_bytes:
            raise ToolError(
                f"{shown} would be {len(data)} bytes, over the "
                f"{self.limits.max_write_bytes}-byte limit for one file"
            )
        return data

    @contextlib.contextmanager
    def _editing(
        self, parts: tuple[str, ...], shown: str
    ) -> Iterator[tuple[str, bool, Callable[[str], None]]]:
        """An existing text file's content (CRLF turned into LF), and a function to save it."""
        with root_fd(self.root) as root, directory(root, parts[:-1]) as parent:
            data = read(parent, parts[-1], self.limits.max_read_bytes, shown)
            if b"\x00" in data[:BINARY_SNIFF]:
                raise ToolError(f"{shown} is a binary file; the tools edit text only")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ToolError(f"{shown} is not UTF-8 text; editing it would corrupt it") from None
            crlf = "\r\n" in text and text.count("\r\n") == text.count("\n")

            def save(new: str) -> None:
                out = new.replace("\n", "\r\n") if crlf else new
                write_file(parent, parts[-1], self._encode(out, shown), shown)

            yield (_lf(text) if crlf else text), crlf, save

    def _numbered(self, shown: str, lines: list[str], view_range: Sequence[int] | None) -> str:
        """Lines numbered like ``cat -n``, restricted to ``view_range``."""
        if not lines:
            return f"{shown} is empty"
        start, end = 1, len(lines)
        if view_range is not None:
            start, end = view_range[0], view_range[1]
            if start < 1 or start > len(lines) or (end != -1 and end < start):
                raise ToolError(
                    f"invalid view_range [{start}, {end}]: {shown} has {len(lines)} lines; "
                    "give 1 <= start <= end, or end = -1 for the rest of the file"
                )
            end = len(lines) if end == -1 else min(end, len(lines))
        rows = [f"{n:6}\t{_bare(lines[n - 1])}" for n in range(start, end + 1)]
        return self._fit(
            rows,
            lambda kept: (
                f"[truncated after line {start + kept - 1} of {len(lines)}; "
                f"see more with view_range [{start + kept}, {end}]]"
            ),
        )

    def _fit(self, rows: list[str], note: Callable[[int], str]) -> str:
        """``rows`` joined, cut to ``max_view_chars`` and ``note(rows kept)`` appended if cut."""
        budget = self.limits.max_view_chars
        kept: list[str] = []
        used = 0
        for row in rows:
            used += len(row) + 1
            if used > budget:
                break
            kept.append(row)
        else:
            return "\n".join(rows)
        if not kept:
            kept = [rows[0][:budget] + "…"]
        return "\n".join([*kept, note(len(kept))])


def _search(compiled: regex.Pattern[str], line: str, deadline: float) -> bool | None:
    """Whether ``line`` matches; None when the deadline passed first."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    try:
        return compiled.search(line, timeout=left, concurrent=True) is not None
    except TimeoutError:
        return None


def _field(
    command: Mapping[str, object], key: str, kind: type[_T], default: _T | None = None
) -> _T:
    """A field of a tool input, of type ``kind``; required unless it has a default."""
    value = command.get(key, default)
    if value is None:
        raise ToolError(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ToolError(f"{key} must be {_KINDS[kind.__name__]}")
    return value


def _is_range(value: object) -> TypeGuard[Sequence[int]]:
    """Whether ``value`` is a list of two integers."""
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    )


def _lines(text: str) -> list[str]:
    """The lines of ``text`` without their newline; a final newline starts no extra line."""
    if not text:
        return []
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()
    return lines


def _count(lines: list[str]) -> str:
    return f"{len(lines)} line{'' if len(lines) == 1 else 's'}"


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _occurrences(text: str, old: str) -> list[int]:
    """Where ``old`` starts in ``text``, overlapping occurrences included."""
    starts: list[int] = []
    start = text.find(old)
    while start >= 0:
        starts.append(start)
        start = text.find(old, start + 1)
    return starts


def _bare(line: str) -> str:
    return line.removesuffix("\r")


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[:MAX_LINE] + "…"


def _globs(glob: str) -> tuple[str, ...]:
    """The patterns a ``search_code`` glob stands for (see :meth:`Workspace.search`)."""
    if "\x00" in glob or len(glob) > MAX_PATTERN:
        raise ToolError(f"invalid glob {glob[:80]!r}")
    body = glob.strip("/")
    return (body, f"{body}/**", *(() if "/" in body else (f"**/{body}",)))
