"""Noticing ref changes in a repository's git dir (watchdog; notes/dependencies.md §2).

A narrow watch — the git dir itself (not recursive: HEAD, packed-refs, FETCH_HEAD) and
``refs/`` recursively — with lock files ignored. Events only say "look again": the
callback runs once per burst, ``debounce`` seconds after the last event, and the
service re-reads the refs, because delete events lie after ``git gc``. A periodic
rescan covers lost events (queue overflow, network file systems).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class _Debounced(FileSystemEventHandler):
    """Calls ``fire`` once, ``delay`` seconds after the last relevant event of a burst."""

    def __init__(self, fire: Callable[[], None], delay: float) -> None:
        self._fire = fire
        self._delay = delay
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = str(event.dest_path or event.src_path)
        if event.event_type in {"opened", "closed_no_write"} or path.endswith(".lock"):
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()


class RefWatcher:
    """Watches the git dirs of several repositories; calls ``changed(name)`` per burst."""

    def __init__(self, changed: Callable[[str], None], *, debounce: float = 0.15) -> None:
        self._changed = changed
        self._debounce = debounce
        self._observer = Observer()
        self._handlers: list[_Debounced] = []

    def add(self, name: str, git_dir: Path) -> None:
        """Watch ``git_dir`` (the top, not recursive) and its ``refs/`` (recursive)."""
        handler = _Debounced(lambda: self._changed(name), self._debounce)
        self._handlers.append(handler)
        self._observer.schedule(handler, str(git_dir), recursive=False)
        refs = git_dir / "refs"
        if refs.is_dir():
            self._observer.schedule(handler, str(refs), recursive=True)

    def start(self) -> None:
        """Start the observer thread."""
        self._observer.start()

    def stop(self) -> None:
        """Stop watching and join the observer thread."""
        for handler in self._handlers:
            handler.cancel()
        self._observer.stop()
        self._observer.join(timeout=5)
