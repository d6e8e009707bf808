"""The agent's file tools: what they do, and every way out of the worktree they refuse."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from daemon.agent.workspace import Limits, ToolError, Workspace

MAIN_PY = "import os\n\nVALUE = 1\n\n\ndef run():\n    return VALUE\n"
SCOPE = ("backend/**", "tests/**")
PROTECTED = ("backend/app/settings.py",)
CANARY = "TOP SECRET outside the worktree\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the worktree that the tools must never read or write."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text(CANARY)
    (path / "main.py").write_text(MAIN_PY)
    return path


@pytest.fixture
def root(tmp_path: Path, outside: Path) -> Path:
    """A worktree with a few files, a .git directory and hidden files."""
    del outside  # created first so that snapshots of it are stable
    path = tmp_path / "wt"
    files = {
        "backend/app/main.py": MAIN_PY,
        "backend/app/settings.py": "DEBUG = False\n",
        "backend/app/deep/er/x.py": "X = 'needle'\n",
        "docs/guide.md": "# Guide\n\nneedle in the docs\n",
        "README.md": "# Project\n",
        ".github/workflows/ci.yml": "on: push\n",
        ".env.example": "KEY=needle\n",
        ".git/config": "[core]\n\tneedle = in git\n",
        ".git/HEAD": "ref: refs/heads/main\n",
    }
    for relative, text in files.items():
        (path / relative).parent.mkdir(parents=True, exist_ok=True)
        (path / relative).write_text(text)
    return path


@pytest.fixture
def ws(root: Path) -> Workspace:
    """A workspace writing backend/ and tests/, with one protected file."""
    return Workspace(root, write_scope=SCOPE, protected=PROTECTED)


def snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``path`` (links not followed) with its bytes and mtime."""
    found: dict[str, tuple[bytes, int]] = {}
    for directory, _, names in os.walk(path):
        for name in names:
            file = Path(directory, name)
            if not file.is_symlink():
                found[str(file.relative_to(path))] = (file.read_bytes(), file.stat().st_mtime_ns)
    return found


def git(cwd: Path, *args: str) -> str:
    """Run git hermetically (no global or system config) and return its output."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


# --- view ------------------------------------------------------------------------------


def test_view_numbers_lines_like_cat_n(ws):
    """A file comes back with cat -n numbering."""
    out = ws.view("backend/app/main.py")
    assert out.splitlines()[0] == "     1\timport os"
    assert out.splitlines()[-1] == "     7\t    return VALUE"
    assert len(out.splitlines()) == 7


@pytest.mark.parametrize(
    ("view_range", "first", "last"),
    [([2, 3], 2, 3), ([3, -1], 3, 7), ([6, 99], 6, 7), ([7, 7], 7, 7)],
)
def test_view_range(ws, view_range, first, last):
    """view_range is 1-based and inclusive; -1 and ends past EOF mean to the end."""
    lines = ws.view("backend/app/main.py", view_range).splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == list(range(first, last + 1))


@pytest.mark.parametrize("view_range", [[0, 2], [8, 9], [3, 2], [-1, -1]])
def test_view_range_invalid(ws, view_range):
    """A range outside the file or backwards is refused with the line count."""
    with pytest.raises(ToolError, match="7 lines"):
        ws.view("backend/app/main.py", view_range)


@pytest.mark.parametrize("path", ["", ".", "./", ".//."])
def test_view_root_lists_two_levels(ws, path):
    """The root listing is sorted, two levels deep, skips .git and does not expand hidden dirs."""
    rows = ws.view(path).splitlines()[1:]
    assert rows == [
        ".env.example",
        ".github/",
        "README.md",
        "backend/",
        "backend/app/",
        "docs/",
        "docs/guide.md",
    ]


def test_view_subdirectory_lists_paths_from_the_root(ws, root, outside):
    """A subdirectory's entries are given as paths usable in the next call; links end in @."""
    (root / "backend/link").symlink_to(outside)
    assert ws.view("backend/").splitlines()[1:] == [
        "backend/app/",
        "backend/app/deep/",
        "backend/app/main.py",
        "backend/app/settings.py",
        "backend/link@",
    ]
    (root / "empty").mkdir()
    assert ws.view("empty") == "empty/ is empty"


def test_view_truncates_long_output(root):
    """Output over max_view_chars is cut at a line with a note saying how to see more."""
    (root / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 1001)))
    out = Workspace(root, write_scope=SCOPE, limits=Limits(max_view_chars=200)).view("long.txt")
    assert len(out) < 300
    assert out.splitlines()[-1].startswith("[truncated after line ")
    assert "view_range [" in out


def test_view_refuses_binary_and_big_files(ws, root):
    """A binary file is refused; a file over the read limit must be viewed by range."""
    (root / "blob.bin").write_bytes(b"PK\x03\x04\x00\x00data")
    with pytest.raises(ToolError, match="binary"):
        ws.view("blob.bin")
    (root / "big.txt").write_text("x\n" * 300)
    small = Workspace(root, write_scope=SCOPE, limits=Limits(max_read_bytes=100))
    with pytest.raises(ToolError, match="view_range"):
        small.view("big.txt")
    assert small.view("big.txt", [300, -1]) == "   300\tx"
    (root / "huge.txt").write_text("x\n" * 500)
    with pytest.raises(ToolError, match="limit"):
        small.view("huge.txt", [1, 2])


def test_view_missing_and_fifo(ws, root):
    """A missing path and a FIFO (which would block a plain open) are refused at once."""
    with pytest.raises(ToolError, match="does not exist"):
        ws.view("backend/nope.py")
    with pytest.raises(ToolError, match="not a directory"):
        ws.view("README.md/x")
    os.mkfifo(root / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        ws.view("pipe")
    assert "pipe" not in ws.files()


def test_view_decodes_invalid_utf8_with_replacement(ws, root):
    """Bytes that are not UTF-8 are shown as replacement characters, not an error."""
    (root / "latin1.txt").write_bytes(b"caf\xe9\n")
    assert ws.view("latin1.txt") == "     1\tcaf\ufffd"


# --- create, str_replace, insert ------------------------------------------------------------


def test_create_makes_parents_and_overwrites(ws, root):
    """A create writes new files (with parent directories) and overwrites existing ones."""
    assert ws.create("backend/new/pkg/mod.py", "a = 1\nb = 2\n") == (
        "created backend/new/pkg/mod.py (2 lines)"
    )
    assert (root / "backend/new/pkg/mod.py").read_text() == "a = 1\nb = 2\n"
    assert (
        ws.create("./backend//app/main.py", "x = 1\n") == "overwrote backend/app/main.py (1 line)"
    )
    assert (root / "backend/app/main.py").read_text() == "x = 1\n"
    assert not [p for p in root.rglob("*") if ".speckitd-" in p.name]


def test_create_keeps_the_mode_of_an_overwritten_file(ws, root):
    """Overwriting an executable keeps it executable (the replacement is a new inode)."""
    script = root / "backend/run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    ws.create("backend/run.sh", "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755


def test_str_replace_replaces_the_one_occurrence(ws, root):
    """str_replace edits exactly one occurrence and says where."""
    out = ws.str_replace("backend/app/main.py", "VALUE = 1", "VALUE = 2")
    assert out == "edited backend/app/main.py: replaced 1 occurrence at line 3"
    assert (root / "backend/app/main.py").read_text() == MAIN_PY.replace("VALUE = 1", "VALUE = 2")


@pytest.mark.parametrize(
    ("old", "message"),
    [
        ("VALUE = 3", "no match"),
        ("VALUE", r"occurs 2 times .*lines 3, 7"),
        ("", "empty"),
    ],
)
def test_str_replace_needs_exactly_one_match(ws, root, old, message):
    """No match, several matches and an empty old_str are refused; the file is unchanged."""
    with pytest.raises(ToolError, match=message):
        ws.str_replace("backend/app/main.py", old, "X")
    assert (root / "backend/app/main.py").read_text() == MAIN_PY


def test_str_replace_counts_overlapping_matches(ws, root):
    """An old_str that overlaps itself in the file is ambiguous, hence refused."""
    (root / "backend/a.txt").write_text("aaa\n")
    with pytest.raises(ToolError, match="2 times"):
        ws.str_replace("backend/a.txt", "aa", "b")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (0, "NEW\nimport os\n\nVALUE = 1\n\n\ndef run():\n    return VALUE\n"),
        (3, "import os\n\nVALUE = 1\nNEW\n\n\ndef run():\n    return VALUE\n"),
        (7, MAIN_PY + "NEW\n"),
    ],
)
def test_insert_after_line(ws, root, line, expected):
    """An insert puts the text after the given line; 0 is the top."""
    out = ws.insert("backend/app/main.py", line, "NEW")
    assert out == f"edited backend/app/main.py: inserted 1 line after line {line}"
    assert (root / "backend/app/main.py").read_text() == expected


def test_insert_at_end_of_file_without_final_newline(ws, root):
    """Appending to a file whose last line has no newline ends that line first."""
    (root / "backend/b.txt").write_text("one\ntwo")
    ws.insert("backend/b.txt", 2, "three\n")
    assert (root / "backend/b.txt").read_text() == "one\ntwo\nthree\n"
    (root / "backend/empty.txt").write_text("")
    ws.insert("backend/empty.txt", 0, "first")
    assert (root / "backend/empty.txt").read_text() == "first\n"


@pytest.mark.parametrize("line", [8, 100, -1])
def test_insert_outside_the_file(ws, root, line):
    """insert_line past the end (or negative) is refused and names the valid range."""
    with pytest.raises(ToolError, match="0 to 7"):
        ws.insert("backend/app/main.py", line, "NEW")
    assert (root / "backend/app/main.py").read_text() == MAIN_PY


def test_edits_keep_crlf_line_endings(ws, root):
    """A CRLF file stays CRLF after str_replace and insert written with LF."""
    path = root / "backend/win.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    ws.str_replace("backend/win.txt", "one\ntwo", "uno\ndos")
    ws.insert("backend/win.txt", 3, "four\nfive")
    assert path.read_bytes() == b"uno\r\ndos\r\nthree\r\nfour\r\nfive\r\n"


def test_directories_are_not_files(ws):
    """A directory can be listed but not overwritten or edited."""
    for call in (
        lambda: ws.create("backend/app", "x\n"),
        lambda: ws.str_replace("backend/app", "x", "y"),
        lambda: ws.insert("backend/app", 0, "x"),
    ):
        with pytest.raises(ToolError, match="backend/app is a directory"):
            call()
    assert "backend/app/main.py" in ws.files()


def test_edits_refuse_binary_and_non_utf8(ws, root):
    """Editing a binary or non-UTF-8 file is refused instead of corrupting it."""
    (root / "backend/blob").write_bytes(b"\x00\x01VALUE")
    (root / "backend/latin1.txt").write_bytes(b"caf\xe9 VALUE\n")
    with pytest.raises(ToolError, match="binary"):
        ws.str_replace("backend/blob", "VALUE", "X")
    with pytest.raises(ToolError, match="UTF-8"):
        ws.str_replace("backend/latin1.txt", "VALUE", "X")
    assert (root / "backend/latin1.txt").read_bytes() == b"caf\xe9 VALUE\n"


def test_big_writes_are_refused(root):
    """A create or an edit whose result is over max_write_bytes writes nothing."""
    ws = Workspace(root, write_scope=SCOPE, limits=Limits(max_write_bytes=100))
    with pytest.raises(ToolError, match="100-byte limit"):
        ws.create("backend/big.py", "x" * 101)
    assert not (root / "backend/big.py").exists()
    with pytest.raises(ToolError, match="100-byte limit"):
        ws.str_replace("backend/app/main.py", "VALUE = 1", "VALUE = " + "1" * 100)
    assert (root / "backend/app/main.py").read_text() == MAIN_PY


def test_nul_characters_are_refused(ws, root):
    """A NUL would make git and the gates take the file for binary: text only."""
    with pytest.raises(ToolError, match="NUL"):
        ws.create("backend/tool.sh", "KEY=x\n# \0\n")
    assert not (root / "backend/tool.sh").exists()
    with pytest.raises(ToolError, match="NUL"):
        ws.str_replace("backend/app/main.py", "VALUE = 1", "VALUE = 1  # \0")
    assert (root / "backend/app/main.py").read_text() == MAIN_PY


# --- scope ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("README.md", "outside this task's write scope"),
        ("docs/new.md", "outside this task's write scope"),
        ("backendx/a.py", "outside this task's write scope"),
        (".github/workflows/ci.yml", "outside this task's write scope"),
        ("backend/app/settings.py", "protected"),
    ],
)
def test_writes_outside_scope_are_refused(ws, root, path, message):
    """create, str_replace and insert all refuse paths outside the scope or protected."""
    before = snapshot(root)
    for call in (
        lambda: ws.create(path, "x\n"),
        lambda: ws.str_replace(path, "D", "x"),
        lambda: ws.insert(path, 0, "x"),
    ):
        with pytest.raises(ToolError, match=message):
            call()
    assert snapshot(root) == before


# --- escapes --------------------------------------------------------------------------------


ESCAPES = [
    "../outside/secret.txt",
    "../outside/",
    "backend/../../outside/secret.txt",
    "a/../../x",
    "..",
    "/etc/passwd",
    "//etc/passwd",
    "{root}/backend/app/main.py",
    "{root}/../outside/secret.txt",
    "{root}-evil/secret.txt",
    "../wt-evil/secret.txt",
    "backend/app/main.py\x00",
    "backend/\x00../../outside/secret.txt",
    "backend\\..\\..\\outside\\secret.txt",
    "..\\outside\\secret.txt",
    ".git/config",
    ".git",
    "./.git/HEAD",
    "backend/.GIT/x",
    ".Git/config",
    "a/" * 2100 + "x",
    "backend/\ud800.py",
    "backend/a\nb.py",
    # what Windows or macOS checkouts read as .git, or cannot hold
    "backend/.git./hooks/post-checkout",
    "backend/.git /hooks/post-checkout",
    "backend/GIT~1/config",
]


@pytest.mark.parametrize(
    "name",
    [
        "backend/app/aux.py",
        "backend/app/a:b.py",
        "backend/app/x.py.",
        "backend/app/m\u200dx.py",
        "backend/app/.gi\u200ct",  # macOS reads it as .git
        "backend/app/main\u202ey.py",  # a bidi override: shows as main.py with a reversed tail
        "backend/app/pack\u00adage.json",  # a soft hyphen: shows as package.json
    ],
)
def test_names_a_checkout_cannot_hold_are_not_written_but_existing_ones_are_read(ws, root, name):
    """New Windows-invalid or invisible-character names are refused; existing ones are read."""
    with pytest.raises(ToolError, match=r"Windows|invisible"):
        ws.create(name, "x = 1\n")
    (root / name).write_text("x = 1\n")
    assert "x = 1" in ws.view(name)
    assert name.rsplit("/", 1)[1] in ws.view("backend/app")


@pytest.mark.parametrize("template", ESCAPES)
def test_escapes_are_refused_and_nothing_outside_changes(ws, root, outside, template):
    """Every escape is refused by every tool; nothing in or outside the worktree changes."""
    evil = root.parent / "wt-evil"
    evil.mkdir()
    (evil / "secret.txt").write_text(CANARY)
    path = template.replace("{root}", str(root))
    before = (snapshot(root), snapshot(outside), snapshot(evil))
    calls = [
        lambda: ws.view(path),
        lambda: ws.create(path, "pwned\n"),
        lambda: ws.str_replace(path, "SECRET", "pwned"),
        lambda: ws.insert(path, 0, "pwned"),
        lambda: ws.edit({"command": "view", "path": path}),
    ]
    for call in calls:
        with pytest.raises(ToolError) as refused:
            call()
        assert "SECRET" not in str(refused.value)
    assert (snapshot(root), snapshot(outside), snapshot(evil)) == before


def test_percent_encoding_is_a_literal_name(ws, root, outside):
    """%2e%2e is a directory name like any other: it can only ever be inside the worktree."""
    before = snapshot(outside)
    ws.create("backend/%2e%2e/%2e%2e/x.py", "x = 1\n")
    assert (root / "backend/%2e%2e/%2e%2e/x.py").read_text() == "x = 1\n"
    assert (root / "backend/%2e%2e").resolve().is_relative_to(root)
    with pytest.raises(ToolError, match="does not exist"):
        ws.view("%2e%2e/outside/secret.txt")
    assert snapshot(outside) == before


# --- symbolic links -------------------------------------------------------------------------


def test_file_link_to_etc_passwd_is_not_followed(ws, root):
    """A file link to /etc/passwd can be neither read nor written, nor searched."""
    (root / "backend/passwd").symlink_to("/etc/passwd")
    passwd = Path("/etc/passwd").read_bytes()
    for call in (
        lambda: ws.view("backend/passwd"),
        lambda: ws.create("backend/passwd", "pwned\n"),
        lambda: ws.str_replace("backend/passwd", "root", "pwned"),
        lambda: ws.insert("backend/passwd", 0, "pwned"),
    ):
        with pytest.raises(ToolError, match="symbolic link"):
            call()
    assert (root / "backend/passwd").is_symlink()
    assert Path("/etc/passwd").read_bytes() == passwd
    assert ws.search("root:") == "no matches"
    assert "backend/passwd" not in ws.files()


def test_directory_link_to_outside_is_not_followed(ws, root, outside):
    """Reading, writing and searching through a directory link to outside are all refused."""
    (root / "backend/out").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    for call in (
        lambda: ws.view("backend/out"),
        lambda: ws.view("backend/out/secret.txt"),
        lambda: ws.create("backend/out/new.py", "pwned\n"),
        lambda: ws.create("backend/out/sub/new.py", "pwned\n"),
        lambda: ws.str_replace("backend/out/main.py", "VALUE = 1", "pwned"),
        lambda: ws.insert("backend/out/main.py", 0, "pwned"),
    ):
        with pytest.raises(ToolError, match="backend/out is a symbolic link"):
            call()
    assert snapshot(outside) == before
    assert sorted(p.name for p in outside.iterdir()) == ["main.py", "secret.txt"]
    assert ws.search("TOP SECRET") == "no matches"
    assert not [path for path in ws.files() if path.startswith("backend/out")]


def test_link_to_main_repository_git_config_in_linked_worktree(tmp_path):
    """In a linked worktree, a link to the main repository's .git/config is refused."""
    main = tmp_path / "main"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    (main / "README.md").write_text("# main\n")
    git(main, "add", "README.md")
    git(main, "commit", "-q", "-m", "initial")
    git(main, "worktree", "add", "-q", "-b", "task", str(tmp_path / "linked"))
    linked = tmp_path / "linked"
    assert (linked / ".git").is_file()  # a gitfile pointing into the main repository
    config = main / ".git/config"
    (linked / "backend").mkdir()
    (linked / "backend/config").symlink_to(config)
    (linked / "gitdir").symlink_to(main / ".git", target_is_directory=True)
    before = config.read_bytes(), config.stat().st_mtime_ns
    ws = Workspace(linked, write_scope=("**",))
    for call in (
        lambda: ws.view("backend/config"),
        lambda: ws.create("backend/config", "[core]\n\tfsmonitor = /tmp/pwn\n"),
        lambda: ws.insert("backend/config", 0, "[core]\n\tfsmonitor = /tmp/pwn"),
        lambda: ws.view("gitdir/config"),
        lambda: ws.create("gitdir/hooks/pre-commit", "#!/bin/sh\n"),
    ):
        with pytest.raises(ToolError, match="symbolic link"):
            call()
    with pytest.raises(ToolError, match=r"\.git"):
        ws.view(".git")
    assert (config.read_bytes(), config.stat().st_mtime_ns) == before
    assert not (main / ".git/hooks/pre-commit").exists()
    assert ws.files() == ["README.md"]
    assert ws.search("gitdir|repositoryformatversion") == "no matches"


def test_directory_swapped_for_a_link_after_construction(ws, root, outside):
    """A directory replaced by a link after the Workspace exists is still refused."""
    before = snapshot(outside)
    (root / "backend/app").rename(root / "backend/app-real")
    (root / "backend/app").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ToolError, match="symbolic link"):
        ws.create("backend/app/main.py", "pwned\n")
    with pytest.raises(ToolError, match="symbolic link"):
        ws.create("backend/app/new/x.py", "pwned\n")
    with pytest.raises(ToolError, match="symbolic link"):
        ws.view("backend/app/secret.txt")
    assert snapshot(outside) == before


def test_racing_link_swaps_never_lead_outside(ws, root, outside):
    """While another thread keeps swapping a directory and a link, edits never escape."""
    before = snapshot(outside)
    app, real, link = root / "backend/app", root / "backend/app-real", root / "backend/app-link"
    link.symlink_to(outside, target_is_directory=True)
    done = threading.Event()

    def swap() -> None:
        while not done.is_set():
            for source, target in ((app, real), (link, app), (app, link), (real, app)):
                with contextlib.suppress(OSError):
                    source.rename(target)

    racer = threading.Thread(target=swap)
    racer.start()
    edits = 0
    try:
        for _ in range(300):
            with contextlib.suppress(ToolError):
                ws.str_replace("backend/app/main.py", "VALUE = 1", "VALUE = 1  # edited")
                edits += 1
    finally:
        done.set()
        racer.join()
    assert snapshot(outside) == before
    (inside,) = [d for d in (app, real) if d.is_dir() and not d.is_symlink()]
    assert (inside / "main.py").read_text().count("# edited") == edits


# --- search ---------------------------------------------------------------------------------


def test_search_lists_matches_by_path(ws):
    """Matches come as path:line: text, sorted by path, .git skipped, hidden files included."""
    assert ws.search("needle").splitlines() == [
        ".env.example:1: KEY=needle",
        "backend/app/deep/er/x.py:1: X = 'needle'",
        "docs/guide.md:3: needle in the docs",
    ]


@pytest.mark.parametrize(
    ("glob", "paths"),
    [
        ("backend/**/*.py", ["backend/app/deep/er/x.py"]),
        ("*.md", ["docs/guide.md"]),
        ("docs", ["docs/guide.md"]),
        ("docs/", ["docs/guide.md"]),
        ("backend/*.py", []),
        ("**", [".env.example", "backend/app/deep/er/x.py", "docs/guide.md"]),
    ],
)
def test_search_glob(ws, glob, paths):
    """A glob limits the files; without a slash it matches names at any depth."""
    out = ws.search("needle", glob)
    assert [line.split(":")[0] for line in out.splitlines() if ":" in line] == paths
    assert (out == "no matches") == (not paths)


def test_search_is_case_sensitive_per_line_regex(ws):
    """The pattern is a case-sensitive Python regex applied to each line."""
    assert ws.search("NEEDLE") == "no matches"
    assert ws.search(r"^def \w+\(\):$") == "backend/app/main.py:6: def run():"
    assert ws.search(r"VALUE = 1\n") == "no matches"


def test_search_matches_crlf_lines_without_the_cr(ws, root):
    """In a CRLF file, $ matches at the end of the visible text and no CR is printed."""
    (root / "win.txt").write_bytes(b"alpha\r\nbeta\r\n")
    assert ws.search("a$") == "win.txt:1: alpha\nwin.txt:2: beta"


def test_search_caps_matches_and_long_lines(root):
    """At most max_matches lines are shown, then a count; lines are cut at 300 chars."""
    (root / "many.txt").write_text("hit\n" * 10 + "hit " + "y" * 1000 + "\n")
    out = Workspace(root, write_scope=SCOPE, limits=Limits(max_matches=3)).search("hit")
    assert out.splitlines() == [
        "many.txt:1: hit",
        "many.txt:2: hit",
        "many.txt:3: hit",
        "… 8 more; narrow the pattern or glob",
    ]
    long = Workspace(root, write_scope=SCOPE).search("y{1000}")
    assert long == "many.txt:11: hit " + "y" * 296 + "…"


def test_search_skips_binary_big_and_over_budget(root):
    """Binary files and files over the read limit are skipped; the byte budget stops a search."""
    (root / "a.bin").write_bytes(b"needle\x00")
    (root / "b.txt").write_text("needle " * 100)
    small = Workspace(root, write_scope=SCOPE, limits=Limits(max_read_bytes=200))
    assert "a.bin" not in small.search("needle")
    assert "b.txt" not in small.search("needle")
    tight = Workspace(root, write_scope=SCOPE, limits=Limits(max_search_bytes=30))
    out = tight.search("needle")
    assert out.splitlines()[-1] == "[search stopped after 30 bytes; narrow it with a glob]"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("(unclosed", "invalid regular expression"), ("a" * 501, "longer than 500")],
)
def test_search_refuses_bad_patterns(ws, pattern, message):
    """An invalid or overlong regex is the agent's error."""
    with pytest.raises(ToolError, match=message):
        ws.search(pattern)


# --- files ----------------------------------------------------------------------------------


def test_files_lists_regular_files_sorted(ws, root, outside):
    """files() is every regular file, sorted, without .git, links or what they point to."""
    (root / "backend/out").symlink_to(outside, target_is_directory=True)
    (root / "backend/pw").symlink_to("/etc/passwd")
    (root / "backend/app.py").write_text("")
    assert ws.files() == [
        ".env.example",
        ".github/workflows/ci.yml",
        "README.md",
        "backend/app.py",
        "backend/app/deep/er/x.py",
        "backend/app/main.py",
        "backend/app/settings.py",
        "docs/guide.md",
    ]
    assert ws.files() == sorted(ws.files())
    assert ws.files(("backend/**",)) == [
        "backend/app.py",
        "backend/app/deep/er/x.py",
        "backend/app/main.py",
        "backend/app/settings.py",
    ]
    assert ws.files(("*.md",)) == ["README.md"]


# --- edit: the text-editor tool input -------------------------------------------------------


def test_edit_dispatches_every_command(ws, root):
    """edit() runs view, create, str_replace and insert (both insert field names)."""
    assert ws.edit({"command": "create", "path": "backend/e.py", "file_text": "a\n"}) == (
        "created backend/e.py (1 line)"
    )
    ws.edit({"command": "str_replace", "path": "backend/e.py", "old_str": "a", "new_str": "b"})
    ws.edit({"command": "insert", "path": "backend/e.py", "insert_line": 1, "insert_text": "c"})
    ws.edit({"command": "insert", "path": "backend/e.py", "insert_line": 0, "new_str": "z"})
    ws.edit({"command": "str_replace", "path": "backend/e.py", "old_str": "c\n"})
    assert (root / "backend/e.py").read_text() == "z\nb\n"
    assert (
        ws.edit({"command": "view", "path": "backend/e.py", "view_range": [2, -1]}) == "     2\tb"
    )
    assert ws.edit({"command": "view", "path": "backend/e.py", "view_range": None}).count("\n") == 1


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ({"command": "undo_edit", "path": "backend/e.py"}, "not supported"),
        ({"command": "delete", "path": "backend/e.py"}, "unknown command 'delete'"),
        ({"path": "backend/e.py"}, "unknown command None"),
        ({"command": "view"}, "missing field 'path'"),
        ({"command": "view", "path": 3}, "path must be a string"),
        ({"command": "view", "path": "README.md", "view_range": [1]}, "two integers"),
        ({"command": "view", "path": "README.md", "view_range": "1,2"}, "two integers"),
        ({"command": "view", "path": "README.md", "view_range": [1, True]}, "two integers"),
        ({"command": "create", "path": "backend/e.py"}, "missing field 'file_text'"),
        ({"command": "create", "path": "backend/e.py", "file_text": None}, "missing field"),
        ({"command": "str_replace", "path": "backend/e.py", "new_str": "x"}, "'old_str'"),
        (
            {"command": "str_replace", "path": "README.md", "old_str": "#", "new_str": 1},
            "new_str must be a string",
        ),
        ({"command": "insert", "path": "backend/e.py", "insert_text": "x"}, "'insert_line'"),
        (
            {"command": "insert", "path": "backend/e.py", "insert_line": "1", "insert_text": "x"},
            "insert_line must be an integer",
        ),
        (
            {"command": "insert", "path": "backend/e.py", "insert_line": True, "new_str": "x"},
            "insert_line must be an integer",
        ),
        ({"command": "insert", "path": "backend/e.py", "insert_line": 0}, "'new_str'"),
        ({"command": "create", "path": "", "file_text": "x"}, "path is empty"),
    ],
)
def test_edit_misuse_is_a_tool_error(ws, command, message):
    """Missing or ill-typed fields and unknown commands are explained to the model."""
    with pytest.raises(ToolError, match=message):
        ws.edit(command)


def test_a_catastrophic_search_pattern_stops_at_its_deadline(tmp_path):
    """A backtracking pattern is stopped by the search's time limit, with an error."""
    (tmp_path / "a.py").write_text("a" * 60 + "b\n")
    space = Workspace(tmp_path, write_scope=("**",), limits=Limits(search_seconds=0.2))
    with pytest.raises(ToolError, match=r"longer than 0\.2 s"):
        space.search(r"(a|aa)+$")


def test_fingerprint_changes_with_the_file_and_says_absent(tmp_path):
    """The fingerprint follows a file's bytes; a missing file is "absent"."""
    space = Workspace(tmp_path, write_scope=("**",))
    assert space.fingerprint("x.txt") == "absent"
    space.create("x.txt", "one\n")
    first = space.fingerprint("x.txt")
    space.insert("x.txt", 1, "two\n")
    assert space.fingerprint("x.txt") not in {first, "absent"}
