"""Running the target repository's own checks (linters, tests) confined.

Repository content is untrusted (DESIGN §9): its ``conftest.py``, plugins and tests
run here. :class:`Bwrap` runs each command under bubblewrap:

- fresh namespaces (user, pid, net, ipc, uts, cgroup): no network but the sandbox's
  own loopback, no host ``/proc``, no nested user namespaces, no capabilities;
- a file system of ``/usr`` (plus the host's ``/bin``, ``/lib*`` links), ``/etc`` minus
  what only root may read (the sandbox user maps to our own uid, so that matters),
  fresh ``/proc``, ``/dev`` and ``/tmp``, and the worktree read-write with its
  ``.git`` read-only; everything else (``$HOME``, ``/root``, ``/run``, ``/var``, the
  state directory) is not mounted at all;
- a clean environment: PATH, HOME=/tmp, LANG, PYTHONDONTWRITEBYTECODE and the caller's
  entries; bwrap itself starts with it too, so ``/proc/1/environ`` shows nothing else;
- limits: a wall-clock timeout (the process group is killed, and the PID namespace
  dies with bwrap), ``RLIMIT_AS`` and ``RLIMIT_NPROC`` set by ``prlimit`` inside. The
  kernel never applies ``RLIMIT_NPROC`` to host root, not even inside a user
  namespace, so each run also gets its own pids cgroup when one is writable.

:func:`choose` maps the ``checks.sandbox`` setting to a runner; ``"none"`` is the
explicit opt-out (:class:`Unconfined`), never a silent fallback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import selectors
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import structlog

from daemon.errors import ConfigError

__all__ = ["Bwrap", "CheckRun", "Sandbox", "SandboxError", "Unconfined", "choose", "split_command"]

log = structlog.get_logger("speckitd.sandbox")

HEAD_BYTES: Final = 20_000
TAIL_BYTES: Final = 20_000
_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_TMP: Final = "/tmp"  # noqa: S108 - the sandbox's own fresh tmpfs, not the host's /tmp
_SYSTEM_DIRS: Final = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_ALWAYS_HIDDEN: Final = ("/etc/speckitd", "/etc/credstore", "/etc/credstore.encrypted")
_CGROUPS: Final = Path("/sys/fs/cgroup")
_GRACE: Final = 2.0  # seconds to wait for output after the command itself exited
_HINT: Final = 'install bubblewrap, or set checks.sandbox = "none" to run checks unconfined'


class SandboxError(ConfigError):
    """No usable sandbox for the ``checks.sandbox`` setting."""


@dataclass(frozen=True, slots=True)
class CheckRun:
    """The outcome of one check command.

    ``returncode`` is None when the run was killed at its time limit (``timed_out``);
    ``output`` is stdout and stderr merged, cut in the middle when longer than
    ``HEAD_BYTES + TAIL_BYTES`` (``truncated``); ``duration`` is in seconds.
    """

    argv: tuple[str, ...]
    returncode: int | None
    output: str
    timed_out: bool
    truncated: bool
    duration: float

    @property
    def passed(self) -> bool:
        """Whether the command exited 0 within its time limit."""
        return self.returncode == 0 and not self.timed_out


class Sandbox(Protocol):
    """Runs one check command in a worktree, under limits."""

    def run(
        self,
        argv: Sequence[str],
        *,
        worktree: Path,
        timeout: float,
        memory_bytes: int,
        env: Mapping[str, str] | None = None,
    ) -> CheckRun:
        """Run ``argv`` in ``worktree``; the command's own failure is a result, not an error."""
        ...


def split_command(command: str) -> list[str]:
    """Split a ``checks.commands`` entry into an argv (shell quoting rules, no shell)."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise ConfigError(f"checks.commands: cannot split {command!r}: {error}") from None
    if not argv:
        raise ConfigError("checks.commands: empty command")
    return argv


def choose(mode: str, *, path: str | None = None) -> Sandbox:
    """The runner for ``checks.sandbox`` (``auto``, ``bwrap`` or ``none``).

    ``auto`` and ``bwrap`` both need a working bubblewrap (probed once by running
    ``true`` in it) and never fall back; ``auto`` is where other sandboxes would be
    tried. ``path`` is where to look for ``bwrap`` and ``prlimit`` (default: PATH).
    """
    if mode == "none":
        return Unconfined(shutil.which("prlimit", path=path))
    if mode not in {"auto", "bwrap"}:
        raise SandboxError(f'checks.sandbox must be "auto", "bwrap" or "none", not {mode!r}')
    bwrap, prlimit = shutil.which("bwrap", path=path), shutil.which("prlimit", path=path)
    if bwrap is None:
        raise SandboxError(f"no sandbox for checks: bwrap not found; {_HINT}")
    if prlimit is None:
        raise SandboxError(f"no sandbox for checks: prlimit (util-linux) not found; {_HINT}")
    return _probe(bwrap, prlimit)


@functools.cache
def _probe(bwrap: str, prlimit: str) -> Bwrap:
    """A Bwrap that has run ``true`` successfully (failures are not cached)."""
    sandbox = Bwrap(bwrap, prlimit, pids_cgroup=_pids_parent())
    with tempfile.TemporaryDirectory(prefix="speckitd-probe-") as scratch:
        run = sandbox.run(["true"], worktree=Path(scratch), timeout=30, memory_bytes=1 << 30)
    if not run.passed:
        reason = (run.output.strip().splitlines() or ["timed out" if run.timed_out else "?"])[-1]
        raise SandboxError(f"no sandbox for checks: bwrap does not work here ({reason}); {_HINT}")
    if sandbox.pids_cgroup is None and os.geteuid() == 0:
        log.warning("sandbox.process_limit_unenforced", reason="root and no writable pids cgroup")
    return sandbox


@dataclass(frozen=True, slots=True)
class Bwrap:
    """Bubblewrap confinement (the profile is described in the module docstring).

    ``nproc`` bounds the processes of one run; ``pids_cgroup`` is a pids-cgroup
    directory to create one child cgroup per run in; ``ro_binds`` are extra host
    directories (toolchains outside ``/usr``) to mount read-only.
    """

    executable: str
    prlimit: str
    nproc: int = 256
    pids_cgroup: Path | None = None
    ro_binds: tuple[Path, ...] = ()

    def argv(
        self,
        argv: Sequence[str],
        *,
        worktree: Path,
        memory_bytes: int,
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        """The bwrap command line that runs ``argv`` in ``worktree``."""
        tree = worktree.resolve(strict=True)
        command = [self.executable, "--unshare-all", "--unshare-user", "--disable-userns"]
        command += ["--die-with-parent", "--new-session", "--uid", "65534", "--gid", "65534"]
        command += ["--cap-drop", "ALL", "--clearenv"]
        for key, value in _environment(_TMP, env).items():
            command += ["--setenv", key, value]
        command += ["--ro-bind", "/usr", "/usr", *_system_dirs(), "--ro-bind", "/etc", "/etc"]
        command += _etc_masks()
        for extra in self.ro_binds:
            command += ["--ro-bind", str(extra), str(extra)]
        command += ["--proc", "/proc", "--dev", "/dev", "--size", str(memory_bytes)]
        command += ["--tmpfs", _TMP, "--bind", str(tree), str(tree)]
        git = tree / ".git"
        # A symlinked .git is not bound: it resolves inside the sandbox, where outside is absent.
        if git.exists() and not git.is_symlink():
            command += ["--ro-bind", str(git), str(git)]
        command += ["--remount-ro", "/", "--chdir", str(tree), "--", self.prlimit]
        command += [f"--as={memory_bytes}", f"--nproc={self.nproc}", "--core=0", "--", *argv]
        return command

    def run(
        self,
        argv: Sequence[str],
        *,
        worktree: Path,
        timeout: float,
        memory_bytes: int,
        env: Mapping[str, str] | None = None,
    ) -> CheckRun:
        """Run ``argv`` confined to ``worktree``, killed after ``timeout`` seconds."""
        command = self.argv(argv, worktree=worktree, memory_bytes=memory_bytes, env=env)
        clean = _environment(_TMP, env)
        if self.pids_cgroup is None:
            return _execute(command, argv=argv, worktree=worktree, env=clean, timeout=timeout)
        with contextlib.ExitStack() as cleanup:
            group = _make_cgroup(self.pids_cgroup, self.nproc)
            cleanup.callback(_remove_cgroup, group)
            info_r, info_w = os.pipe()
            cleanup.callback(os.close, info_r)
            block_r, block_w = os.pipe()
            cleanup.callback(os.close, block_w)
            # bwrap reports its child's pid on --info-fd, then waits on --block-fd before
            # it runs the command: the whole sandbox starts inside the cgroup.
            command[1:1] = ["--info-fd", str(info_w), "--block-fd", str(block_r)]

            def admit() -> None:
                info = b"".join(iter(functools.partial(os.read, info_r, 4096), b""))
                if info:
                    (group / "cgroup.procs").write_text(str(json.loads(info)["child-pid"]))
                with contextlib.suppress(BrokenPipeError):
                    os.write(block_w, b"go")

            return _execute(
                command,
                argv=argv,
                worktree=worktree,
                env=clean,
                timeout=timeout,
                pass_fds=(info_w, block_r),
                on_start=admit,
            )


@dataclass(frozen=True, slots=True)
class Unconfined:
    """No confinement (``checks.sandbox = "none"``, an explicit opt-out).

    The command still gets a clean environment with a private HOME and TMPDIR, the
    time limit (its process group is killed) and, when ``prlimit`` is given, the
    address-space limit.
    """

    prlimit: str | None = None

    def run(
        self,
        argv: Sequence[str],
        *,
        worktree: Path,
        timeout: float,
        memory_bytes: int,
        env: Mapping[str, str] | None = None,
    ) -> CheckRun:
        """Run ``argv`` in ``worktree`` as this process's user."""
        limits = [self.prlimit, f"--as={memory_bytes}", "--core=0", "--"] if self.prlimit else []
        with tempfile.TemporaryDirectory(prefix="speckitd-check-") as home:
            clean = _environment(home, {"TMPDIR": home, **(env or {})})
            return _execute(
                [*limits, *argv], argv=argv, worktree=worktree, env=clean, timeout=timeout
            )


def _environment(home: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The whole environment of a check: a fixed minimum plus the caller's entries."""
    base = {"PATH": _PATH, "HOME": home, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return {**base, **(extra or {})}


def _system_dirs() -> list[str]:
    """``/bin``, ``/sbin``, ``/lib*`` as the host has them: links into /usr, or directories."""
    args: list[str] = []
    for name in _SYSTEM_DIRS:
        host = Path("/", name)
        if host.is_symlink():
            args += ["--symlink", str(host.readlink()), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    return args


def _etc_masks() -> list[str]:
    """Mounts hiding what in /etc is not world-readable (shadow, host keys, TLS keys...)."""
    args: list[str] = []
    pending = ["/etc"]
    while pending:
        listed: list[os.DirEntry[str]] = []
        with contextlib.suppress(OSError), os.scandir(pending.pop()) as entries:
            listed = list(entries)
        for entry in listed:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue  # gone since the listing: nothing to hide
            hidden = entry.path in _ALWAYS_HIDDEN or not mode & stat.S_IROTH
            if stat.S_ISLNK(mode):
                continue
            if not stat.S_ISDIR(mode):
                args += ["--ro-bind", "/dev/null", entry.path] if hidden else []
            elif hidden or not mode & stat.S_IXOTH:
                args += ["--tmpfs", entry.path, "--remount-ro", entry.path]
            else:
                pending.append(entry.path)
    return args


def _pids_parent() -> Path | None:
    """A pids-cgroup directory of this process we may create children in, or None."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, relative = line.split(":", 2)
            if "pids" in controllers.split(","):
                parent = _CGROUPS / "pids" / relative.lstrip("/")
            elif not controllers:
                parent = _CGROUPS / relative.lstrip("/")
            else:
                continue
            with contextlib.suppress(OSError):
                _remove_cgroup(_make_cgroup(parent, 1))
                return parent
    return None


def _make_cgroup(parent: Path, limit: int) -> Path:
    """A new child cgroup of ``parent`` allowing ``limit`` tasks; OSError if impossible."""
    if not (parent / "cgroup.procs").is_file():
        raise NotADirectoryError(f"{parent} is not a cgroup")
    group = parent / f"speckitd-check-{uuid.uuid4().hex[:12]}"
    group.mkdir()
    try:
        if not (group / "pids.max").is_file():
            raise FileNotFoundError(f"{group} has no pids controller")
        (group / "pids.max").write_text(str(limit))
    except OSError:
        group.rmdir()
        raise
    return group


def _remove_cgroup(group: Path) -> None:
    """Kill what is left in a run's cgroup and remove it (dying tasks leave it shortly)."""
    for _ in range(400):
        with contextlib.suppress(OSError):
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        try:
            group.rmdir()
        except OSError:
            time.sleep(0.005)
        else:
            return
    log.warning("sandbox.cgroup_left_behind", path=str(group))


def _execute(
    command: list[str],
    *,
    argv: Sequence[str],
    worktree: Path,
    env: dict[str, str],
    timeout: float,
    pass_fds: tuple[int, ...] = (),
    on_start: Callable[[], None] | None = None,
) -> CheckRun:
    """Run ``command`` in its own session with merged, bounded output and a deadline.

    ``pass_fds`` go to the child and are closed here; ``on_start`` runs once it started.
    """
    started = time.monotonic()
    output = _Capture()
    read_fd, write_fd = os.pipe()
    try:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                cwd=worktree,
                env=env,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        finally:
            for fd in (write_fd, *pass_fds):
                os.close(fd)
    except OSError as error:  # only unconfined without prlimit: the command is missing
        output.feed(f"{command[0]}: {error.strerror}\n".encode())
        returncode: int | None = 127
    else:
        returncode = _supervise(process, read_fd, output, started + timeout, on_start)
    finally:
        os.close(read_fd)
    text, truncated = output.text()
    return CheckRun(
        argv=tuple(argv),
        returncode=returncode,
        output=text,
        timed_out=returncode is None,
        truncated=truncated,
        duration=time.monotonic() - started,
    )


def _supervise(
    process: subprocess.Popen[bytes],
    read_fd: int,
    output: _Capture,
    deadline: float,
    on_start: Callable[[], None] | None,
) -> int | None:
    """Collect output until exit or deadline, then kill the group; None when it timed out."""
    try:
        if on_start is not None:
            on_start()
        exited = _pump(process.pid, read_fd, output, deadline)
    finally:
        # The leader is not reaped yet, so its group id cannot have been reused.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        _drain(read_fd, output)
        returncode = process.wait()
    return returncode if exited else None


def _pump(pid: int, read_fd: int, output: _Capture, deadline: float) -> bool:
    """Copy output until the process exits and its output ends; False on timeout."""
    exited = False
    pidfd = os.pidfd_open(pid)
    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ)
        selector.register(pidfd, selectors.EVENT_READ)
        try:
            while selector.get_map() and (remaining := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(remaining):
                    if key.fd == pidfd:
                        exited = True
                        selector.unregister(pidfd)
                        deadline = min(deadline, time.monotonic() + _GRACE)
                    elif data := os.read(read_fd, 65536):
                        output.feed(data)
                    else:
                        selector.unregister(read_fd)
        finally:
            os.close(pidfd)
    return exited


def _drain(read_fd: int, output: _Capture) -> None:
    """Take what is still buffered in the pipe without waiting for writers."""
    os.set_blocking(read_fd, False)
    with contextlib.suppress(BlockingIOError):
        while data := os.read(read_fd, 65536):
            output.feed(data)


class _Capture:
    """The first ``HEAD_BYTES`` and last ``TAIL_BYTES`` of a stream, and its length."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        room = HEAD_BYTES - len(self.head)
        self.head += data[:room]
        self.tail += data[room:]
        del self.tail[:-TAIL_BYTES]

    def text(self) -> tuple[str, bool]:
        cut = self.size - len(self.head) - len(self.tail)
        if not cut:
            return (self.head + self.tail).decode(errors="replace"), False
        head, tail = self.head.decode(errors="replace"), self.tail.decode(errors="replace")
        return f"{head}\n[... {cut} bytes cut ...]\n{tail}", True
