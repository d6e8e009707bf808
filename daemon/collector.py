"""Pausing Python's cycle collector while a scan allocates.

A scan of a long history makes hundreds of thousands of small objects (commits,
task lines, parsed versions) and frees most of them soon after. None forms a
reference cycle, yet every 700 allocations start a collection that walks the young
objects, and now and then one walks the whole heap: about 6% of a scan's
instructions, and 18 ms pauses here (``bench/scan.py``). Reference counting still
frees everything the scan drops at once; cycles made meanwhile elsewhere in the
process wait for the collector's next run after the scan. Should scans in several
threads keep overlapping, a scan that ends collects once every ``LONGEST_PAUSE``
seconds, so the rest of the process is never left without a collection.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final


@dataclass(slots=True)
class _Pauses:
    """The blocks running with the collector paused, and its state before the first."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    holders: int = 0
    resume: bool = False
    since: float = 0.0  # when the collector last ran (or the pause began)
    clock: Callable[[], float] = time.monotonic


LONGEST_PAUSE: Final = 10.0  # seconds overlapping scans may keep the collector paused
_PAUSES: Final = _Pauses()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Pause the cycle collector until the last overlapping ``paused()`` block ends.

    The collector's state before the first block is restored after the last, so a
    process that keeps it off keeps it off; blocks in several threads may overlap.
    """
    pauses = _PAUSES
    counted = False
    try:
        with pauses.lock:
            if pauses.holders == 0:
                pauses.resume = gc.isenabled()
                pauses.since = pauses.clock()
            # Counted before the collector is turned off, and both inside ``try``: an
            # interrupt (KeyboardInterrupt) between them cannot leave it off for good.
            pauses.holders += 1
            counted = True
            gc.disable()
        yield
    finally:
        if counted:
            _release(pauses)


def _release(pauses: _Pauses) -> None:
    """End one paused block: restore the collector after the last, or collect if overdue."""
    with pauses.lock:
        pauses.holders -= 1
        collect = False
        if pauses.holders == 0 and pauses.resume:
            gc.enable()
        elif pauses.resume and pauses.clock() - pauses.since > LONGEST_PAUSE:
            collect = True  # others still scan: collect once, and pause on
            pauses.since = pauses.clock()
    if collect:
        gc.collect()  # outside the lock: a finalizer may scan too
