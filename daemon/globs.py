"""Path globs as users write them in settings: ``*``, ``?``, ``[..]``, and ``**`` for any depth."""

from __future__ import annotations

import functools
import re
import unicodedata

from daemon import invisible


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile a ``/``-separated glob; ``**`` matches zero or more whole directories."""
    parts: list[str] = []
    segments = pattern.strip("/").split("/")
    for position, segment in enumerate(segments):
        last = position == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
            continue
        parts.append(_segment(segment) + ("" if last else "/"))
    return re.compile("".join(parts) + r"\Z", re.DOTALL)  # a file name may hold a newline


def _segment(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", index + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = segment[index + 1 : end].replace("\\", "\\\\")
                if body.startswith(("!", "^")):
                    body = "^/" + body[1:]  # a class is one character of a name, never a "/"
                out.append(f"[{body}]")
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def matches(path: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether ``path`` matches any of ``patterns``."""
    return any(compile_glob(pattern).match(path) for pattern in patterns)


def is_literal(segment: str) -> bool:
    """Whether a glob segment has no wildcard."""
    return not any(char in segment for char in "*?[")


def fold(path: str) -> str:
    """``path`` as a case-insensitive, normalising checkout (macOS, Windows) may read it.

    NFKC-normalized, case-folded, invisible formatting characters dropped, and the
    trailing dots and spaces of each name stripped (Windows ignores them).
    """
    text = unicodedata.normalize("NFKC", path).casefold()
    text = invisible.strip(text)
    return "/".join(part.rstrip(". ") for part in text.split("/"))


@functools.lru_cache(maxsize=256)
def _folded(patterns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(fold(pattern) for pattern in patterns)


def matches_loosely(path: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether ``path`` matches ``patterns`` as written or as some checkout would read both.

    For deny-lists (protected and forbidden paths): ``.GitHub/workflows/x.yml`` or
    ``pac\u212aage.json`` is refused like the name it stands for. Allow-lists (the
    write scope) match exactly.
    """
    return matches(path, patterns) or matches(fold(path), _folded(tuple(patterns)))
