"""Names that identify a task's work everywhere (DESIGN §4). Pure.

A job is ``(repo, task key, digest)``; its branch is ``speckitd/<key>--<slug>``; every
pull request and issue body carries :func:`marker`; every commit carries the
``Task`` and ``Speckitd-Digest`` trailers. These let the daemon find what it made,
whatever its local state says.
"""

from __future__ import annotations

import hashlib
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


def key_part(key: str) -> str:
    """The task key as a name part: its slug, unique to the key.

    ``T12`` gives ``t12``. A key the slug does not spell back exactly (``TASK-1.2``
    and ``TASK-1-2`` both slug to ``task-1-2``; long keys are cut) gets a short hash
    of the key, so two tasks never share a branch or a worktree.
    """
    part = slug(key, 20)
    if part.upper() == key:
        return part
    return f"{part}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def branch_name(key: str, title: str) -> str:
    """``speckitd/<key part>--<slug of title>``: a valid, stable git branch name.

    Slugs never hold ``--``, so the key and the title cannot run into each other
    (``T1-2`` + "fix" and ``T1`` + "2 fix" are two branches).
    """
    return f"{BRANCH_PREFIX}{key_part(key)}--{slug(title)}"


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
