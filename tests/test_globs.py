"""Settings globs: '*' within a folder, '**' across folders."""

from __future__ import annotations

import pytest

from daemon.globs import matches, matches_loosely


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("specs/001-auth/tasks.md", ["specs/*/tasks.md"], True),
        ("specs/a/b/tasks.md", ["specs/*/tasks.md"], False),
        ("specs/a/b/tasks.md", ["specs/**/tasks.md"], True),
        ("specs/tasks.md", ["specs/**/tasks.md"], True),
        ("app/specs/x/tasks.md", ["**/specs/*/tasks.md"], True),
        ("backend/app/models/user.py", ["backend/app/**"], True),
        ("backend/tests/x.py", ["backend/app/**"], False),
        ("speckit.tasks", ["speckit.tas[kx]s"], True),
        ("notes.md", ["*.py", "*.toml"], False),
    ],
)
def test_matches(path, patterns, expected):
    """Globs match whole paths."""
    assert matches(path, patterns) is expected


def test_a_newline_in_a_file_name_does_not_escape_a_glob():
    """``.github/**`` protects ``.github/workflows/a<newline>b.yml`` too."""
    assert matches(".github/workflows/a\nb.yml", (".github/**",))
    assert matches("x/a\nb.py", ("**/*.py",))
    assert matches("a\nb.py", ("*.py",))
    assert not matches("a\n/b.py", ("*.py",))


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        (".GitHub/workflows/x.yml", (".github/**",), True),
        (".github\u200b/workflows/x.yml", (".github/**",), True),
        ("backend/app/pac\u212aage.json", ("**/package.json",), True),  # KELVIN SIGN
        ("backend/app/PyProject.toml", ("**/pyproject.toml",), True),
        ("pyproject.toml.", ("pyproject.toml",), True),
        ("pyproject.toml ", ("pyproject.toml",), True),
        ("backend/app/models.py", ("**/package.json", ".github/**"), False),
    ],
)
def test_deny_lists_match_what_a_checkout_would_read(path, patterns, expected):
    """Protected and forbidden globs also match case, width and invisible-character variants."""
    assert matches_loosely(path, patterns) is expected
    assert not matches(path, patterns)  # exact matching misses every variant


def test_a_negated_class_is_one_character_of_a_name():
    """``[!x]`` never matches the ``/`` between folders."""
    assert matches("ayb", ("a[!x]b",))
    assert not matches("a/b", ("a[!x]b",))
    assert not matches("backend/app/evil", ("backend/app[!_]*",))
    assert not matches("a/b", ("a[^x]b",))
    assert matches("ayb", ("a[^x]b",))
