"""Task-file versions parsed newest first while git walks the history (daemon.readahead)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.detect import Policy
from daemon.git import Repo
from daemon.readahead import read_ahead
from daemon.scan import Parser, Scanner, ScanReport, changed_keys
from daemon.spec.layout import DEFAULT_TASK_FILES
from daemon.spec.tasks import parse_cores
from tests.gitrepo import BOB, GitRepo

TASKS = "specs/001-a/tasks.md"
OTHER = "specs/002-b/tasks.md"


def tasks(*states: str) -> str:
    lines = [
        f"- [{'x' if s == 'done' else ' '}] T{n:03d} {s} task {n}" for n, s in enumerate(states)
    ]
    return "# Tasks\n\n## Phase 1\n\n" + "\n".join(lines) + "\n"


@pytest.fixture
def history(tmp_path: Path) -> GitRepo:
    """Versions of two task files: edits, a deletion and re-addition, a symlink, a big one."""
    git = GitRepo(tmp_path / "repo")
    git.commit("start", {TASKS: tasks("open", "open", "open"), OTHER: tasks("open")})
    git.commit("approve", {TASKS: tasks("[approved]", "open", "open")}, author=BOB)
    git.commit("unrelated", {"README.md": "x\n"})
    git.commit("tick", {TASKS: tasks("done", "open", "open"), OTHER: tasks("[approved]")})
    (git.path / OTHER).unlink()
    git.commit("remove other")
    git.commit("back", {OTHER: tasks("[approved]", "open")})
    (git.path / OTHER).unlink()
    (git.path / OTHER).symlink_to("../001-a/tasks.md")
    git.commit("a symlink")
    (git.path / OTHER).unlink()
    git.commit("big", {OTHER: tasks(*["open"] * 400)})  # over the max_bytes used below
    git.commit("restructure", {TASKS: "## Phase 0\n\n" + tasks("done", "[approved]", "open")})
    git.commit("reword", {TASKS: "## Phase 0\n\n" + tasks("done", "[approved]", "reworded")})
    return git


def test_steps_match_the_history_and_versions_match_full_parses(history: GitRepo):
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    tip = repo.resolve("HEAD")
    steps, ahead = read_ahead(repo, tip, None, max_bytes=4096, budget=1 << 20)
    assert steps == repo.history(tip)
    versions = [(path, e.blob) for s in steps for path, e in s.changes if e and e.regular]
    big = history.head(f"HEAD~2:{OTHER}")
    assert set(ahead.versions) == {v for v in versions if v != (OTHER, big)}
    newest = {}
    for path, blob in reversed(versions):
        newest.setdefault(path, blob)
    for (path, blob), (data, core) in ahead.versions.items():
        # Each file's newest version keeps its bytes; older ones let them go once parsed.
        assert data == (repo.blob(blob) if newest[path] == blob else None)
        assert core == parse_cores(repo.blob(blob), path, max_bytes=4096)
    assert ahead.changes  # the edits were read incrementally, each from the newer version
    for (path, older, newer), keys in ahead.changes.items():
        before, after = ahead.versions[(path, older)][1], ahead.versions[(path, newer)][1]
        assert keys == changed_keys(before, after)
    assert ahead.full_parses + ahead.incremental == len(ahead.versions)


def test_a_budget_reads_only_the_newest_versions(history: GitRepo):
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    tip = repo.resolve("HEAD")
    newest = repo.blob_size(history.head(f"HEAD:{TASKS}"))
    _, ahead = read_ahead(repo, tip, None, max_bytes=4096, budget=newest)
    assert list(ahead.versions) == [(TASKS, history.head(f"HEAD:{TASKS}"))]
    steps, nothing = read_ahead(repo, tip, None, max_bytes=4096, budget=0)
    assert nothing.versions == {}
    assert len(steps) == 10


def outcome(report: ScanReport) -> tuple[object, ...]:
    result = report.result
    return (report.commits, result.approved, result.withdrawn, report.tasks, report.files,
            report.findings, report.waiting)  # fmt: skip


@pytest.mark.parametrize("budget", [700, 1 << 20])
def test_the_scan_is_the_same_whatever_is_read_ahead(history: GitRepo, budget: int):
    """Full scans, a resumed one, a fast-forward and a rewind give what no read-ahead gives."""
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    first, middle, tip = (repo.resolve(rev) for rev in ("HEAD~9", "HEAD~4", "HEAD"))

    def scans(prefetch: int) -> list[tuple[object, ...]]:
        scanner = Scanner(repo, Policy(), Parser(max_bytes=4096), prefetch_bytes=prefetch)
        reports = [scanner.scan(middle), scanner.scan(tip, middle), scanner.scan(tip, first)]
        rewind = Scanner(repo, Policy(), Parser(max_bytes=4096), prefetch_bytes=prefetch)
        reports.append(rewind.scan(first, tip))
        return [outcome(report) for report in reports]

    unread = scans(0)  # nothing read ahead: every version read and parsed oldest first
    assert scans(budget) == unread
    full_at_tip = unread[2]  # the third scan ends at the tip, where the big version is
    assert any(f.code == "input.too-large" and f.path == OTHER for f in full_at_tip[5])
