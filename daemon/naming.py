"""Names that identify a task's work everywhere (DESIGN §4). Pure.

A job is ``(repo, task key, digest)``; its branch is ``speckitd/<key>-<slug>``; every
pull request and issue body carries :func:`marker`; every commit carries the
``Task`` and ``Speckitd-Digest`` trailers. These let the daemon find what it made,
whatever its local state says.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

BRANCH_PREFIX: Final = "speckitd/"
_MARKER: Final = re.compile(r"<!-- speckitd:task=(\S+) digest=([0-9a-f]{12}) -->")


def slug(text: str, limit: int = 40) -> str:
    """Lowercase ASCII words joined by ``-``, at most ``limit`` characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:limit].rstrip("-") or "task"


def branch_name(key: str, title: str) -> str:
    """``speckitd/<key lowercased>-<slug of title>``: a valid, stable git branch name."""
    return f"{BRANCH_PREFIX}{slug(key, 20)}-{slug(title)}"


def marker(key: str, digest: str) -> str:
    """The hidden marker of a task's pull request or issue."""
    return f"<!-- speckitd:task={key} digest={digest[:12]} -->"


def task_marker_prefix(key: str) -> str:
    """What every marker of ``key`` starts with, whatever the digest."""
    return f"<!-- speckitd:task={key} "


def read_marker(body: str) -> tuple[str, str] | None:
    """The ``(key, digest12)`` of the last marker in ``body`` (ours ends it), or None."""
    found = None
    for found in _MARKER.finditer(body):  # noqa: B007 - the last one is wanted
        pass
    return None if found is None else (found.group(1), found.group(2))
