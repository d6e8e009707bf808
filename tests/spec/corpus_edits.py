"""Random edits of real task files' lines, for tests that replay them (seeded by the caller)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

# Edits of real task files' lines: markers, rewording, moving, cutting, code and emphasis.
CORPUS_EDITS: list[Callable[[str], str]] = [
    lambda line: line.replace("- [ ]", "- [x]", 1),
    lambda line: line.replace("- [x]", "- [ ]", 1),
    lambda line: line.replace("] ", "] [approved] ", 1),
    lambda line: line.replace("] ", "] [hold] ", 1),
    lambda line: line + " reworded",
    lambda line: line + " (done)",
    lambda line: line + " `x` **y**",
    lambda line: "  " + line,
    lambda line: line.lstrip(),
    lambda line: line.replace("T0", "T9", 1),
    lambda line: line.replace("[", "", 1),
    lambda line: line[: len(line) // 2],
    lambda line: "",
]


def edited(rng: random.Random, lines: list[str], *, copies: bool = True) -> list[str]:
    """``lines`` with one or two lines edited, deleted, or (``copies``) copied in or swapped.

    A copied task line repeats its ID: the file then holds a finding, and every
    later version is parsed in full. A history that means to keep the incremental
    reading at work leaves copies out.
    """
    result = list(lines)
    for _ in range(rng.choice([1, 1, 2])):
        where, action = rng.randrange(len(result)), rng.random()
        if action < 0.6:
            result[where] = rng.choice(CORPUS_EDITS)(result[where])
        elif action < 0.75 and copies:
            result.insert(where, rng.choice(lines))
        elif action < 0.85 or not copies:
            del result[where]
        else:
            result[where] = rng.choice(lines)
    return result
