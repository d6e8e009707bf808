"""The ``local`` forge, the embedded default: pull requests and issues as files.

Records live under ``<state_dir>/forge/<owner>__<name>/`` as ``pulls/<n>.json`` and
``issues/<n>.json`` (the data) next to ``<n>.md`` (the body, for people), numbered
from one sequence per repository as on GitHub. Writes go through a temporary file
and a rename, under a lock file, so a kill never leaves half a record and two
processes never take the same number. ``speckitd status`` lists them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from daemon.forge.base import Comment, ForgeError, Issue, Permission, PullRequest, Review, State

Kind = Literal["pulls", "issues"]
_KINDS: Final[tuple[Kind, ...]] = ("pulls", "issues")


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


class LocalForge:
    """Pull requests and issues kept in the state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "forge"

    def _dir(self, repo: str, *, create: bool = True) -> Path:
        folder = self.root / repo.replace("/", "__")
        if create:
            for kind in _KINDS:
                (folder / kind).mkdir(parents=True, exist_ok=True)
        return folder

    @contextlib.contextmanager
    def _locked(self, repo: str) -> Iterator[Path]:
        folder = self._dir(repo)
        with (folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def records(self, repo: str, kind: Kind) -> list[dict[str, Any]]:
        """Every record of ``kind``, by number."""
        found: list[dict[str, Any]] = []
        # Reading never creates the repository's folder: `repos()` lists only real ones.
        for path in (self._dir(repo, create=False) / kind).glob("*.json"):
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue  # a record being replaced; the rename makes the new one whole
        return sorted(found, key=lambda record: int(record["number"]))

    def repos(self) -> list[str]:
        """The repositories that have records."""
        if not self.root.is_dir():
            return []
        return sorted(p.name.replace("__", "/", 1) for p in self.root.iterdir() if p.is_dir())

    def _save(self, folder: Path, kind: Kind, record: dict[str, Any]) -> None:
        number = int(record["number"])
        _atomic_write(folder / kind / f"{number}.md", f"# {record['title']}\n\n{record['body']}")
        _atomic_write(folder / kind / f"{number}.json", json.dumps(record, indent=2) + "\n")

    def _next_number(self, folder: Path) -> int:
        counter = folder / "next"
        number = int(counter.read_text()) if counter.exists() else 1
        _atomic_write(counter, str(number + 1))
        return number

    def _load(self, folder: Path, kind: Kind, number: int) -> dict[str, Any]:
        path = folder / kind / f"{number}.json"
        if not path.exists():
            raise ForgeError(f"local forge: no {kind[:-1]} #{number}", status=404)
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def _find_any(self, folder: Path, number: int) -> tuple[Kind, dict[str, Any]]:
        for kind in _KINDS:
            if (folder / kind / f"{number}.json").exists():
                return kind, self._load(folder, kind, number)
        raise ForgeError(f"local forge: no pull request or issue #{number}", status=404)

    @staticmethod
    def _pull(record: dict[str, Any]) -> PullRequest:
        return PullRequest(
            number=int(record["number"]),
            url=str(record["url"]),
            head=str(record["head"]),
            base=str(record["base"]),
            title=str(record["title"]),
            body=str(record["body"]),
            state=record["state"],
            merged=bool(record.get("merged", False)),
            draft=bool(record.get("draft", False)),
        )

    @staticmethod
    def _issue(record: dict[str, Any]) -> Issue:
        return Issue(
            int(record["number"]),
            str(record["url"]),
            str(record["title"]),
            str(record["body"]),
            record["state"],
        )

    def find_pull(self, repo: str, head: str) -> PullRequest | None:
        """The newest pull request from ``head``."""
        found = [r for r in self.records(repo, "pulls") if r["head"] == head]
        return self._pull(found[-1]) if found else None

    def open_pull(
        self, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> PullRequest:
        """Record a new pull request; one open pull request per head, as on GitHub."""
        with self._locked(repo) as folder:
            pulls = self.records(repo, "pulls")
            if any(r["head"] == head and r["state"] == "open" for r in pulls):
                raise ForgeError(
                    f"local forge: a pull request already exists for {head}",
                    status=422,
                    exists=True,
                )
            number = self._next_number(folder)
            record = {
                "number": number,
                "url": str(folder / "pulls" / f"{number}.md"),
                "head": head,
                "base": base,
                "title": title,
                "body": body,
                "state": "open",
                "merged": False,
                "draft": draft,
                "labels": [],
                "reviewers": [],
                "comments": [],
            }
            self._save(folder, "pulls", record)
        return self._pull(record)

    def update_pull(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: State | None = None,
    ) -> PullRequest:
        """Change a pull request."""
        with self._locked(repo) as folder:
            record = self._load(folder, "pulls", number)
            for key, value in (("title", title), ("body", body), ("state", state)):
                if value is not None:
                    record[key] = value
            self._save(folder, "pulls", record)
        return self._pull(record)

    def mark_merged(self, repo: str, number: int) -> PullRequest:
        """Record that the pull request's branch was merged (people merge locally)."""
        with self._locked(repo) as folder:
            record = self._load(folder, "pulls", number)
            record.update(state="closed", merged=True)
            self._save(folder, "pulls", record)
        return self._pull(record)

    def find_issue(self, repo: str, marker: str) -> Issue | None:
        """The newest issue whose body holds ``marker``."""
        found = [r for r in self.records(repo, "issues") if marker in r["body"]]
        return self._issue(found[-1]) if found else None

    def open_issue(self, repo: str, *, title: str, body: str, labels: Sequence[str] = ()) -> Issue:
        """Record a new issue."""
        with self._locked(repo) as folder:
            number = self._next_number(folder)
            record = {
                "number": number,
                "url": str(folder / "issues" / f"{number}.md"),
                "title": title,
                "body": body,
                "state": "open",
                "labels": sorted({"speckitd", *labels}),
                "comments": [],
            }
            self._save(folder, "issues", record)
        return self._issue(record)

    def update_issue(
        self, repo: str, number: int, *, body: str | None = None, state: State | None = None
    ) -> Issue:
        """Change an issue."""
        with self._locked(repo) as folder:
            record = self._load(folder, "issues", number)
            for key, value in (("body", body), ("state", state)):
                if value is not None:
                    record[key] = value
            self._save(folder, "issues", record)
        return self._issue(record)

    def comments(self, repo: str, number: int) -> list[Comment]:
        """The comments of a record, oldest first."""
        _, record = self._find_any(self._dir(repo, create=False), number)
        return [Comment(int(c["id"]), str(c["author"]), str(c["body"])) for c in record["comments"]]

    def comment(self, repo: str, number: int, body: str) -> Comment:
        """Add a comment by speckitd."""
        with self._locked(repo) as folder:
            kind, record = self._find_any(folder, number)
            made = Comment(len(record["comments"]) + 1, "speckitd", body)
            record["comments"].append({"id": made.id, "author": made.author, "body": body})
            self._save(folder, kind, record)
        return made

    def add_labels(self, repo: str, number: int, labels: Sequence[str]) -> None:
        """Add labels."""
        with self._locked(repo) as folder:
            kind, record = self._find_any(folder, number)
            record["labels"] = sorted({*record.get("labels", []), *labels})
            self._save(folder, kind, record)

    def request_review(self, repo: str, number: int, reviewers: Sequence[str]) -> None:
        """Note who should review."""
        with self._locked(repo) as folder:
            record = self._load(folder, "pulls", number)
            record["reviewers"] = sorted({*record.get("reviewers", []), *reviewers})
            self._save(folder, "pulls", record)

    def permission(self, repo: str, user: str) -> Permission:
        """Anyone who can push to the local repository may write."""
        return "write"

    def reviews(self, repo: str, number: int) -> list[Review]:
        """Local pull requests have no reviews."""
        return []
