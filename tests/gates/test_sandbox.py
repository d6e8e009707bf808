"""The checks sandbox: what a hostile check in the target repository can and cannot do.

Each test writes a small plain-Python ``check.py`` into a fixture worktree, runs it
as ``python3 check.py`` and asserts on the markers it prints.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import textwrap
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from daemon.errors import ConfigError
from daemon.gates.sandbox import (
    HEAD_BYTES,
    TAIL_BYTES,
    Bwrap,
    CheckRun,
    Sandbox,
    SandboxError,
    Unconfined,
    choose,
    split_command,
)

CANARY_NAME = "SPECKITD_CANARY"
CANARY = "sk-ant-canary-5e1f0c2d9b8a"
MEMORY = 1 << 30


@pytest.fixture
def sandbox() -> Sandbox:
    """The bubblewrap sandbox; skipped where bwrap is not installed (CI installs it)."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap (bwrap) is not installed")
    return choose("bwrap")


@pytest.fixture(params=["bwrap", "none"])
def runner(request: pytest.FixtureRequest) -> Sandbox:
    """Each runner in turn: the bwrap sandbox and the unconfined opt-out."""
    if request.param == "bwrap":
        confined: Sandbox = request.getfixturevalue("sandbox")
        return confined
    return choose("none")


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A target-repository worktree with a ``.git`` directory."""
    tree = tmp_path / "wt"
    (tree / ".git" / "hooks").mkdir(parents=True)
    (tree / ".git" / "config").write_text("[core]\n\tbare = false\n")
    return tree


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real TCP server on the caller's loopback."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def check(
    runner: Sandbox,
    worktree: Path,
    script: str,
    *args: str,
    timeout: float = 60.0,
    memory_bytes: int = MEMORY,
    env: Mapping[str, str] | None = None,
) -> CheckRun:
    (worktree / "check.py").write_text(textwrap.dedent(script))
    return runner.run(
        ["python3", "check.py", *args],
        worktree=worktree,
        timeout=timeout,
        memory_bytes=memory_bytes,
        env=env,
    )


SECRETS = """
    import os, sys
    name = sys.argv[1]
    def environ(pid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as file:
                return file.read()
        except OSError:  # unconfined, pid 1 is the host's init
            return b""
    leaked = name in os.environ or any(name.encode() in environ(pid) for pid in ("self", 1))
    print("SECRET=present" if leaked else "SECRET=absent")
    print("HOME=" + os.environ["HOME"])
    for path in sys.argv[2:]:
        try:
            if os.path.isdir(path):
                seen = bool(os.listdir(path))
            else:
                with open(path, "rb") as file:
                    seen = bool(file.read(1))
        except OSError:
            seen = False
        print(("VISIBLE=" if seen else "HIDDEN=") + path)
"""


def test_secrets_and_host_state_are_invisible(sandbox, worktree, tmp_path, monkeypatch):
    """The caller's env, its HOME, /root, /run, the state dir and /etc/shadow are hidden."""
    monkeypatch.setenv(CANARY_NAME, CANARY)
    state = tmp_path / "state"
    state.mkdir()
    (state / "speckitd.sqlite").write_text(CANARY)
    hidden = [str(Path.home()), "/root", "/run", str(state), "/etc/shadow", "/var"]
    run = check(sandbox, worktree, SECRETS, CANARY_NAME, *hidden, env={"CI": "true"})
    assert run.returncode == 0, run.output
    assert "SECRET=absent" in run.output
    assert "HOME=/tmp" in run.output
    assert CANARY not in run.output
    for path in hidden:
        assert f"HIDDEN={path}" in run.output


def test_unconfined_still_gets_a_clean_environment(worktree, tmp_path, monkeypatch):
    """``none`` runs unconfined (host files visible) but without the caller's environment."""
    monkeypatch.setenv(CANARY_NAME, CANARY)
    host_file = tmp_path / "host.txt"
    host_file.write_text("on the host")
    runner = choose("none")
    run = check(runner, worktree, SECRETS, CANARY_NAME, str(host_file))
    assert isinstance(runner, Unconfined)
    assert run.returncode == 0, run.output
    assert "SECRET=absent" in run.output
    assert f"HOME={Path.home()}\n" not in run.output
    assert f"VISIBLE={host_file}" in run.output


CONNECT = """
    import socket, sys
    for target in sys.argv[1:]:
        host, port = target.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
            print("OPEN=" + target)
        except OSError as error:
            print("BLOCKED=" + target, type(error).__name__)
"""


def test_network_is_unreachable(sandbox, worktree, listener):
    """Neither the caller's loopback server nor any outside address can be reached."""
    port = listener.getsockname()[1]
    targets = [f"127.0.0.1:{port}", "192.0.2.1:80"]
    run = check(sandbox, worktree, CONNECT, *targets)
    assert run.returncode == 0, run.output
    for target in targets:
        assert f"BLOCKED={target}" in run.output
    listener.setblocking(False)  # noqa: FBT003 - the socket API's own positional flag
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_the_loopback_server_is_reachable_unconfined(worktree, listener):
    """Control for the network test: the same script reaches the server without a sandbox."""
    target = f"127.0.0.1:{listener.getsockname()[1]}"
    run = check(choose("none"), worktree, CONNECT, target)
    assert f"OPEN={target}" in run.output


WRITE = """
    import sys
    for path in sys.argv[1:]:
        try:
            with open(path, "w") as file:
                file.write("planted")
            print("WROTE=" + path)
        except OSError:
            print("DENIED=" + path)
"""


def test_writes_outside_the_worktree_never_reach_the_host(sandbox, worktree, tmp_path):
    """System paths refuse writes; the worktree's neighbour lands on a throwaway tmpfs."""
    name = f"speckitd-canary-{uuid.uuid4().hex}"
    system = [f"/root/{name}", f"/etc/{name}", f"/usr/{name}", f"/{name}"]
    neighbour = tmp_path / name
    run = check(sandbox, worktree, WRITE, *system, str(neighbour))
    assert run.returncode == 0, run.output
    for path in system:
        assert f"DENIED={path}" in run.output
        assert not Path(path).exists()
    assert not neighbour.exists()


def test_writing_inside_the_worktree_works(runner, worktree):
    """Checks may write caches and reports into the worktree; stderr is captured too."""
    script = """
        import sys
        from pathlib import Path
        Path("build").mkdir()
        Path("build/report.txt").write_text("built")
        print("WROTE", flush=True)
        print("ERR-MARK", file=sys.stderr)
    """
    run = check(runner, worktree, script)
    assert run.returncode == 0, run.output
    assert "WROTE" in run.output
    assert "ERR-MARK" in run.output
    assert not run.truncated
    assert (worktree / "build" / "report.txt").read_text() == "built"


GIT = """
    from pathlib import Path
    git = Path(".git")
    print("READ=" + (git / "config" if git.is_dir() else git).read_text().split()[0])
    target = git / "hooks" / "pre-commit" if git.is_dir() else git
    attempts = {
        "WRITE": lambda: target.write_text("#!/bin/sh\\ntouch /tmp/pwned\\n"),
        "RENAME": lambda: git.rename("moved"),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            print(name + "=allowed")
        except OSError:
            print(name + "=denied")
"""


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_git_metadata_is_readable_but_read_only(sandbox, worktree, kind):
    """``.git`` (a repository's directory or a worktree's file) can be read, never changed."""
    if kind == "file":
        shutil.rmtree(worktree / ".git")
        (worktree / ".git").write_text("gitdir: /srv/main/.git/worktrees/wt\n")
    before = {p: p.read_bytes() for p in worktree.rglob("*") if p.is_file()}
    run = check(sandbox, worktree, GIT)
    assert run.returncode == 0, run.output
    assert ("READ=[core]" if kind == "directory" else "READ=gitdir:") in run.output
    assert "WRITE=denied" in run.output
    assert "RENAME=denied" in run.output
    after = {p: p.read_bytes() for p in worktree.rglob("*") if p.is_file()}
    assert after == {**before, worktree / "check.py": (worktree / "check.py").read_bytes()}


FORK_BOMB = """
    import os, signal
    main = os.getpid()
    for _ in range(12):  # exponential, at most 4096 processes should the limit fail
        try:
            os.fork()
        except OSError:
            os.write(1, b"FORK=limited\\n")
            os.kill(main, signal.SIGKILL)
            break
    signal.pause()
"""


def test_a_fork_bomb_hits_the_process_limit(sandbox, worktree):
    """A fork bomb fails inside, the run ends, the caller still forks, no cgroup is left."""
    run = check(sandbox, worktree, FORK_BOMB, timeout=20.0)
    assert not run.timed_out, run.output
    assert "FORK=limited" in run.output
    assert subprocess.run(["true"], check=False).returncode == 0
    if isinstance(sandbox, Bwrap) and sandbox.pids_cgroup is not None:
        assert not list(sandbox.pids_cgroup.glob("speckitd-check-*"))


HANG = """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    print("CHILD=%d" % child.pid, flush=True)
    time.sleep(3600)
"""


def test_a_hanging_check_is_killed_at_the_time_limit(runner, worktree):
    """The run returns at its deadline with ``timed_out`` and no exit status."""
    run = check(runner, worktree, HANG, timeout=1.0)
    assert run.timed_out
    assert run.returncode is None
    assert not run.passed
    assert "CHILD=" in run.output


def test_an_unconfined_check_loses_its_children_too(worktree):
    """Without a sandbox the whole process group is killed: the hanging child does not survive."""
    run = check(choose("none"), worktree, HANG, timeout=1.0)
    pid = int(run.output.split("CHILD=")[1].split()[0])
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:  # SIGKILL is delivered asynchronously: wait (bounded) for the exit
        assert select.select([pidfd], [], [], 30)[0], f"child {pid} survived"
    finally:
        os.close(pidfd)


def test_memory_is_limited(runner, worktree):
    """Allocating beyond ``memory_bytes`` fails inside the check."""
    script = """
        try:
            block = bytearray(2 << 30)
            print("MEM=allocated")
        except MemoryError:
            print("MEM=limited")
    """
    run = check(runner, worktree, script, memory_bytes=256 << 20)
    assert "MEM=limited" in run.output


def test_long_output_keeps_head_and_tail(runner, worktree):
    """Output beyond the bound is cut in the middle, with the number of bytes cut."""
    script = """
        import sys
        sys.stdout.write("HEAD-MARK\\n" + "x" * 200_000 + "\\nTAIL-MARK\\n")
    """
    run = check(runner, worktree, script)
    total = len("HEAD-MARK\n") + 200_000 + len("\nTAIL-MARK\n")
    assert run.truncated
    assert run.output.startswith("HEAD-MARK\n")
    assert run.output.endswith("\nTAIL-MARK\n")
    assert f"[... {total - HEAD_BYTES - TAIL_BYTES} bytes cut ...]" in run.output
    assert len(run.output) < HEAD_BYTES + TAIL_BYTES + 100


@pytest.mark.parametrize("mode", ["auto", "bwrap"])
def test_no_bwrap_names_the_setting(mode, tmp_path):
    """Without bwrap on the search path there is no silent fallback: the error names the setting."""
    with pytest.raises(SandboxError, match=r'checks\.sandbox = "none"') as raised:
        choose(mode, path=str(tmp_path))
    assert isinstance(raised.value, ConfigError)


def test_an_unknown_mode_is_rejected():
    """Only auto, bwrap and none are modes."""
    with pytest.raises(SandboxError, match=r"checks\.sandbox"):
        choose("docker")


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("ruff check backend", ["ruff", "check", "backend"]),
        ("pytest -q 'backend/tests/test a.py'", ["pytest", "-q", "backend/tests/test a.py"]),
        ("echo $HOME; rm -rf /", ["echo", "$HOME;", "rm", "-rf", "/"]),
    ],
)
def test_split_command_never_involves_a_shell(command, argv):
    """Commands split with shell quoting rules into an argv; metacharacters stay literal."""
    assert split_command(command) == argv


@pytest.mark.parametrize("command", ["", "   ", "pytest 'unclosed"])
def test_split_command_rejects_empty_and_unbalanced(command):
    """An empty or unbalanced command is a settings error."""
    with pytest.raises(ConfigError, match=r"checks\.commands"):
        split_command(command)
