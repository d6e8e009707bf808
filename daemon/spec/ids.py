"""Task IDs and section labels: their shapes and the keys they compare by.

DESIGN §2: an ID keeps its literal; tasks compare by a key. T-forms (``T-042``,
``T042``, ``T42``) share the key ``T42``; every other scheme is kept as written,
uppercased. Section labels (``FR-001``, ``US-1``, ``DD-001``) compare by a key
without the hyphen and leading zeros (``FR1``, ``US1``, ``DD1``).
"""

from __future__ import annotations

import functools
import re
from typing import Final

# One ID as documents write it: letters then digits, optional hyphenated parts,
# an optional lowercase suffix letter (T016b). It must contain a digit.
ID_PATTERN: Final = r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*[a-z]?"
NUMERIC_PATTERN: Final = r"\d+(?:\.\d+)*"

_ID = re.compile(ID_PATTERN)
_NUMERIC = re.compile(NUMERIC_PATTERN)
_T_FORM = re.compile(r"T-?0*(\d{1,9})")
# A segment that marks an ID as a task's: T, TASK, TSK (alone or with digits).
_TASK_SEGMENT = re.compile(r"(?:T|TASK|TSK)\d*[A-Z]?")
_LABEL = re.compile(r"([A-Z]+)-?0*(\d{1,9})([A-Z]?)")
# The commonest task ID (T012, T-042, T016b): task-like by the rules below, found at once.
_PLAIN_TASK = re.compile(r"T-?\d+[a-z]?")


def is_id(token: str) -> bool:
    """Return whether ``token`` has the shape of an ID (letters, digits, hyphens)."""
    return _ID.fullmatch(token) is not None and any(c.isdigit() for c in token)


def is_numeric_id(token: str) -> bool:
    """Return whether ``token`` is a dotted number such as ``1``, ``1.1`` or ``4.5.2``."""
    return _NUMERIC.fullmatch(token) is not None


def is_task_like(token: str) -> bool:
    """Return whether ``token`` is an ID that names a task by its shape alone.

    ``T001``, ``T-001``, ``T3-01``, ``T016b``, ``TASK-001``, ``TSK001``,
    ``P2-T-001`` and ``T-FIX-001`` do; ``US1``, ``FR-001``, ``M1`` do not. Where
    a document labels an ID explicitly (a ``Task ID`` field, an ``ID`` column,
    the word ``Task``), any ID shape is accepted instead.
    """
    if _PLAIN_TASK.fullmatch(token):
        return True
    if not is_id(token):
        return False
    return any(_TASK_SEGMENT.fullmatch(part) for part in token.upper().split("-"))


@functools.lru_cache(maxsize=16384)
def task_key(literal: str) -> str:
    """Return the key a task ID compares by (DESIGN §2; cached: every block asks often)."""
    text = literal.strip().upper()
    match = _T_FORM.fullmatch(text)
    if match:
        return f"T{int(match.group(1))}"
    return text


def label_key(label: str) -> str:
    """Return the key a section label compares by: ``FR-001`` → ``FR1``, ``US-1`` → ``US1``."""
    text = label.strip().upper()
    match = _LABEL.fullmatch(text)
    if match:
        return f"{match.group(1)}{int(match.group(2))}{match.group(3)}"
    return text


def split_label(label: str) -> tuple[str, int, str] | None:
    """Split a label into prefix, number and suffix letter, or None for other shapes."""
    match = _LABEL.fullmatch(label.strip().upper())
    if not match:
        return None
    return match.group(1), int(match.group(2)), match.group(3)
