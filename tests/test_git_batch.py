"""Blobs read in the background through one ``git cat-file --batch`` (daemon.git.batch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.git import Repo
from daemon.git.batch import BlobStream
from tests.gitrepo import GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def test_blobs_arrive_in_order_and_what_git_lacks_is_none(repo: GitRepo):
    big = bytes(range(256)) * 20_000  # 5 MB: far more than a pipe holds
    repo.commit("files", {"a.md": "alpha\n", "b.bin": big, "c/d.md": ""})
    ids = [repo.head(f"HEAD:{name}") for name in ("a.md", "b.bin", "c/d.md")]
    tree = repo.head("HEAD:c")
    missing = "0" * 40
    # A tree's body is skipped like a blob's: what comes after it still arrives.
    with BlobStream(str(repo.path / ".git"), [tree, *ids, missing, ids[0]]) as stream:
        assert stream.get(ids[0]) == b"alpha\n"
        assert stream.get(ids[1]) == big
        assert stream.get(ids[2]) == b""
        assert stream.get(tree) is None  # not a blob
        assert stream.get(missing) is None
        assert stream.get("f" * 40) is None  # never asked for
        assert stream.all() == {ids[0]: b"alpha\n", ids[1]: big, ids[2]: b""}
    assert Repo(repo.path).blobs([ids[0], missing]) == {ids[0]: b"alpha\n"}


def test_nothing_wanted_and_git_failing_give_nothing(repo: GitRepo, tmp_path: Path):
    repo.commit("one", {"a.md": "alpha\n"})
    blob = repo.head("HEAD:a.md")
    with BlobStream(str(repo.path / ".git"), []) as stream:
        assert stream.get(blob) is None
        assert stream.all() == {}
    with BlobStream(str(tmp_path / "not-a-repository"), [blob]) as stream:
        assert stream.get(blob) is None
        assert stream.all() == {}


def test_closing_early_stops_git(repo: GitRepo):
    versions = {f"f{n}.md": f"{n}\n" * 50_000 for n in range(20)}  # 20 x 300 KB
    repo.commit("many", versions)
    ids = [repo.head(f"HEAD:{name}") for name in versions]
    stream = BlobStream(str(repo.path / ".git"), ids)
    assert stream.get(ids[0]) == versions["f0.md"].encode()
    stream.close()  # the rest is never read: git is killed, the feeding thread ends
    assert stream._process is not None
    assert stream._process.returncode is not None
    assert stream._writer is not None
    assert not stream._writer.is_alive()


def test_blobs_named_while_git_runs(repo: GitRepo):
    repo.commit("files", {"a.md": "alpha\n", "b.md": "beta\n"})
    a, b = repo.head("HEAD:a.md"), repo.head("HEAD:b.md")
    with BlobStream(str(repo.path / ".git")) as stream:
        assert stream.get(a) is None  # never named: not awaited
        stream.request([a])
        assert stream.get(a) == b"alpha\n"
        stream.request([a, b])  # a again is ignored
        stream.finish()
        stream.request(["0" * 40])  # after finish(): ignored
        assert stream.get(b) == b"beta\n"
        assert stream.get("0" * 40) is None  # named after finish(): not awaited
        assert stream.all() == {a: b"alpha\n", b: b"beta\n"}


def test_a_taken_blob_is_handed_over_once(repo: GitRepo):
    """take() gives the blob and forgets it: asked again, it is None at once, never awaited."""
    repo.commit("files", {"a.md": "alpha\n", "b.md": "beta\n"})
    a, b = repo.head("HEAD:a.md"), repo.head("HEAD:b.md")
    with BlobStream(str(repo.path / ".git"), [a, b]) as stream:
        assert stream.take(a) == b"alpha\n"
        assert stream.get(a) is None
        assert stream.take(a) is None
        assert stream.get(b) == b"beta\n"
        assert stream.all() == {b: b"beta\n"}


def test_a_direct_stream_sends_the_ids_it_gathered(repo: GitRepo):
    """With direct, ids asked for are written to git by send() or finish(), many at once."""
    repo.commit("files", {"a.md": "alpha\n", "b.md": "beta\n"})
    a, b = repo.head("HEAD:a.md"), repo.head("HEAD:b.md")
    with BlobStream(str(repo.path / ".git"), direct=True) as stream:
        assert stream._writer is None  # no feeding thread
        stream.request([a])
        stream.request([b, a])
        assert stream._unsent  # gathered, not yet written
        stream.send()
        assert not stream._unsent
        assert stream.get(a) == b"alpha\n"
        stream.request(["0" * 40])
        stream.finish()  # sends what was gathered, then ends the list
        assert stream.get("0" * 40) is None
        assert stream.get(b) == b"beta\n"
        assert stream.all() == {a: b"alpha\n", b: b"beta\n"}
