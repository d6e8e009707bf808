"""Real git repositories in temp dirs for tests: git CLI, pinned identities and dates, -b main."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ALICE = ("Alice Approver", "alice@example.com")
BOB = ("Bob Builder", "bob@example.com")
MALLORY = ("Mallory", "mallory@example.com")


class GitRepo:
    """A work tree driven through the git CLI, with deterministic commit times."""

    def __init__(self, path: Path, *, bare: bool = False) -> None:
        self.path = path
        self.clock = 1_700_000_000
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main", *(["--bare"] if bare else []))

    def env(self, author: tuple[str, str]) -> dict[str, str]:
        """The environment of one git call: no global/system config, pinned identity and date."""
        self.clock += 60
        date = f"{self.clock} +0000"
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.path),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": author[0],
            "GIT_COMMITTER_EMAIL": author[1],
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_DATE": date,
        }

    def git(self, *args: str, author: tuple[str, str] = ALICE, stdin: str | None = None) -> str:
        """Run git in the repository and return its stdout."""
        result = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env=self.env(author),
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def attempt(self, *args: str, author: tuple[str, str] = ALICE) -> tuple[int, str]:
        """Run git where it may fail (a hook may refuse): its exit code and all it printed."""
        result = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env=self.env(author),
            capture_output=True,
            text=True,
            check=False,
        )
        return result.returncode, result.stdout + result.stderr

    def write(self, relative: str, content: str | bytes) -> None:
        """Write a file in the work tree (parents created)."""
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")

    def commit(
        self,
        message: str,
        files: dict[str, str | bytes] | None = None,
        *,
        author: tuple[str, str] = ALICE,
    ) -> str:
        """Write ``files``, stage everything and commit (empty commits allowed); return the sha."""
        for relative, content in (files or {}).items():
            self.write(relative, content)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, author=author)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        """The sha of ``rev``."""
        return self.git("rev-parse", rev)
