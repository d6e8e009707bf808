"""Paths beneath a worktree, resolved fd-relative without ever following a symbolic link.

The agent is adversarial (DESIGN §9). A path it names is first checked as text
(:func:`split`), then walked one component at a time with
``openat(O_NOFOLLOW)`` from a descriptor of the worktree root, so a link anywhere
on the way, or one swapped in after the check, fails instead of leading outside.
Writes go to a temporary file in the same directory and are renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Final

from daemon import invisible

__all__ = [
    "MAX_PATH_BYTES",
    "ToolError",
    "contents",
    "directory",
    "entries",
    "listing",
    "open_dir",
    "opened",
    "read",
    "read_fd",
    "root_fd",
    "split",
    "walk",
    "write_file",
]

MAX_PATH_BYTES: Final = 4096
MAX_DEPTH: Final = 64
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in the worktree (by a check run) must not hang us.
_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_TEMP_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_REASONS: Final = {
    errno.ENOENT: "does not exist",
    errno.ENOTDIR: "is not a directory",
    errno.EISDIR: "is a directory",
    errno.EACCES: "is not accessible (permission denied)",
    errno.EPERM: "is not accessible (operation not permitted)",
    errno.ENAMETOOLONG: "has a name that is too long",
}


class ToolError(Exception):
    """A tool call the agent got wrong.

    Its message goes back to the model as an ``is_error`` tool_result.
    """


_SHORT_GIT: Final = re.compile(r"git~\d+", re.IGNORECASE)  # the 8.3 name of .git on NTFS
_NOT_ON_WINDOWS: Final = frozenset('<>:"|?*')
_RESERVED: Final = re.compile(r"(?:con|prn|aux|nul|com\d|lpt\d)(?:\..*)?", re.IGNORECASE)


def portable(parts: tuple[str, ...], shown: str) -> None:
    """Refuse, for a new file, a name some checkout cannot hold or would show as another.

    Only writes are held to this: existing files with such names stay readable.
    """
    for part in parts:
        _portable(part, shown)


def _portable(part: str, shown: str) -> None:
    if any(invisible.is_invisible(char) for char in part):
        raise ToolError(f"path {shown} contains an invisible formatting character")
    if part[-1] in ". " or any(char in _NOT_ON_WINDOWS for char in part):
        raise ToolError(
            f"path {shown} has a name Windows cannot check out (ends in a dot or space, "
            'or holds one of <>:"|?*)'
        )
    if _RESERVED.fullmatch(part):
        raise ToolError(f"path {shown} uses a device name Windows reserves")


def split(path: str, *, allow_root: bool = False) -> tuple[str, ...]:
    """The components of a relative ``/``-separated path; :class:`ToolError` if it may not be used.

    ``.`` components, repeated and trailing slashes are dropped; ``..``, absolute paths,
    NUL, backslashes, control characters and any ``.git`` component (in any case) are
    refused, and so are names that Windows or macOS would read as ``.git`` (writes also
    pass :func:`portable`). Nothing is decoded: ``%2e%2e`` is a literal file name.
    """
    shown = _show(path)
    if "\x00" in path:
        raise ToolError(f"path {shown} contains a NUL byte")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise ToolError(f"path {shown} is not valid Unicode text") from None
    if size > MAX_PATH_BYTES:
        raise ToolError(f"path is longer than {MAX_PATH_BYTES} bytes")
    if "\\" in path:
        raise ToolError(f"path {shown} contains a backslash; separate directories with /")
    if any(ord(char) < 0x20 or char == "\x7f" for char in path):
        raise ToolError(f"path {shown} contains a control character")
    if path.startswith("/"):
        raise ToolError(f"path {shown} is absolute; give a path relative to the repository root")
    parts = tuple(part for part in path.split("/") if part not in {"", "."})
    if ".." in parts:
        raise ToolError(f"path {shown} contains '..'; paths stay inside the repository")
    # Names that Windows reads as .git (".git.", "git~1") count as .git; names holding an
    # invisible character (".gi<ZWNJ>t", which macOS reads as .git) are refused on writes.
    if any(part.rstrip(". ").lower() == ".git" or _SHORT_GIT.fullmatch(part) for part in parts):
        raise ToolError(f"path {shown} is inside .git, which the agent's tools never touch")
    if not parts and not allow_root:
        raise ToolError("path is empty; give a file path relative to the repository root")
    return parts


def _show(path: str) -> str:
    return repr(path if len(path) <= 120 else path[:120] + "…")


def _error(error: OSError, parent: int, name: str, shown: str) -> ToolError:
    """Translate a failed ``openat``: a link gets its own message, whatever the errno."""
    with contextlib.suppress(OSError):
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            return _link(shown)
    if error.errno == errno.ELOOP:
        return _link(shown)
    reason = _REASONS.get(error.errno or 0) or f"cannot be opened ({error.strerror})"
    return ToolError(f"{shown} {reason}")


def _link(shown: str) -> ToolError:
    return ToolError(f"{shown} is a symbolic link; the agent's tools do not follow links")


@contextlib.contextmanager
def root_fd(root: Path) -> Iterator[int]:
    """A descriptor of the (already resolved) worktree root."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def open_dir(parent: int, name: str, shown: str) -> int:
    """Open the directory ``name`` in ``parent`` without following a link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as error:
        raise _error(error, parent, name, shown) from None


@contextlib.contextmanager
def directory(root: int, parts: tuple[str, ...], *, create: bool = False) -> Iterator[int]:
    """A descriptor of the directory ``parts`` beneath ``root``; ``create`` makes missing ones."""
    fd = os.dup(root)
    try:
        for depth, name in enumerate(parts):
            shown = "/".join(parts[: depth + 1])
            if create:
                # mkdir never follows a link in its last component: an existing one fails.
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                except OSError as error:
                    raise _error(error, fd, name, shown) from None
            child = open_dir(fd, name, shown)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def opened(parent: int, name: str, shown: str) -> Iterator[tuple[int, os.stat_result]]:
    """An open descriptor of the file or directory ``name`` in ``parent``, and its status."""
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=parent)
    except OSError as error:
        raise _error(error, parent, name, shown) from None
    try:
        yield fd, os.fstat(fd)
    finally:
        os.close(fd)


def read_fd(fd: int, status: os.stat_result, limit: int, shown: str, hint: str = "") -> bytes:
    """The bytes of an open regular file of at most ``limit`` bytes."""
    if stat.S_ISDIR(status.st_mode):
        raise ToolError(f"{shown} is a directory")
    if not stat.S_ISREG(status.st_mode):
        raise ToolError(f"{shown} is not a regular file")
    if status.st_size > limit:
        raise ToolError(f"{shown} is {status.st_size} bytes, over the {limit}-byte limit{hint}")
    chunks: list[bytes] = []
    size = 0
    # The file may grow after fstat: read at most one byte past the limit to notice.
    while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise ToolError(f"{shown} is over the {limit}-byte limit{hint}")
    return b"".join(chunks)


def read(parent: int, name: str, limit: int, shown: str) -> bytes:
    """The bytes of the regular file ``name`` in ``parent``, of at most ``limit`` bytes."""
    with opened(parent, name, shown) as (fd, status):
        return read_fd(fd, status, limit, shown)


def write_file(parent: int, name: str, data: bytes, shown: str) -> bool:
    """Replace ``name`` in ``parent`` with ``data`` atomically; whether it existed before."""
    try:
        old: os.stat_result | None = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    except OSError as error:
        raise _error(error, parent, name, shown) from None
    if old is not None:
        if stat.S_ISLNK(old.st_mode):
            raise _link(shown)
        if stat.S_ISDIR(old.st_mode):
            raise ToolError(f"{shown} is a directory")
        if not stat.S_ISREG(old.st_mode):
            raise ToolError(f"{shown} is not a regular file")
    temp = f".speckitd-{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(temp, _TEMP_FLAGS, 0o644, dir_fd=parent)
    except OSError as error:
        raise _error(error, parent, temp, f"the directory of {shown}") from None
    try:
        try:
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode) & 0o777)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # rename() replaces a link planted meanwhile instead of writing through it.
        os.replace(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=parent)
        if isinstance(error, IsADirectoryError):
            raise ToolError(f"{shown} is a directory") from None
        raise
    return old is not None


def _addressable(name: str) -> bool:
    """Whether :func:`split` would accept ``name`` as one component."""
    try:
        return split(name) == (name,)
    except ToolError:
        return False


def entries(fd: int) -> list[os.DirEntry[str]]:
    """The entries of an open directory in path order (a directory sorts as ``name/``), no .git."""
    with os.scandir(fd) as scan:
        found = [entry for entry in scan if _addressable(entry.name)]
    return sorted(found, key=lambda e: e.name + "/" if e.is_dir(follow_symlinks=False) else e.name)


def walk(fd: int, prefix: str = "", depth: int = 0) -> Generator[tuple[str, int, str], None, None]:
    """Every regular file beneath ``fd`` in path order: its path, its directory's fd, its name.

    Links are neither listed nor followed; ``.git`` is skipped; directories deeper than
    :data:`MAX_DEPTH` are ignored. Close the generator (``contextlib.closing``) if you
    stop early, so its descriptors are released at once.
    """
    for entry in entries(fd):
        path = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if depth >= MAX_DEPTH:
                continue
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue  # removed, or swapped for a link, since the listing
            try:
                yield from walk(child, path + "/", depth + 1)
            finally:
                os.close(child)
        elif entry.is_file(follow_symlinks=False):
            yield path, fd, entry.name


def listing(fd: int, prefix: str) -> list[str]:
    """A directory's entries two levels deep, as paths; hidden directories are not expanded."""
    rows: list[str] = []
    for entry in entries(fd):
        rows.append(_label(prefix, entry))
        if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
            with contextlib.suppress(ToolError):
                child = open_dir(fd, entry.name, prefix + entry.name)
                try:
                    rows.extend(_label(f"{prefix}{entry.name}/", sub) for sub in entries(child))
                finally:
                    os.close(child)
    return rows


def _label(prefix: str, entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return f"{prefix}{entry.name}@"
    return prefix + entry.name + ("/" if entry.is_dir(follow_symlinks=False) else "")


def contents(
    root: int, wanted: Callable[[str], bool], limit: int, budget: int
) -> Generator[tuple[str, bytes | None], None, None]:
    """The ``wanted`` regular files of at most ``limit`` bytes in path order, and their bytes.

    Files past ``budget`` bytes in total are not read: the last item then is ``(path, None)``.
    """
    scanned = 0
    with contextlib.closing(walk(root)) as found:
        for path, parent, name in found:
            if not wanted(path):
                continue
            try:
                with opened(parent, name, path) as (fd, status):
                    if status.st_size > limit:
                        continue
                    if scanned + status.st_size > budget:
                        yield path, None
                        return
                    data = read_fd(fd, status, limit, path)
            except ToolError:
                continue  # removed, replaced or grown since the listing
            scanned += len(data)
            yield path, data
