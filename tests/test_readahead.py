"""Task-file versions parsed newest first while git walks the history (daemon.readahead)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.detect import Policy
from daemon.errors import RepositoryError
from daemon.git import Repo
from daemon.git.history import FileEntry, Step
from daemon.readahead import Ahead, _Reader, _Walk, read_ahead
from daemon.scan import Parser, Scanner, ScanReport, changed_keys
from daemon.spec.layout import DEFAULT_TASK_FILES
from daemon.spec.tasks import parse_cores
from tests.gitrepo import ALICE, BOB, GitRepo
from tests.spec.corpus_edits import CORPUS, edited

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


@pytest.mark.skipif(not CORPUS.exists(), reason=f"the shared corpus is not here ({CORPUS})")
def test_corpus_files_edited_over_a_history_scan_alike(tmp_path: Path):
    """Real task files edited, marked and named in trailers over 24 commits each (seeded).

    A scan that reads ahead, one that reads nothing ahead and one push at a time
    end with the same approvals; the first two report the same.
    """
    rng = random.Random(11)  # noqa: S311 - reproducible edits, not cryptography
    files = [  # checklists the incremental reading may take (list tasks, no findings)
        file
        for file in sorted(CORPUS.glob("tasks/*"))
        if b"- [ ] T0" in file.read_bytes() and parse_cores(file.read_bytes(), file.name).editable
    ]
    approvals = incremental = 0
    for number, file in enumerate(rng.sample(files, 3)):
        git = GitRepo(tmp_path / str(number))
        data = file.read_bytes()
        lines = data.decode("utf-8").split("\n")
        ids = [core.id for core in parse_cores(data, file.name).cores]
        shas = [git.commit("tasks", {TASKS: data})]
        for turn in range(24):
            author = rng.choice([ALICE, BOB])
            if turn % 6 == 5:
                shas.append(git.commit(f"go\n\nApproved-Tasks: {rng.choice(ids)}", author=author))
                continue
            open_tasks = [i for i, line in enumerate(lines) if line.startswith("- [ ] T")]
            if turn % 2 and open_tasks:  # one task approved by its marker, as a reviewer does
                where = rng.choice(open_tasks)
                task_id, _, title = lines[where].removeprefix("- [ ] ").partition(" ")
                lines[where] = f"- [ ] {task_id} [approved] {title}"
            else:
                lines = edited(rng, lines, copies=False)
            shas.append(git.commit(f"edit {turn}", {TASKS: "\n".join(lines)}, author=author))
        repo = Repo(git.path, DEFAULT_TASK_FILES)
        parser = Parser()
        ahead = Scanner(repo, Policy(), parser).scan(shas[-1])
        incremental += parser.incremental
        not_ahead = Scanner(repo, Policy(), Parser(), prefetch_bytes=0).scan(shas[-1])
        assert outcome(ahead) == outcome(not_ahead), file.name
        pushes = Scanner(repo, Policy(), Parser())
        for old, new in zip([None, *shas[:-1]], shas, strict=True):
            last = pushes.scan(new, old)
        assert last.detector.approvals == ahead.detector.approvals, file.name
        approvals += len(ahead.detector.approvals)
    # Markers and trailers took effect, and many versions were read incrementally:
    # the comparisons are not of nothing.
    assert approvals >= 10
    assert incremental >= 20


def _walked(walk: _Walk, reader: _Reader) -> list[tuple[str, FileEntry | None]]:
    """Run ``walk``, parsing what it hands over as the scan does; the versions handed over."""
    handed = []
    walk.start()
    while (version := walk.versions.get()) is not None:
        handed.append(version)
        reader.parse(*version)
    return handed


class _Log:
    """A walk's log: the given commits, newest first."""

    def __init__(self, *steps: Step) -> None:
        self._steps = steps

    def batches(self, before_reading: Callable[[], None]) -> Iterator[list[Step]]:
        before_reading()  # as git log does before each read
        yield list(self._steps)


def test_the_tip_is_read_first_only_over_the_whole_history(history: GitRepo):
    """A whole walk hands over the tip's versions before the log's; one since a commit does not."""
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    tip = repo.resolve("HEAD")
    newest = FileEntry(history.head(f"HEAD:{TASKS}"), regular=True)
    with repo.blob_stream(direct=True) as blobs:
        reader = _Reader(repo, blobs, 4096, 1 << 20)
        handed = _walked(_Walk(_Log(), reader, tip), reader)  # type: ignore[arg-type]
    # OTHER is over max_bytes at the tip: only TASKS is asked for, and parsed at once.
    assert handed == [(TASKS, newest)]
    assert reader.ahead.full_parses == 1
    _, whole = read_ahead(repo, tip, None, max_bytes=4096, budget=1 << 20)
    assert whole.full_parses + whole.incremental == len(whole.versions)  # each parsed once
    # Since a commit, the tip's files are not asked for: only what the range brings.
    history.commit("docs", {"README.md": "y\n"})
    steps, since = read_ahead(repo, history.head(), tip, max_bytes=4096, budget=1 << 20)
    assert len(steps) == 1
    assert since.versions == {}


def test_a_tip_version_git_log_does_not_confirm_is_not_built_on(history: GitRepo):
    """Should a file's newest change differ from the tip's file, older versions start afresh."""
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    tip = repo.resolve("HEAD")
    newest = history.head(f"HEAD:{TASKS}")
    other = FileEntry(history.head(f"HEAD~1:{TASKS}"), regular=True)
    log = _Log(Step("0" * 40, trailer=False, changes=((TASKS, other),)))
    with repo.blob_stream(direct=True) as blobs:
        reader = _Reader(repo, blobs, 4096, 1 << 20)
        walk = _Walk(log, reader, tip)  # type: ignore[arg-type]
        _walked(walk, reader)
        assert len(walk.steps()) == 1
    assert reader.ahead.full_parses == 2  # the tip's, then this one afresh: no chain from the tip
    assert (TASKS, other.blob, newest) not in reader.ahead.changes
    assert reader.ahead.versions[(TASKS, other.blob)][1] == parse_cores(
        repo.blob(other.blob), TASKS, max_bytes=4096
    )


def test_a_failed_walk_is_raised_where_the_scan_runs(history: GitRepo):
    """A failing git log, read in the walk's thread, is the caller's RepositoryError."""
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    with pytest.raises(RepositoryError, match="git log failed"):
        read_ahead(repo, "0" * 40, "1" * 40, max_bytes=4096, budget=1 << 20)


def test_a_failed_parse_stops_git_and_the_walk(history: GitRepo, monkeypatch: pytest.MonkeyPatch):
    """An error in the parsing thread comes out as is; git and the walk's thread are ended."""

    def fail(self: _Reader, path: str, entry: FileEntry | None) -> None:
        raise RuntimeError("parse failed")

    monkeypatch.setattr(_Reader, "parse", fail)  # the fault: the parser itself breaks
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    with pytest.raises(RuntimeError, match="parse failed"):
        read_ahead(repo, repo.resolve("HEAD"), None, max_bytes=4096, budget=1 << 20)
    assert not [t for t in threading.enumerate() if t.name == "speckitd-log"]


def test_a_walk_ends_when_its_git_is_stopped(history: GitRepo):
    """Should the parsing thread fail, stopping git ends the walk: nothing is left running."""
    repo = Repo(history.path, DEFAULT_TASK_FILES)
    stream = repo.blob_stream(direct=True)
    with stream as blobs, repo.log_stream(repo.resolve("HEAD"), None) as log:
        log.stop()
        walk = _Walk(log, _Reader(repo, blobs, 4096, 1 << 20), None)
        walk.start()
        walk.join(timeout=60)
        assert not walk.is_alive()
        try:  # killed mid-walk, git fails; had it already ended, the walk is whole
            steps: list[Step] | None = walk.steps()
        except RepositoryError:
            steps = None
        assert steps is None or len(steps) == 10


def test_merged_walks_keep_the_bytes_either_kept():
    """A version one walk kept whole and another let go keeps its bytes, whichever comes last."""
    core = parse_cores(b"- [ ] T001 One\n", TASKS)
    kept, let_go = Ahead(), Ahead()
    kept.versions[(TASKS, "a")] = (b"- [ ] T001 One\n", core)
    let_go.versions[(TASKS, "a")] = (None, core)
    let_go.versions[(TASKS, "b")] = (None, core)
    let_go.changes[(TASKS, "b", "a")] = frozenset()
    for first, second in ((kept, let_go), (let_go, kept)):
        merged = Ahead()
        merged.merge(first)
        merged.merge(second)
        assert merged.versions[(TASKS, "a")][0] == b"- [ ] T001 One\n"
        assert merged.versions[(TASKS, "b")] == (None, core)
        assert merged.changes == {(TASKS, "b", "a"): frozenset()}
