"""Names of a task's work: slugs, branch names and the hidden marker."""

from __future__ import annotations

import subprocess

import pytest

from daemon.naming import BRANCH_PREFIX, branch_name, marker, read_marker, slug, task_marker_prefix

DIGEST = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Add the task service", 40, "add-the-task-service"),
        ("  Add   User\tmodel  ", 40, "add-user-model"),
        ("Hello, World! (v2.0)", 40, "hello-world-v2-0"),
        ("Café déjà vu", 40, "cafe-deja-vu"),
        ("Ünïcödé Straße", 40, "unicode-strae"),
        ("ﬁle ﬂow", 40, "file-flow"),
        ("T-001", 40, "t-001"),
        ("16.3.1", 20, "16-3-1"),
        ("日本語のタスク", 40, "task"),
        ("🚀🚀", 40, "task"),
        ("", 40, "task"),
        ("---", 40, "task"),
        ("a" * 50, 40, "a" * 40),
        ("abc def", 4, "abc"),
        ("one two three", 8, "one-two"),
        ("x" * 10, 0, "task"),
    ],
)
def test_slug_is_lowercase_ascii_words_within_the_limit(text, limit, expected):
    """Unicode is folded to ASCII, punctuation becomes '-', cut at the limit, never empty."""
    assert slug(text, limit) == expected


def test_slug_defaults_to_forty_characters():
    """Without a limit a slug is at most 40 characters."""
    assert len(slug("word " * 40)) <= 40


@pytest.mark.parametrize(
    ("key", "title", "expected"),
    [
        ("T9", "Add the task service", "speckitd/t9--add-the-task-service"),
        ("TASK-US1", "Login page", "speckitd/task-us1--login-page"),
        ("16.3.1", "Set up CI", "speckitd/16-3-1-8cb3a67c--set-up-ci"),
        ("T1", "", "speckitd/t1--task"),
        ("", "", "speckitd/task-e3b0c442--task"),
    ],
)
def test_branch_name_is_prefix_key_and_slug(key, title, expected):
    """speckitd/<key part>--<slug of title>; keys the slug does not spell get a hash."""
    assert branch_name(key, title) == expected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("T1-2", "fix"), ("T1", "2 fix")),  # where the key ends and the title starts
        (("TASK-1.2", "x"), ("TASK-1-2", "x")),  # keys with one slug
        (("P" + "1" * 30, "x"), ("P" + "1" * 31, "x")),  # long keys cut to one slug
    ],
)
def test_two_tasks_never_share_a_branch(one, other):
    assert branch_name(*one) != branch_name(*other)


AWKWARD = [
    "..",
    "a..b",
    "x.lock",
    "name.lock.",
    "@{u}",
    "@",
    "back\\slash",
    "col:on ques?tion star*",
    "[bracket] ~tilde ^caret",
    "trailing.",
    "/leading/slash/",
    "refs/heads/main",
    "-dash first",
    "emoji 🚀 rocket",
    "控制字符",
    "tab\there\nnewline",
    "\x00nul\x7fdel",
    " ",
    "",
    "x" * 300,
    "HEAD",
]


@pytest.mark.parametrize("title", AWKWARD)
@pytest.mark.parametrize("key", ["T9", "P2-T-001", "16.3.1", ".."])
def test_branch_name_is_a_valid_git_branch(key, title):
    """Every branch name passes `git check-ref-format --branch`, whatever the title."""
    name = branch_name(key, title)
    assert name.startswith(BRANCH_PREFIX)
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", name], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == name


def test_branch_name_is_stable():
    """The same key and title always give the same branch."""
    assert branch_name("T9", "Add it") == branch_name("T9", "Add it")


@pytest.mark.parametrize("key", ["T9", "T-001", "TASK-US1", "16.3.1", "P2-T-001"])
def test_marker_reads_back_as_key_and_digest12(key):
    """read_marker(marker(key, digest)) is (key, digest[:12]), also inside other text."""
    made = marker(key, DIGEST)
    assert made == f"<!-- speckitd:task={key} digest={DIGEST[:12]} -->"
    assert read_marker(made) == (key, DIGEST[:12])
    assert read_marker(f"Body text.\n\n{made}\n") == (key, DIGEST[:12])


@pytest.mark.parametrize(
    "body",
    [
        "",
        "no marker here",
        "<!-- speckitd:task=T9 digest=0123456789AB -->",  # uppercase hex
        "<!-- speckitd:task=T9 digest=0123456789a -->",  # 11 characters
        "<!-- speckitd:task=T9 digest=0123456789abc -->",  # 13 characters
        "<!-- speckitd:task= digest=0123456789ab -->",
        "&lt;!-- speckitd:task=T9 digest=0123456789ab --&gt;",
        "`<!-- speckitd:task=T9 digest=0123456789ab`",
    ],
)
def test_read_marker_rejects_what_is_not_a_marker(body):
    """Anything but the exact marker shape reads as no marker."""
    assert read_marker(body) is None


def test_read_marker_returns_the_last_marker():
    """With two markers the last one counts: the daemon's own marker ends every body."""
    body = f"{marker('T1', 'a' * 12)}\n{marker('T2', 'b' * 12)}"
    assert read_marker(body) == ("T2", "b" * 12)


@pytest.mark.parametrize("digest", [DIGEST, "f" * 12, "0" * 64])
def test_task_marker_prefix_starts_every_marker_of_the_key(digest):
    """Every marker of a key starts with its prefix, whatever the digest."""
    assert marker("T9", digest).startswith(task_marker_prefix("T9"))


def test_task_marker_prefix_does_not_match_a_longer_key():
    """The prefix of T1 does not match a marker of T10 or T1A."""
    assert task_marker_prefix("T1") == "<!-- speckitd:task=T1 "
    assert not marker("T10", DIGEST).startswith(task_marker_prefix("T1"))
    assert not marker("T1A", DIGEST).startswith(task_marker_prefix("T1"))
