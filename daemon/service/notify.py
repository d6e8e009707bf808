"""The systemd notify protocol (``sd_notify(3)``) without a dependency.

systemd starts a ``Type=notify`` service with ``$NOTIFY_SOCKET``: a file system path, or
``@name`` for a socket in the abstract namespace. The service sends it datagrams of
``KEY=value`` lines: ``READY=1`` once started, ``STATUS=...`` for ``systemctl status``,
``WATCHDOG=1`` keep-alives when ``WatchdogSec=`` is set (systemd then also passes
``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``), ``RELOADING=1`` and ``STOPPING=1`` around a
reload and at shutdown, ``EXTEND_TIMEOUT_USEC=`` for a slow phase.

Outside systemd (a terminal, the tests, ``speckitd once``) there is no ``$NOTIFY_SOCKET``
and every method does nothing. A failure to send is logged and otherwise ignored:
notifications are advisory, and the daemon must not stop over one (a missing
``READY=1`` already fails the start, a missing ``WATCHDOG=1`` already restarts it).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, MutableMapping
from typing import Final

import structlog

__all__ = ["NOTIFY_SOCKET", "VARIABLES", "WATCHDOG_PID", "WATCHDOG_USEC", "Notifier"]

log = structlog.get_logger("speckitd.notify")

NOTIFY_SOCKET: Final = "NOTIFY_SOCKET"
WATCHDOG_USEC: Final = "WATCHDOG_USEC"
WATCHDOG_PID: Final = "WATCHDOG_PID"
VARIABLES: Final = (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID)

# A datagram send blocks while the manager's receive queue is full. The watchdog ping
# comes from the main loop, which must not hang on it; two seconds is far beyond any
# healthy manager's delay.
_SEND_TIMEOUT: Final = 2.0


class Notifier:
    """Sends notifications to the socket named in ``environ`` (default ``os.environ``).

    The environment is read once, here. Each method returns whether a datagram was
    sent; ``False`` means not under systemd, or a send that failed and was logged.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._socket = env.get(NOTIFY_SOCKET, "")
        self._address = _address(self._socket)
        self._watchdog_usec = _positive_int(env.get(WATCHDOG_USEC, ""))
        self._watchdog_pid = env.get(WATCHDOG_PID, "")
        self._failing = False

    @classmethod
    def take(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        """A notifier for ``environ`` (default ``os.environ``), which loses the variables.

        Like ``sd_notify``'s ``unset_environment``: processes started later (git, the
        agent's tools, checks) do not inherit the socket; ``NotifyAccess=main`` would
        ignore them anyway, so this only keeps their environment clean.
        """
        env = os.environ if environ is None else environ
        notifier = cls(env)
        for name in VARIABLES:
            env.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify (the service runs under systemd)."""
        return self._address is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between ``WATCHDOG=1`` pings, or None when no watchdog is armed.

        Half of ``$WATCHDOG_USEC``, as ``sd_watchdog_enabled(3)`` recommends; None when
        ``$WATCHDOG_PID`` names another process (a child that inherited the variables).
        """
        if self._watchdog_usec is None:
            return None
        if self._watchdog_pid and _positive_int(self._watchdog_pid) != os.getpid():
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str | None = None) -> bool:
        """Start-up (or a reload) is complete; ``status`` is sent along when given."""
        fields: dict[str, object] = {"READY": 1}
        if status is not None:
            fields["STATUS"] = status
        return self.notify(fields)

    def status(self, text: str) -> bool:
        """A one-line status for ``systemctl status``; newlines become spaces."""
        return self.notify({"STATUS": text})

    def watchdog(self) -> bool:
        """The keep-alive ping; send it from the main loop once it made progress."""
        return self.notify({"WATCHDOG": 1})

    def stopping(self) -> bool:
        """Shutdown has begun."""
        return self.notify({"STOPPING": 1})

    def reloading(self) -> bool:
        """A configuration reload has begun; send :meth:`ready` when it is done.

        ``MONOTONIC_USEC`` is required with ``RELOADING=1`` by ``Type=notify-reload``
        (systemd 253 and later); older managers ignore the field.
        """
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify({"RELOADING": 1, "MONOTONIC_USEC": now})

    def extend_timeout(self, usec: int) -> bool:
        """Ask for ``usec`` more microseconds for the current start, reload or stop."""
        if usec <= 0:
            raise ValueError(f"extend_timeout needs a positive number of microseconds: {usec}")
        return self.notify({"EXTEND_TIMEOUT_USEC": usec})

    def notify(self, fields: Mapping[str, object]) -> bool:
        """Send ``fields`` as one datagram of ``KEY=value`` lines; never raises OSError."""
        if self._address is None or not fields:
            return False
        message = "".join(f"{key}={_one_line(str(value))}\n" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(_SEND_TIMEOUT)
                sock.sendto(message.encode(), self._address)
        except OSError as error:
            # Warn once per run of failures: a dead socket would otherwise log every ping.
            emit = log.debug if self._failing else log.warning
            emit("notify.failed", socket=self._socket, fields=sorted(fields), error=str(error))
            self._failing = True
            return False
        if self._failing:
            log.info("notify.recovered", socket=self._socket)
            self._failing = False
        return True


def _address(value: str) -> str | None:
    """The ``sendto`` address for ``$NOTIFY_SOCKET``, or None when unset or unusable."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # the abstract namespace: a leading NUL, no file
    if value.startswith("/"):
        return value
    if value:
        # Relative paths and newer transports (vsock:) are not for an AF_UNIX datagram.
        log.warning("notify.unsupported_socket", socket=value)
    return None


def _positive_int(value: str) -> int | None:
    """``value`` as a positive decimal integer, or None."""
    stripped = value.strip()
    if not (stripped.isascii() and stripped.isdigit()):
        return None
    number = int(stripped)
    return number if number > 0 else None


def _one_line(text: str) -> str:
    """``text`` without line breaks, which would start a new ``KEY=value`` field."""
    return " ".join(text.splitlines())
