"""Bytes to lines, with a finding for every way the bytes can be wrong.

Nothing here raises on bad input: a file that is too large or binary yields no
lines and a finding; invalid UTF-8, NUL bytes, a BOM and CRLF line ends are
repaired and (where a reader should know) reported with the line they are on.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Final

from daemon.spec.model import Finding, Severity

MAX_FILE_BYTES: Final = 8 * 1024 * 1024
_SAMPLE: Final = 8000
_TEXT_BYTES: Final = (
    frozenset(b"\t\n\r\f\b") | frozenset(range(0x20, 0x7F)) | frozenset(range(0x80, 0x100))
)


@dataclass(frozen=True, slots=True)
class Document:
    """A file's lines (no line ends) and what decoding found wrong with it."""

    path: str
    lines: tuple[str, ...]
    findings: tuple[Finding, ...] = ()


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _looks_binary(data: bytes) -> bool:
    """Git's heuristic (a NUL early on), tempered so a stray NUL in text is not binary."""
    sample = data[:_SAMPLE]
    if b"\0" not in sample:
        return False
    texty = sum(1 for byte in sample if byte in _TEXT_BYTES)
    return texty < 0.9 * len(sample)


def too_large(path: str, size: int, max_bytes: int) -> Finding:
    """The finding for a file over the size limit (callers may know the size unread)."""
    message = f"file is {_size(size)}, over the {_size(max_bytes)} limit; not parsed"
    return Finding(path, 1, "input.too-large", message, Severity.ERROR)


def _size(count: int) -> str:
    if count >= 1_048_576:
        return f"{count / 1_048_576:.1f} MiB"
    if count >= 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count} bytes"


def split_lines(text: str) -> tuple[str, ...]:
    r"""Split on ``\n`` only (so line numbers match git and editors) and drop ``\r`` ends."""
    parts = text.split("\n")
    if parts and parts[-1] == "":
        parts.pop()
    if "\r" not in text:
        return tuple(parts)
    return tuple(part[:-1] if part.endswith("\r") else part for part in parts)


def decode(data: bytes, path: str, *, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Decode a document, reporting and repairing what is wrong with its bytes."""
    findings: list[Finding] = []
    if len(data) > max_bytes:
        return Document(path, (), (too_large(path, len(data), max_bytes),))
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return _checked(path, _wide(data, "utf-32", path, findings), findings)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _checked(path, _wide(data, "utf-16", path, findings), findings)
    data = data.removeprefix(codecs.BOM_UTF8)
    if _looks_binary(data):
        line = _line_of(data, data.index(b"\0"))
        message = "binary content (NUL bytes among non-text bytes); not parsed"
        return Document(path, (), (Finding(path, line, "input.binary", message, Severity.ERROR),))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = _line_of(data, error.start)
        message = f"invalid UTF-8 (byte 0x{data[error.start]:02x}); replaced with U+FFFD"
        findings.append(Finding(path, line, "input.invalid-utf8", message))
        text = data.decode("utf-8", errors="replace")
    return _checked(path, text, findings)


def _wide(data: bytes, encoding: str, path: str, findings: list[Finding]) -> str:
    """Decode UTF-16/32 text (with its BOM), reporting the line of the first bad code unit."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        line = data[: error.start].decode(encoding, errors="replace").count("\n") + 1
        message = f"invalid {encoding.upper()}; replaced with U+FFFD"
        findings.append(Finding(path, line, "input.invalid-text", message))
        return data.decode(encoding, errors="replace")


def _checked(path: str, text: str, findings: list[Finding]) -> Document:
    """Report NUL characters (whatever the encoding), then split into lines."""
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        findings.append(Finding(path, line, "input.nul", "NUL byte in text; replaced with U+FFFD"))
        text = text.replace("\0", "\ufffd")
    return Document(path, split_lines(text), tuple(findings))
