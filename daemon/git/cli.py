"""Running git itself: a fixed argv, a bare environment, and no repository-controlled programs.

Every call disables hooks and fsmonitor, refuses the ``ext::`` transport, pins the
signature-checking programs, and reads no global or system configuration: the
repositories speckitd works on are untrusted (DESIGN §9). Credentials travel in
``GIT_CONFIG_*`` environment entries, never in the argv that ``ps`` shows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from daemon.errors import RepositoryError
from daemon.logs import scrub

GIT_SAFETY: Final = (
    "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
    "-c", "protocol.ext.allow=never", "-c", "gpg.program=gpg", "-c", "gpg.ssh.program=ssh-keygen",
    "-c", "gpg.x509.program=gpgsm",
)  # fmt: skip


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a git subprocess: PATH and HOME only, no system config."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,  # ~/.gitconfig could name programs to run
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",  # refs/replace/* would swap what a commit holds
    }
    env.update(extra or {})
    return env


def wait_readable(fd: int, seconds: float) -> bool:
    """Whether ``fd`` has data (or its end) within ``seconds`` (poll: any fd number)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(seconds * 1000))))


def widen(pipe: object, size: int = 1 << 20) -> None:
    """Let a writer run up to ``size`` ahead of its reader (Linux pipes hold 64 KiB by default)."""
    # Not Linux, or over the system's limit: a smaller pipe only costs speed.
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, size)  # type: ignore[attr-defined]


def config_env(settings: Mapping[str, str]) -> dict[str, str]:
    """``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n`` entries that set ``settings`` for one call."""
    env = {"GIT_CONFIG_COUNT": str(len(settings))}
    for index, (key, value) in enumerate(settings.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``git <safety> args`` in ``cwd``; a failure is a RepositoryError quoting git."""
    argv = ["git", *GIT_SAFETY, *args]
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=git_env(env),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise RepositoryError(f"git {args[0]} in {cwd} could not run: {error}") from None
    if check and done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        text = message[-1] if message else f"exit {done.returncode}"
        for secret in secrets:
            if secret:
                text = text.replace(secret, "[REDACTED]")
        raise RepositoryError(f"git {args[0]} failed in {cwd}: {scrub(text)}")
    return done
