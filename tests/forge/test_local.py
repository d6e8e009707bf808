"""The local forge: pull requests and issues as files, numbered per repository, durable."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from daemon.forge.base import Comment, ForgeError, Issue, PullRequest
from daemon.forge.local import LocalForge

REPO = "acme/todo"
HEAD = "speckitd/t9-add-the-task-service"


@pytest.fixture
def forge(tmp_path):
    return LocalForge(tmp_path / "state")


def open_pull(forge: LocalForge, head: str = HEAD, repo: str = REPO) -> PullRequest:
    return forge.open_pull(repo, head=head, base="main", title="T009: Add", body="body <!-- m -->")


def test_open_pull_records_and_returns_the_pull_request(forge, tmp_path):
    """An opened pull request is open, numbered 1, written as JSON and Markdown."""
    made = open_pull(forge)
    folder = tmp_path / "state/forge/acme__todo/pulls"
    assert made == PullRequest(
        1, str(folder / "1.md"), HEAD, "main", "T009: Add", "body <!-- m -->", "open"
    )
    record = json.loads((folder / "1.json").read_text())
    assert record["labels"] == record["reviewers"] == record["comments"] == []
    assert record["draft"] is False
    assert (folder / "1.md").read_text() == "# T009: Add\n\nbody <!-- m -->"


def test_open_pull_keeps_the_draft_flag(forge):
    """A draft pull request reads back as a draft."""
    forge.open_pull(REPO, head=HEAD, base="main", title="t", body="b", draft=True)
    found = forge.find_pull(REPO, HEAD)
    assert found is not None
    assert found.draft is True


def test_a_second_open_pull_request_for_the_same_head_is_refused(forge):
    """One open pull request per head, as on GitHub: ForgeError with exists=True and 422."""
    open_pull(forge)
    with pytest.raises(ForgeError) as raised:
        open_pull(forge)
    assert raised.value.exists is True
    assert raised.value.status == 422
    assert len(forge.records(REPO, "pulls")) == 1


def test_a_closed_pull_request_does_not_block_a_new_one_for_the_head(forge):
    """After closing, a new pull request from the same head opens, and find_pull sees it."""
    open_pull(forge)
    forge.update_pull(REPO, 1, state="closed")
    again = open_pull(forge)
    assert again.number == 2
    assert forge.find_pull(REPO, HEAD) == again


def test_find_pull_is_the_newest_from_the_head_or_none(forge):
    """find_pull picks the newest record of that head and ignores other heads."""
    assert forge.find_pull(REPO, HEAD) is None
    open_pull(forge)
    forge.mark_merged(REPO, 1)
    open_pull(forge, head="speckitd/t10-other")
    second = open_pull(forge)
    found = forge.find_pull(REPO, HEAD)
    assert found == second
    assert found.number == 3
    assert forge.find_pull(REPO, "speckitd/nothing") is None


def test_update_pull_changes_only_what_is_given(forge):
    """Title, body and state change independently; a missing number is a 404."""
    open_pull(forge)
    changed = forge.update_pull(REPO, 1, body="new body")
    assert (changed.title, changed.body, changed.state) == ("T009: Add", "new body", "open")
    changed = forge.update_pull(REPO, 1, title="T009: Renamed", state="closed")
    assert (changed.title, changed.body, changed.state) == ("T009: Renamed", "new body", "closed")
    assert forge.find_pull(REPO, HEAD) == changed
    with pytest.raises(ForgeError) as raised:
        forge.update_pull(REPO, 99, body="x")
    assert raised.value.status == 404


def test_mark_merged_closes_and_merges(forge):
    """A merged pull request is closed and merged, on disk too."""
    open_pull(forge)
    merged = forge.mark_merged(REPO, 1)
    assert (merged.state, merged.merged) == ("closed", True)
    [record] = forge.records(REPO, "pulls")
    assert (record["state"], record["merged"]) == ("closed", True)


def test_issues_open_find_by_marker_and_update(forge, tmp_path):
    """Issues carry the speckitd label, are found by marker (newest first) and update in place."""
    first = forge.open_issue(REPO, title="T9 needs clarification", body="q <!-- A -->")
    second = forge.open_issue(REPO, title="again", body="q2 <!-- A -->", labels=["triage"])
    forge.open_issue(REPO, title="other", body="<!-- B -->")
    assert first == Issue(
        1,
        str(tmp_path / "state/forge/acme__todo/issues/1.md"),
        "T9 needs clarification",
        "q <!-- A -->",
        "open",
    )
    assert forge.find_issue(REPO, "<!-- A -->") == second
    assert forge.find_issue(REPO, "<!-- C -->") is None
    assert [r["labels"] for r in forge.records(REPO, "issues")] == [
        ["speckitd"],
        ["speckitd", "triage"],
        ["speckitd"],
    ]
    closed = forge.update_issue(REPO, 2, state="closed")
    assert (closed.body, closed.state) == ("q2 <!-- A -->", "closed")
    assert forge.update_issue(REPO, 2, body="edited").body == "edited"
    with pytest.raises(ForgeError) as raised:
        forge.update_issue(REPO, 42, body="")
    assert raised.value.status == 404


def test_pulls_and_issues_share_one_number_sequence(forge):
    """As on GitHub, a repository's pull requests and issues never share a number."""
    numbers = [
        open_pull(forge).number,
        forge.open_issue(REPO, title="i", body="b").number,
        open_pull(forge, head="speckitd/t2-x").number,
        forge.open_issue(REPO, title="i", body="b").number,
    ]
    assert numbers == [1, 2, 3, 4]
    assert [r["number"] for r in forge.records(REPO, "pulls")] == [1, 3]
    assert [r["number"] for r in forge.records(REPO, "issues")] == [2, 4]


def test_repositories_are_numbered_independently(forge):
    """Each repository has its own sequence."""
    assert open_pull(forge).number == 1
    assert open_pull(forge, repo="acme/other").number == 1
    assert forge.open_issue("acme/other", title="i", body="b").number == 2


def test_comments_on_pulls_and_issues_are_kept_in_order(forge):
    """Comments are speckitd's, numbered per record, oldest first; unknown numbers are 404."""
    open_pull(forge)
    forge.open_issue(REPO, title="i", body="b")
    assert forge.comment(REPO, 1, "first") == Comment(1, "speckitd", "first")
    assert forge.comment(REPO, 1, "second") == Comment(2, "speckitd", "second")
    assert forge.comment(REPO, 2, "on the issue") == Comment(1, "speckitd", "on the issue")
    assert forge.comments(REPO, 1) == [
        Comment(1, "speckitd", "first"),
        Comment(2, "speckitd", "second"),
    ]
    assert forge.comments(REPO, 2) == [Comment(1, "speckitd", "on the issue")]
    with pytest.raises(ForgeError) as raised:
        forge.comments(REPO, 3)
    assert raised.value.status == 404


def test_labels_and_reviewers_are_sets_kept_sorted(forge):
    """Labels (on either kind) and reviewers accumulate without duplicates, sorted."""
    open_pull(forge)
    forge.open_issue(REPO, title="i", body="b")
    forge.add_labels(REPO, 1, ["speckitd", "needs-review"])
    forge.add_labels(REPO, 1, ["needs-review", "bot"])
    forge.add_labels(REPO, 2, ["question"])
    forge.request_review(REPO, 1, ["carol", "alice"])
    forge.request_review(REPO, 1, ["alice"])
    pull, issue = forge.records(REPO, "pulls")[0], forge.records(REPO, "issues")[0]
    assert pull["labels"] == ["bot", "needs-review", "speckitd"]
    assert pull["reviewers"] == ["alice", "carol"]
    assert issue["labels"] == ["question", "speckitd"]
    with pytest.raises(ForgeError):
        forge.request_review(REPO, 2, ["alice"])  # issues have no reviewers


def test_records_survive_a_new_instance(forge, tmp_path):
    """Everything is on disk: a new LocalForge on the same state dir sees it and numbers on."""
    open_pull(forge)
    forge.comment(REPO, 1, "hello")
    forge.add_labels(REPO, 1, ["x"])
    forge.open_issue(REPO, title="i", body="<!-- M -->")
    again = LocalForge(tmp_path / "state")
    assert again.find_pull(REPO, HEAD) == forge.find_pull(REPO, HEAD)
    assert again.comments(REPO, 1) == [Comment(1, "speckitd", "hello")]
    assert again.records(REPO, "pulls")[0]["labels"] == ["x"]
    assert again.find_issue(REPO, "<!-- M -->") is not None
    assert again.open_issue(REPO, title="j", body="b").number == 3


def test_repos_lists_repositories_with_records(forge, tmp_path):
    """repos() is empty before anything is written, then lists owner/name, sorted."""
    assert forge.repos() == []
    forge.open_issue("zeta/app", title="i", body="b")
    open_pull(forge)
    open_pull(forge, repo="acme/my__repo")
    assert forge.repos() == ["acme/my__repo", "acme/todo", "zeta/app"]
    assert LocalForge(tmp_path / "state").repos() == ["acme/my__repo", "acme/todo", "zeta/app"]


def test_looking_up_a_repository_does_not_list_it(forge):
    """repos() names repositories that have records; a lookup alone writes none."""
    assert forge.find_pull(REPO, HEAD) is None
    assert forge.find_issue(REPO, "<!-- M -->") is None
    assert forge.repos() == []


def test_permission_and_reviews(forge):
    """Anyone may write locally; local pull requests have no reviews."""
    open_pull(forge)
    assert forge.permission(REPO, "anyone") == "write"
    assert forge.reviews(REPO, 1) == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (".3.json.tmp", '{"number": 3, "head": "x", "st'),
        ("3.json", '{"number": 3, "head": "x", "st'),
        ("3.json", ""),
    ],
    ids=["leftover-temp-file", "truncated-record", "empty-record"],
)
def test_a_half_written_file_does_not_break_records(forge, tmp_path, name, content):
    """A leftover temporary file or a truncated record is skipped; whole records still read."""
    open_pull(forge)
    (tmp_path / "state/forge/acme__todo/pulls" / name).write_text(content)
    assert [r["number"] for r in forge.records(REPO, "pulls")] == [1]
    assert forge.find_pull(REPO, HEAD) is not None
    assert forge.open_issue(REPO, title="i", body="b").number == 2


def test_no_temporary_files_are_left_after_writes(forge, tmp_path):
    """Writes go through a temporary file and a rename; none remain afterwards."""
    open_pull(forge)
    forge.comment(REPO, 1, "c")
    forge.open_issue(REPO, title="i", body="b")
    assert list((tmp_path / "state").rglob("*.tmp")) == []


def test_concurrent_issues_get_distinct_numbers(tmp_path):
    """Threads opening issues at once (own instances and a shared one) never share a number."""
    shared = LocalForge(tmp_path / "state")

    def make(index: int) -> int:
        forge = shared if index % 2 else LocalForge(tmp_path / "state")
        return forge.open_issue(REPO, title=f"i{index}", body=f"b{index}").number

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(make, range(40)))
    assert sorted(numbers) == list(range(1, 41))
    records = shared.records(REPO, "issues")
    assert [r["number"] for r in records] == list(range(1, 41))
    assert sorted(r["title"] for r in records) == sorted(f"i{n}" for n in range(40))
