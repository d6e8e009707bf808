"""Detection on real git repositories: who approved what, in which commit, what was withdrawn."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from daemon.detect import Policy, Reason, Signal, SignatureStatus
from daemon.git import Repo
from daemon.scan import Parser, Scanner, ScanReport
from daemon.spec.layout import DEFAULT_TASK_FILES
from tests.gitrepo import ALICE, BOB, MALLORY, GitRepo

TASKS = "specs/001-todo/tasks.md"


def tasks_md(*lines: str) -> str:
    return "# Tasks: Todo\n\n## Phase 1: Setup\n\n" + "\n".join(lines) + "\n"


OPEN = tasks_md("- [ ] T001 Create models in backend/app/models.py", "- [ ] T002 Add routes")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    git = GitRepo(tmp_path / "repo")
    git.commit("tasks", {TASKS: OPEN})
    return git


def scan(
    git: GitRepo,
    old: str | None = None,
    new: str = "HEAD",
    *,
    approvers: tuple[str, ...] = (),
    parser: Parser | None = None,
    **policy: object,
) -> ScanReport:
    repo = Repo(git.path, DEFAULT_TASK_FILES)
    rules = Policy(frozenset(approvers), **policy)  # type: ignore[arg-type]
    scanner = Scanner(repo, rules, parser or Parser())
    return scanner.scan(repo.resolve(new), repo.resolve(old) if old else None)


def approved(report: ScanReport) -> list[tuple[str, str, str, str]]:
    return [(a.task_id, a.commit, a.approver.email, str(a.signal)) for a in report.result.approved]


@pytest.mark.parametrize("marked", ["T001 [approved] Create", "[approved] T001 Create"])
def test_marker_added_in_a_commit_is_newly_approved(repo: GitRepo, marked: str):
    """Adding [approved] to a task line approves it at that commit, by that commit's author.

    The marker may follow the ID or precede it; either way the task keeps its digest.
    """
    base = repo.head()
    text = OPEN.replace("T001 Create", marked)
    sha = repo.commit("approve T001", {TASKS: text}, author=BOB)
    report = scan(repo, base)
    assert approved(report) == [("T001", sha, BOB[1], "marker")]
    assert report.runnable == report.result.approved
    assert report.result.withdrawn == ()
    assert report.result.ignored == ()
    before = scan(repo, new=base).files[TASKS].task("T1")
    assert before is not None
    assert report.result.approved[0].digest == before.digest
    # The next scan from the new tip reports nothing again.
    assert approved(scan(repo, sha)) == []


def test_approval_by_trailer(repo: GitRepo):
    """An 'Approved-Tasks:' trailer approves the named tasks as they are at that commit."""
    base = repo.head()
    sha = repo.commit("Approve setup\n\nApproved-Tasks: T-001, T002")
    report = scan(repo, base)
    assert approved(report) == [
        ("T001", sha, ALICE[1], "trailer"),
        ("T002", sha, ALICE[1], "trailer"),
    ]
    digest = report.tasks[(TASKS, "T1")].digest
    assert report.result.approved[0].digest == digest


def test_a_misspelled_approval_trailer_is_reported_not_obeyed(repo: GitRepo):
    """``Approved-Task: T001`` (singular) approves nothing, and says so; other keys are quiet."""
    base = repo.head()
    typo = repo.commit("Approve setup\n\nApproved-Task: T001", author=BOB)
    repo.commit("Review\n\nApproved-By: Alice <alice@example.com>")
    report = scan(repo, base)
    assert report.result.approved == ()
    assert [(i.commit, i.item, i.author.email) for i in report.result.ignored] == [
        (typo, "Approved-Task: T001", BOB[1])
    ]
    assert "spelled otherwise" in report.result.ignored[0].reason


def test_an_approval_trailer_git_does_not_read_is_reported_not_obeyed(repo: GitRepo):
    """``Approved-Tasks: T001`` with prose in its paragraph is no trailer to git: reported.

    So is ``Approved tasks: T002`` (no trailer key has a space). Neither approves.
    """
    base = repo.head()
    prose = repo.commit("Approve\n\nApproved-Tasks: T001\nThanks Bob for the review.")
    spaced = repo.commit("Approve\n\nApproved tasks: T002\n", author=BOB)
    report = scan(repo, base)
    assert report.result.approved == ()
    ignored = [(i.commit, i.item, i.author.email) for i in report.result.ignored]
    assert ignored == [
        (prose, "Approved-Tasks: T001", ALICE[1]),
        (spaced, "Approved tasks: T002", BOB[1]),
    ]
    reasons = [i.reason for i in report.result.ignored]
    assert "last paragraph" in reasons[0]
    assert "spelled otherwise" in reasons[1]


def test_a_status_that_almost_approves_is_reported_once_where_it_is_written(repo: GitRepo):
    """``Status: Approved ✅`` approves nothing, and the scan says so once, at its commit.

    Rewording the task keeps the same status: not reported again. Held, it is not
    reported (it would not run either way) until the hold is lifted; the exact word
    then approves.
    """
    base = repo.head()
    unclear = OPEN.replace("T002 Add routes", "T002 Add routes\n  - Status: Approved ✅")
    typed = repo.commit("approve T002?", {TASKS: unclear}, author=BOB)
    repo.commit("reword", {TASKS: unclear.replace("Add routes", "Add the routes")})
    report = scan(repo, base)
    assert report.result.approved == ()
    assert [
        (i.commit, i.item, i.author.email, i.signal, i.path) for i in report.result.ignored
    ] == [(typed, "T002", BOB[1], Signal.MARKER, TASKS)]
    assert "'Approved ✅' is not approval" in report.result.ignored[0].reason

    middle = repo.head()
    held = unclear.replace("Add routes", "Add the routes [hold]")
    repo.commit("hold", {TASKS: held})
    lifted = repo.commit("lift", {TASKS: held.replace(" [hold]", "")})
    exact = repo.commit("approve", {TASKS: held.replace(" [hold]", "").replace(" ✅", "")})
    report = scan(repo, middle)
    assert [(i.commit, i.item) for i in report.result.ignored] == [(lifted, "T002")]
    assert approved(report) == [("T002", exact, ALICE[1], "marker")]


def _raw_commit(
    git: GitRepo, message: bytes, files: dict[str, str] | None = None, *, encoding: str = ""
) -> str:
    """A commit git's porcelain would not write: a NUL in its message, or another encoding."""
    for path, text in (files or {}).items():
        git.write(path, text)
    git.git("add", "-A")
    tree, parent = git.git("write-tree").strip(), git.head()
    ident = f"{ALICE[0]} <{ALICE[1]}> 1700000000 +0000"
    header = f"tree {tree}\nparent {parent}\nauthor {ident}\ncommitter {ident}\n"
    header += f"encoding {encoding}\n" if encoding else ""
    argv = ["git", "-C", str(git.path), "hash-object", "-t", "commit", "--literally", "-w"]
    body = header.encode() + b"\n" + message
    run = subprocess.run([*argv, "--stdin"], input=body, capture_output=True, check=True)
    sha = run.stdout.decode().strip()
    git.git("update-ref", "HEAD", sha)
    return sha


def test_a_commit_git_log_shows_no_trailer_in_has_none(repo: GitRepo):
    """The scan leaves a commit unread when git log shows no trailer in it: it must hold none.

    Checked on the messages where git log and the commit as libgit2 reads it could
    differ: a NUL (both stop there), a declared encoding (git log converts the message,
    so any encoding but UTF-8 counts as a possible trailer), case.
    """
    repo.commit("plain", {TASKS: OPEN.replace("Add routes", "Add the routes")})
    repo.commit("Approve\n\nAPPROVED-TASKS: T001")
    repo.commit("approved-tasks: T002")  # a message that is a trailer alone
    _raw_commit(repo, b"Approve\0\n\nApproved-Tasks: T001\n", {TASKS: OPEN})
    _raw_commit(repo, b"Approve\0\n\nApproved-Tasks: T002\n")
    # Declared EBCDIC: git log converts the message to nothing it can show; libgit2 reads it raw.
    _raw_commit(repo, b"Go\n\nApproved-Tasks: T001\n", encoding="IBM037")
    git = Repo(repo.path, DEFAULT_TASK_FILES)
    steps = git.history(git.resolve("HEAD"))
    assert [step.trailer for step in steps] == [False, False, True, True, False, False, True]
    for step in steps:
        commit = git.commit(step.sha)
        assert step.trailer or (commit.approved_items, commit.unread) == ((), ()), step
    assert git.commit(steps[-1].sha).approved_items == ("T001",)


def test_a_scan_reads_only_the_commits_that_approve(repo: GitRepo, monkeypatch: pytest.MonkeyPatch):
    """Commits that change the task file but approve nothing are never read (pygit2)."""
    base = repo.head()
    edits = [OPEN.replace("Add routes", f"Add routes, take {n}") for n in range(4)]
    for n, text in enumerate(edits):
        repo.commit(f"edit {n}", {TASKS: text})
    marked = repo.commit(
        "approve", {TASKS: edits[-1].replace("T001 Create", "T001 [approved] Create")}
    )
    trailer = repo.commit("Go\n\nApproved-Tasks: T002")
    read: list[str] = []
    commit = Repo.commit

    def counted(self: Repo, sha: str, **options: object) -> object:
        read.append(sha)
        return commit(self, sha, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(Repo, "commit", counted)
    assert [a.commit for a in scan(repo, base).result.approved] == [marked, trailer]
    assert sorted(read) == sorted([marked, trailer])
    read.clear()  # with approvers named, every commit that may approve is asked who wrote it
    assert len(scan(repo, base, approvers=(ALICE[1],)).result.approved) == 2
    assert sorted(read) == sorted([marked, trailer])


def test_approval_by_front_matter(repo: GitRepo):
    """Front matter 'status: approved' approves every open task; approved_tasks lists some."""
    base = repo.head()
    listed = "---\napproved_tasks: [T002]\n---\n" + OPEN
    sha = repo.commit("approve T002", {TASKS: listed})
    assert approved(scan(repo, base)) == [("T002", sha, ALICE[1], "frontmatter")]
    everything = "---\nstatus: approved\n---\n" + OPEN.replace("[ ] T002", "[x] T002")
    sha2 = repo.commit("approve all", {TASKS: everything})
    report = scan(repo, base)
    assert approved(report) == [("T001", sha2, ALICE[1], "frontmatter")]
    assert [(w.approval.task_id, w.reason) for w in scan(repo, sha).result.withdrawn] == [
        ("T002", Reason.DONE)
    ]


def test_unauthorized_approver_is_ignored_and_logged(repo: GitRepo):
    """An approval by someone not in approval.approvers never runs; it is logged with the reason."""
    base = repo.head()
    marked = OPEN.replace("T001 Create", "T001 [approved] Create")
    sha = repo.commit("approve", {TASKS: marked}, author=MALLORY)
    trailer = repo.commit("also\n\nApproved-Tasks: T002", author=MALLORY)
    with capture_logs() as logs:
        report = scan(repo, base, approvers=(ALICE[1],))
    assert report.result.approved == ()
    assert [(i.commit, i.item, str(i.signal)) for i in report.result.ignored] == [
        (sha, "T001", "marker"),
        (trailer, "T002", "trailer"),
    ]
    assert all("not in approval.approvers" in i.reason for i in report.result.ignored)
    events = [e for e in logs if e["event"] == "approval.ignored"]
    assert [(e["commit"], e["item"], e["log_level"]) for e in events] == [
        (sha, "T001", "warning"),
        (trailer, "T002", "warning"),
    ]
    # A later commit by an approver that does not touch the task does not adopt Mallory's marker.
    repo.commit("unrelated", {"README.md": "hi"}, author=ALICE)
    assert scan(repo, base, approvers=(ALICE[1],)).result.approved == ()


def test_edit_withdraws_and_reapproval_gives_a_new_digest(repo: GitRepo):
    """Editing an approved task withdraws its approval; re-approving binds the new digest."""
    marked = OPEN.replace("T001 Create", "T001 [approved] Create")
    first = repo.commit("approve", {TASKS: marked}, author=ALICE)
    edited = marked.replace("backend/app/models.py", "backend/app/db/models.py")
    edit = repo.commit("edit", {TASKS: edited}, author=MALLORY)
    report = scan(repo, first, approvers=(ALICE[1],))
    assert report.result.approved == ()
    (withdrawal,) = report.result.withdrawn
    assert (withdrawal.approval.commit, withdrawal.commit) == (first, edit)
    assert withdrawal.reason is Reason.UNAUTHORIZED
    reapprove = repo.commit("ok\n\nApproved-Tasks: T001", author=ALICE)
    again = scan(repo, edit, approvers=(ALICE[1],))
    assert approved(again) == [("T001", reapprove, ALICE[1], "trailer")]
    assert again.result.approved[0].digest != withdrawal.approval.digest
    # With no approver list, the author of an edit that keeps the marker re-approves it at once.
    open_policy = scan(repo, first)
    assert approved(open_policy) == [("T001", edit, MALLORY[1], "marker")]
    assert [w.reason for w in open_policy.result.withdrawn] == [Reason.EDITED]


def test_hold_wins_over_approval(repo: GitRepo):
    """A held task is never approved, and holding an approved task withdraws it."""
    base = repo.head()
    both = OPEN.replace("T001 Create", "T001 [approved] [hold] Create")
    repo.commit("approve and hold", {TASKS: both})
    assert scan(repo, base).result.approved == ()
    marked = OPEN.replace("T002 Add", "T002 [approved] Add")
    approve = repo.commit("approve T002", {TASKS: marked})
    held = repo.commit(
        "hold T002", {TASKS: marked.replace("[approved] Add", "[approved] [hold] Add")}
    )
    report = scan(repo, approve)
    assert [(w.approval.task_id, w.commit, w.reason) for w in report.result.withdrawn] == [
        ("T002", held, Reason.HELD)
    ]
    trailer = repo.commit("try\n\nApproved-Tasks: T002")
    ignored = scan(repo, held).result.ignored
    assert [(i.commit, i.reason) for i in ignored] == [(trailer, "task is held")]


def test_a_hold_at_the_end_of_the_line_withdraws_too(repo: GitRepo):
    """``- [ ] T002 [approved] Add routes [hold]`` is held: a hold at the line's end counts."""
    marked = OPEN.replace("T002 Add", "T002 [approved] Add")
    approve = repo.commit("approve T002", {TASKS: marked})
    held = repo.commit("hold T002", {TASKS: marked.replace("Add routes", "Add routes [hold]")})
    report = scan(repo, approve)
    assert [(w.approval.task_id, w.commit, w.reason) for w in report.result.withdrawn] == [
        ("T002", held, Reason.HELD)
    ]
    assert report.files[TASKS].task("T2") is not None


def test_done_tasks_never_run(repo: GitRepo):
    """A done task is not approved by a marker, a trailer or front matter."""
    base = repo.head()
    done = OPEN.replace("- [ ] T001 Create", "- [x] T001 [approved] Create")
    repo.commit("done", {TASKS: "---\nstatus: approved\n---\n" + done})
    repo.commit("approve\n\nApproved-Tasks: T001")
    report = scan(repo, base)
    assert [a.task_id for a in report.result.approved] == ["T002"]
    assert [i.reason for i in report.result.ignored] == ["task is done"]


def test_fifty_commit_push_attributes_each_approval(repo: GitRepo):
    """In a push of 50 commits where the task file changes in 5, each approval names its commit."""
    base = repo.head()
    ids = [f"T{n:03d}" for n in range(1, 6)]
    lines = [f"- [ ] {i} Task {i}" for i in ids]
    repo.commit("more tasks", {TASKS: tasks_md(*lines)})
    expected = {}
    for n in range(49):
        if n % 10 == 5:
            task = ids[n // 10]
            lines = [line.replace(f"{task} Task", f"{task} [approved] Task") for line in lines]
            expected[task] = repo.commit(f"approve {task}", {TASKS: tasks_md(*lines)}, author=BOB)
        else:
            repo.commit(f"work {n}", {f"src/file{n}.py": f"x = {n}\n"})
    parser = Parser()
    report = scan(repo, base, parser=parser)
    assert report.commits == 50
    assert {a.task_id: a.commit for a in report.result.approved} == expected
    assert {a.approver.email for a in report.result.approved} == {BOB[1]}
    # Each blob of the task file was parsed once: the initial one and 6 versions after it.
    assert parser.full_parses + parser.incremental == 7


def test_merge_commits_are_walked_by_first_parent(repo: GitRepo):
    """Approvals merged in from a branch are attributed to the merge commit on the branch."""
    base = repo.head()
    repo.git("checkout", "-q", "-b", "feature")
    marked = OPEN.replace("T002 Add", "T002 [approved] Add")
    repo.commit("approve on a branch", {TASKS: marked}, author=BOB)
    repo.commit("more on the branch", {"src/a.py": "a = 1\n"}, author=BOB)
    repo.git("checkout", "-q", "main")
    repo.commit("work on main", {"src/b.py": "b = 1\n"})
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
    merge = repo.head()
    report = scan(repo, base)
    assert approved(report) == [("T002", merge, ALICE[1], "marker")]
    assert (
        report.commits == 2
    )  # the work on main and the merge: the branch's own commits are not walked


def test_force_push_withdraws_vanished_approvals_and_reports_nothing_twice(repo: GitRepo):
    """After a rewrite, vanished approvals are withdrawn; surviving ones are not reported again."""
    base = repo.head()
    both = OPEN.replace("T001 Create", "T001 [approved] Create").replace(
        "T002 Add", "T002 [approved] Add"
    )
    repo.commit("approve T001", {TASKS: OPEN.replace("T001 Create", "T001 [approved] Create")})
    old_tip = repo.commit("approve T002", {TASKS: both})
    first = scan(repo, base)
    assert [a.task_id for a in first.result.approved] == ["T001", "T002"]
    # Rewrite: drop the T002 approval, amend the T001 commit's message.
    repo.git("reset", "-q", "--hard", base)
    new_t1 = repo.commit(
        "approve T001 (reworded)", {TASKS: OPEN.replace("T001 Create", "T001 [approved] Create")}
    )
    report = scan(repo, old_tip)
    assert report.rewritten
    assert report.result.approved == ()  # T001 with the same digest was already approved
    assert [(w.approval.task_id, w.reason) for w in report.result.withdrawn] == [
        ("T002", Reason.REWRITTEN)
    ]
    assert report.detector.approvals[(TASKS, "T1")].commit == new_t1


def test_scoped_and_ambiguous_trailers(tmp_path: Path):
    """A key defined by two features needs a scope in the trailer; a scoped trailer approves one."""
    git = GitRepo(tmp_path / "repo")
    files = {"specs/001-a/tasks.md": OPEN, "specs/002-b/tasks.md": OPEN}
    base = git.commit("two features", files)
    ambiguous = git.commit("x\n\nApproved-Tasks: T001")
    scoped = git.commit("y\n\nApproved-Tasks: 002-b/T001, specs/001-a/tasks.md:T002")
    report = scan(git, base)
    assert [(a.path, a.task_id, a.commit) for a in report.result.approved] == [
        ("specs/001-a/tasks.md", "T002", scoped),
        ("specs/002-b/tasks.md", "T001", scoped),
    ]
    assert [(i.commit, i.reason.split(":")[0]) for i in report.result.ignored] == [
        (ambiguous, "ambiguous")
    ]


def test_dependencies_make_approved_tasks_wait(repo: GitRepo):
    """An approved task whose dependency is not done waits, and says for what."""
    base = repo.head()
    text = tasks_md("- [ ] T001 Models", "- [ ] T002 [approved] Routes (depends on T001)")
    repo.commit("approve T002", {TASKS: text})
    report = scan(repo, base)
    assert [(w.approval.task_id, w.pending) for w in report.waiting] == [("T002", ("T001",))]
    assert report.runnable == ()
    repo.commit("T001 done", {TASKS: text.replace("[ ] T001", "[x] T001")})
    assert [w.pending for w in scan(repo, base).waiting] == []


def test_bad_files_do_not_stop_a_scan(repo: GitRepo):
    """Each kind of bad task file gives a finding with its line; approvals elsewhere still count."""
    base = repo.head()
    approve = "- [ ] T001 [approved] fine\n"
    files: dict[str, str | bytes] = {
        TASKS: OPEN.replace("T001 Create", "T001 [approved] Create"),
        "specs/002-bin/tasks.md": b"\x89PNG\r\n\x1a\n" + b"\0" * 64 + bytes(range(256)),
        "specs/003-utf/tasks.md": b"- [ ] T001 [approved] caf\xe9\n- [ ] T002 ok\n",
        "specs/004-nul/tasks.md": b"- [ ] T001 [approved] a\n- [ ] T002 b\x00c\n",
        "specs/005-big/tasks.md": approve + "x" * 5000,
        "specs/006-crlf/tasks.md": b"\xef\xbb\xbf" + approve.replace("\n", "\r\n").encode(),
        "specs/007-fence/tasks.md": approve + "```\n- [ ] T002 [approved] in code\n",
        "specs/008-dup/tasks.md": approve + "- [ ] T001 [approved] again\n",
    }
    repo.commit("mixed", files)
    report = scan(repo, base, parser=Parser(max_bytes=4096))
    assert sorted((a.path, a.task_id) for a in report.result.approved) == [
        ("specs/001-todo/tasks.md", "T001"),
        ("specs/003-utf/tasks.md", "T001"),
        ("specs/004-nul/tasks.md", "T001"),
        ("specs/006-crlf/tasks.md", "T001"),
        ("specs/007-fence/tasks.md", "T001"),
        ("specs/008-dup/tasks.md", "T001"),
    ]
    assert sorted((f.path, f.line, f.code) for f in report.findings) == [
        ("specs/002-bin/tasks.md", 3, "input.binary"),
        ("specs/003-utf/tasks.md", 1, "input.invalid-utf8"),
        ("specs/004-nul/tasks.md", 2, "input.nul"),
        ("specs/005-big/tasks.md", 1, "input.too-large"),
        ("specs/007-fence/tasks.md", 2, "markdown.unclosed-fence"),
        ("specs/008-dup/tasks.md", 2, "tasks.duplicate-id"),
    ]


def test_symlinked_task_file_is_a_finding_not_content(repo: GitRepo):
    """A task file that is a symlink is not followed; it is reported."""
    base = repo.head()
    (repo.path / "specs/009-link").mkdir(parents=True)
    (repo.path / "specs/009-link/tasks.md").symlink_to("/etc/passwd")
    repo.commit("link")
    report = scan(repo, base)
    assert [(f.path, f.code) for f in report.findings] == [
        ("specs/009-link/tasks.md", "input.not-regular")
    ]


def _ssh_signing(git: GitRepo, tmp_path: Path) -> Path:
    """Alice's and Mallory's SSH keys in an allowed-signers file; Alice's key signs by default."""
    lines = []
    for who, email in (("alice", ALICE[1]), ("mallory", MALLORY[1])):
        key = tmp_path / who
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        lines.append(f"{email} {(tmp_path / f'{who}.pub').read_text()}")
    signers = tmp_path / "allowed_signers"
    signers.write_text("".join(lines))
    git.git("config", "gpg.format", "ssh")
    git.git("config", "user.signingkey", str(tmp_path / "alice"))
    return signers


@pytest.mark.skipif(
    subprocess.run(["which", "ssh-keygen"], capture_output=True, check=False).returncode != 0,
    reason="ssh-keygen is not installed (CI installs openssh-client)",
)
def test_require_signed_accepts_only_verified_commits(repo: GitRepo, tmp_path: Path):
    """With require_signed, only approvals in commits whose signature verifies count."""
    signers = _ssh_signing(repo, tmp_path)
    base = repo.head()
    unsigned = repo.commit("unsigned\n\nApproved-Tasks: T001")
    repo.write("x.txt", "x")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-S", "-m", "signed\n\nApproved-Tasks: T002")
    signed = repo.head()
    # Mallory writes Alice as the author but can only sign with her own key.
    repo.git("config", "user.signingkey", str(tmp_path / "mallory"))
    repo.git("commit", "-q", "--allow-empty", "-S", "-m", "forged\n\nApproved-Tasks: T001")
    forged = repo.head()
    git_repo = Repo(repo.path, DEFAULT_TASK_FILES)
    scanner = Scanner(git_repo, Policy(require_signed=True), Parser(), str(signers))
    report = scanner.scan(forged, base)
    assert [(a.task_id, a.commit, a.signature) for a in report.result.approved] == [
        ("T002", signed, SignatureStatus.GOOD)
    ]
    assert [(i.commit, i.reason) for i in report.result.ignored] == [
        (unsigned, "commit signature is none (approval.require_signed)"),
        (forged, f"signed by {MALLORY[1]}, not by the author Alice Approver <{ALICE[1]}>"),
    ]


def test_signals_setting_limits_what_approves(repo: GitRepo):
    """approval.signals without 'trailer' ignores trailers entirely."""
    base = repo.head()
    repo.commit("x\n\nApproved-Tasks: T001")
    only_markers = frozenset({Signal.MARKER, Signal.FRONTMATTER})
    assert scan(repo, base, signals=only_markers).result.approved == ()


def test_lifting_a_hold_approves_with_the_remaining_signal(repo: GitRepo):
    """A held task with front matter or a marker is approved by whoever lifts the hold."""
    base = repo.head()
    held = "---\napproved_tasks: [T001]\n---\n" + OPEN.replace("T001 Create", "T001 [hold] Create")
    repo.commit("approve but hold", {TASKS: held})
    assert scan(repo, base).result.approved == ()
    lifted = repo.commit("lift", {TASKS: held.replace(" [hold]", "")}, author=BOB)
    assert approved(scan(repo, base, approvers=(ALICE[1],))) == []
    report = scan(repo, base)
    assert approved(report) == [("T001", lifted, BOB[1], "frontmatter")]


def test_a_new_signal_from_an_approver_counts_after_an_ignored_one(repo: GitRepo):
    """Mallory's marker is ignored; Alice's front matter for the same text then approves it."""
    base = repo.head()
    marked = OPEN.replace("T001 Create", "T001 [approved] Create")
    repo.commit("mallory", {TASKS: marked}, author=MALLORY)
    alice = repo.commit("alice", {TASKS: "---\nstatus: approved\n---\n" + marked})
    report = scan(repo, base, approvers=(ALICE[1],))
    assert approved(report) == [
        ("T001", alice, ALICE[1], "frontmatter"),
        ("T002", alice, ALICE[1], "frontmatter"),
    ]


def test_renaming_a_feature_folder_keeps_approvals(repo: GitRepo):
    """Moving a task file (git mv) keeps its approvals: nothing withdrawn or approved again."""
    marked = OPEN.replace("T001 Create", "T001 [approved] Create")
    approve = repo.commit("approve", {TASKS: marked})
    repo.git("mv", "specs/001-todo", "specs/001-todo-app")
    repo.commit("rename", author=BOB)
    report = scan(repo, approve, approvers=(ALICE[1],))
    assert report.commits == 1
    assert report.result.approved == ()
    assert report.result.withdrawn == ()
    assert report.result.ignored == ()
    state = report.detector.approvals[("specs/001-todo-app/tasks.md", "T1")]
    assert (state.commit, state.approver.email) == (approve, ALICE[1])


def test_a_scanner_resumes_from_its_last_tip(repo: GitRepo):
    """Scanning on from where the last scan ended reads only new versions, same answer."""
    lines = [f"- [ ] T{n:03d} Task {n}" for n in range(1, 6)]
    repo.commit("tasks", {TASKS: tasks_md(*lines)})
    git_repo = Repo(repo.path, DEFAULT_TASK_FILES)
    parser = Parser()
    scanner = Scanner(git_repo, Policy(), parser)
    first = repo.head()
    scanner.scan(first)
    reads = parser.full_parses + parser.incremental
    lines[1] = lines[1].replace("T002 Task", "T002 [approved] Task")
    approve = repo.commit("approve T002", {TASKS: tasks_md(*lines)})
    repo.commit("work", {"src/x.py": "x = 1\n"})
    resumed = scanner.scan(repo.head(), first)
    assert parser.full_parses + parser.incremental == reads + 1
    assert resumed.commits == 2
    fresh = Scanner(Repo(repo.path, DEFAULT_TASK_FILES), Policy()).scan(repo.head(), first)
    assert resumed.result == fresh.result
    assert approved(resumed) == [("T002", approve, ALICE[1], "marker")]
    # After a force-push the saved tip is not an ancestor: the scanner replays in full.
    repo.git("reset", "-q", "--hard", first)
    repo.commit("other", {"src/y.py": "y = 1\n"})
    rewritten = scanner.scan(repo.head(), scanner.checkpoint[0] if scanner.checkpoint else None)
    assert rewritten.rewritten
    assert [(w.approval.task_id, w.reason) for w in rewritten.result.withdrawn] == [
        ("T002", Reason.REWRITTEN)
    ]
