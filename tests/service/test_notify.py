"""The sd_notify client against real AF_UNIX datagram sockets (a path and an abstract name)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from daemon.service.notify import Notifier

RECV_TIMEOUT = 5.0  # seconds; a datagram already sent arrives at once, this only bounds a bug


class Manager:
    """The systemd side: a bound datagram socket and the environment naming it."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address

    def environ(self, **extra: str) -> dict[str, str]:
        """The variables systemd would pass, plus ``extra``."""
        return {"NOTIFY_SOCKET": self.address, **extra}

    def receive(self) -> dict[str, str]:
        """The next datagram, as its KEY=value lines (which must each end in a newline)."""
        data = self.sock.recv(4096).decode()
        assert data.endswith("\n")
        return dict(line.split("=", 1) for line in data.splitlines())

    def nothing_pending(self) -> bool:
        """Whether no further datagram is queued (checked without waiting)."""
        self.sock.settimeout(0)  # non-blocking: with a timeout, recv would wait for one
        try:
            self.sock.recv(4096)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(RECV_TIMEOUT)
        return False


def _bound(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(RECV_TIMEOUT)
    return sock


@pytest.fixture
def path_manager(tmp_path: Path) -> Iterator[Manager]:
    path = tmp_path / "notify.sock"
    assert len(str(path)) < 108  # sun_path
    with _bound(str(path)) as sock:
        yield Manager(sock, str(path))


@pytest.fixture
def abstract_manager() -> Iterator[Manager]:
    name = f"speckitd-test-{uuid.uuid4().hex}"
    with _bound("\0" + name) as sock:
        yield Manager(sock, "@" + name)


@pytest.fixture(params=["path", "abstract"])
def manager(request: pytest.FixtureRequest) -> Manager:
    chosen: Manager = request.getfixturevalue(f"{request.param}_manager")
    return chosen


def test_every_notification_arrives(manager):
    notifier = Notifier(manager.environ())
    assert notifier.enabled

    assert notifier.ready()
    assert manager.receive() == {"READY": "1"}
    assert notifier.status("idle; 2 repos; 0 running")
    assert manager.receive() == {"STATUS": "idle; 2 repos; 0 running"}
    assert notifier.watchdog()
    assert manager.receive() == {"WATCHDOG": "1"}
    assert notifier.stopping()
    assert manager.receive() == {"STOPPING": "1"}
    assert notifier.extend_timeout(30_000_000)
    assert manager.receive() == {"EXTEND_TIMEOUT_USEC": "30000000"}
    assert manager.nothing_pending()


def test_reloading_carries_the_monotonic_clock(manager):
    notifier = Notifier(manager.environ())
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = manager.receive()
    assert fields.keys() == {"RELOADING", "MONOTONIC_USEC"}
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_ready_with_status_is_one_datagram(path_manager):
    assert Notifier(path_manager.environ()).ready("watching 1 repo")
    assert path_manager.receive() == {"READY": "1", "STATUS": "watching 1 repo"}


def test_a_status_stays_one_field(path_manager):
    # A newline in the text would otherwise smuggle in a field such as READY=1.
    assert Notifier(path_manager.environ()).status("scan failed:\nREADY=1\r\n")
    assert path_manager.receive() == {"STATUS": "scan failed: READY=1"}


def test_unset_socket_is_a_no_op(monkeypatch):
    def no_socket(*args, **kwargs):
        raise AssertionError("no socket without NOTIFY_SOCKET")

    monkeypatch.setattr(socket, "socket", no_socket)
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert not notifier.status("x")
    assert not notifier.watchdog()
    assert not notifier.stopping()
    assert not notifier.reloading()
    assert not notifier.extend_timeout(1)


@pytest.mark.parametrize("value", ["", "relative/notify.sock", "@", "vsock:2:1234"])
def test_unusable_socket_values_disable_it(value):
    notifier = Notifier({"NOTIFY_SOCKET": value})
    assert not notifier.enabled
    assert not notifier.ready()


def test_reads_os_environ_by_default(path_manager, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", path_manager.address)
    assert Notifier().watchdog()
    assert path_manager.receive() == {"WATCHDOG": "1"}


def test_take_removes_the_variables_from_the_environment(path_manager):
    environ = path_manager.environ(WATCHDOG_USEC="2000000", WATCHDOG_PID=str(os.getpid()))
    environ["PATH"] = "/usr/bin"
    notifier = Notifier.take(environ)
    assert environ == {"PATH": "/usr/bin"}
    assert notifier.watchdog_interval() == 1.0
    assert notifier.ready()
    assert path_manager.receive() == {"READY": "1"}


def test_a_dead_socket_is_logged_not_raised(tmp_path):
    dead = tmp_path / "dead.sock"
    _bound(str(dead)).close()  # the file stays, nobody listens: ECONNREFUSED
    missing = tmp_path / "no" / "such.sock"
    for path in (dead, missing):
        notifier = Notifier({"NOTIFY_SOCKET": str(path)})
        with capture_logs() as logs:
            assert notifier.enabled
            assert not notifier.ready()
            assert not notifier.watchdog()
            assert not notifier.stopping()
        # One warning for a run of failures, then quieter: a dead socket must not flood.
        assert [entry["log_level"] for entry in logs] == ["warning", "debug", "debug"]
        assert logs[0]["event"] == "notify.failed"
        assert logs[0]["socket"] == str(path)
        assert logs[0]["fields"] == ["READY"]


def test_recovery_after_a_failure_is_logged(tmp_path):
    path = tmp_path / "late.sock"
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    with capture_logs() as logs:
        assert not notifier.watchdog()
        with _bound(str(path)) as sock:
            assert notifier.watchdog()
            assert sock.recv(64) == b"WATCHDOG=1\n"
            assert notifier.watchdog()
    assert [entry["event"] for entry in logs] == ["notify.failed", "notify.recovered"]


def test_extend_timeout_wants_a_positive_duration():
    with pytest.raises(ValueError, match="positive"):
        Notifier({}).extend_timeout(0)


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": f" {os.getpid()}\n"}, 0.5),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "-5"}, None),
        ({"WATCHDOG_USEC": "60s"}, None),
        ({"WATCHDOG_USEC": "²"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(environ, interval):
    assert Notifier(environ).watchdog_interval() == interval


def test_watchdog_interval_is_for_the_process_systemd_named(monkeypatch):
    # A forked child holding the parent's notifier must not ping in the parent's name.
    notifier = Notifier({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_interval() == 2.0
    monkeypatch.setattr(os, "getpid", lambda: 1)
    assert notifier.watchdog_interval() is None
