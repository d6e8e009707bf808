"""A runner in its own process, for the restart test to kill.

``python -m tests.agent.killable REPO WORKTREE BASE URL TRANSCRIPT``
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from tests.agent.support import run_agent


def main(argv: list[str]) -> int:
    repo, worktree, base, url, transcript = argv
    project = SimpleNamespace(
        repo=SimpleNamespace(path=Path(repo)), worktree=Path(worktree), base=base
    )
    outcome = run_agent(project, url, Path(transcript))  # type: ignore[arg-type]
    print(outcome.ending.value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
