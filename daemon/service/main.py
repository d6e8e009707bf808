"""``speckitd run`` and ``speckitd once``: the service wired from the settings.

Per repository: a clone (made from ``url`` when missing), a forge, a job runner; one
store in the state directory; the ref watcher, a fetch timer per repository and a
periodic full rescan (APScheduler 3, in-process); SIGTERM stops, SIGHUP reloads.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from daemon.agent.client import AnthropicModel
from daemon.agent.model import Model
from daemon.errors import EXIT_OK, ConfigError, SpeckitdError
from daemon.forge.base import Forge
from daemon.forge.local import LocalForge
from daemon.gates.sandbox import choose
from daemon.git.write import PushAuth, ensure_clone, fetch
from daemon.service.core import Service
from daemon.service.endpoints import hooks, observe
from daemon.service.http import HttpServer, make_app
from daemon.service.metrics import Metrics
from daemon.service.notify import Notifier
from daemon.service.pipeline import JobRunner
from daemon.service.watch import RefWatcher
from daemon.settings import RepoSettings, Settings
from daemon.store.sqlite import SqliteStore

log = structlog.get_logger("speckitd.service")


def make_forge(settings: Settings) -> Forge:
    """The forge ``[forge] kind`` names."""
    if settings.forge.kind == "github":
        from daemon.forge.github import GitHub  # noqa: PLC0415 - only when configured

        return GitHub.from_settings(settings.forge.github)
    return LocalForge(settings.daemon.state_dir)


def model_factory(settings: Settings) -> Callable[[], Model]:
    """Builds the Messages API client for each run."""
    anthropic = settings.anthropic

    def make() -> Model:
        return AnthropicModel(
            base_url=anthropic.base_url,
            api_key=anthropic.api_key,
            sdk_retries=anthropic.sdk_retries,
        )

    return make


def build(
    settings: Settings,
    *,
    backfill: bool = False,
    forge: Forge | None = None,
    model: Callable[[], Model] | None = None,
) -> Service:
    """The service for ``settings``: store, forge, runners per repository."""
    state = settings.daemon.state_dir
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _lock(state)
    store = SqliteStore(state / "speckitd.db")
    chosen = forge or make_forge(settings)
    sandbox = choose(settings.checks.sandbox) if settings.checks.commands else None
    runners = {}
    for repo in settings.repos:
        if repo.url:
            ensure_clone(Path(repo.path), repo.url)
        runners[repo.name] = JobRunner(settings, repo, chosen, model or model_factory(settings),
                                       sandbox)  # fmt: skip
    service = Service(
        settings,
        store,
        runners,
        backfill=backfill,
        stop_grace=float(settings.daemon.stop_timeout_seconds) * 0.6,  # the rest: shutdown
    )
    service.resources.append(lock)  # held as long as the service lives
    return service


def _lock(state: Path) -> IO[str]:
    """An exclusive lock on the state directory: one daemon (or ``once``) at a time.

    A second process would take the first one's running jobs for interrupted ones.
    """
    handle = (state / "speckitd.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(
            f"{state}: another speckitd process is using this state directory"
        ) from None
    return handle


def _git_dir(repo: RepoSettings) -> Path:
    path = Path(repo.path)
    return path / ".git" if (path / ".git").is_dir() else path


async def _fetch(service: Service, repo: RepoSettings, auth: PushAuth) -> None:
    try:
        await asyncio.to_thread(fetch, Path(repo.path), auth)
    except SpeckitdError as error:
        log.warning("fetch.failed", repo=repo.name, error=str(error))
    service.request_scan(repo.name)


def _timers(
    service: Service, settings: Settings, loop: asyncio.AbstractEventLoop, auth: PushAuth
) -> AsyncIOScheduler:
    """A fetch per repository with a remote, and the periodic full rescan."""
    scheduler = AsyncIOScheduler(event_loop=loop)
    for repo in settings.repos:
        if repo.url:
            scheduler.add_job(
                _fetch,
                "interval",
                seconds=repo.poll_seconds,
                args=[service, repo, auth],
                max_instances=1,
                coalesce=True,
            )

    def rescan() -> None:
        for repo in settings.repos:
            service.request_scan(repo.name)

    scheduler.add_job(
        rescan, "interval", minutes=settings.daemon.rescan_minutes, max_instances=1, coalesce=True
    )

    async def follow_up() -> None:
        await asyncio.to_thread(service.follow_up)

    # Merged or closed pull requests settle their jobs (the forge is asked, not trusted to call).
    scheduler.add_job(follow_up, "interval", seconds=60, max_instances=1, coalesce=True)
    return scheduler


def _http(
    service: Service, settings: Settings, loop: asyncio.AbstractEventLoop, auth: PushAuth
) -> HttpServer:
    """The HTTP server, its metrics fed by the service's events."""
    metrics = Metrics()
    listeners = [observe(metrics), service.on_event]

    def on_event(name: str, data: dict[str, object]) -> None:
        for listen in listeners:
            listen(name, data)

    service.on_event = on_event
    fetches: set[asyncio.Task[None]] = set()
    by_name = {repo.name: repo for repo in settings.repos}

    def fetch_now(name: str) -> None:
        repo = by_name[name]
        if repo.url:
            task = loop.create_task(_fetch(service, repo, auth))
            fetches.add(task)  # keep a reference until it is done
            task.add_done_callback(fetches.discard)
        else:
            service.request_scan(name)

    app = make_app(
        hooks(service, metrics, fetch_now, loop),
        webhook_secret=settings.forge.github.webhook_secret,
        metrics=metrics,
    )
    return HttpServer(app)


def _signals(
    service: Service, settings: Settings, loop: asyncio.AbstractEventLoop, notifier: Notifier
) -> None:
    """SIGTERM/SIGINT stop; SIGHUP reloads.

    Settings are built once per process (STYLE §8), so a reload stops like SIGTERM and
    then re-executes the same command in the same process: the new settings are read,
    interrupted jobs resume, and systemd sees RELOADING then READY from the same PID.
    """

    def stop() -> None:
        notifier.stopping()
        service.stop()

    def reload() -> None:
        notifier.reloading()
        log.info("service.reload", repos=len(settings.repos))
        service.reload_requested = True
        service.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    loop.add_signal_handler(signal.SIGHUP, reload)


async def serve(
    service: Service, settings: Settings, *, ready: Callable[[], None] | None = None
) -> None:
    """Run ``service`` with its triggers until SIGTERM or SIGINT (or ``service.stop()``)."""
    loop = asyncio.get_running_loop()
    auth = PushAuth(settings.forge.github.token, settings.publish.ssh_key_path)
    watcher = RefWatcher(service.request_scan)
    for repo in settings.repos:
        watcher.add(repo.name, _git_dir(repo))
    scheduler = _timers(service, settings, loop, auth)
    http = _http(service, settings, loop, auth)
    host, _, port = settings.daemon.http.rpartition(":")
    http.start(host, int(port))
    log.info("http.listening", address=f"{host}:{http.port}")
    notifier = Notifier.take(os.environ)  # systemd's variables, not settings
    _signals(service, settings, loop, notifier)
    interval = notifier.watchdog_interval()
    if interval is not None:
        scheduler.add_job(notifier.watchdog, "interval", seconds=interval, max_instances=1)

    def announce() -> None:
        log.info("service.ready", repos=len(settings.repos))
        notifier.ready(f"watching {len(settings.repos)} repositories")
        if ready is not None:
            ready()

    watcher.start()
    scheduler.start()
    try:
        await service.run_forever(announce)
    finally:
        scheduler.shutdown(wait=False)
        watcher.stop()
        await http.stop()


def run(settings: Settings, *, backfill: bool = False) -> int:
    """``speckitd run``: serve until SIGTERM; on SIGHUP, start again with fresh settings."""
    environ = dict(os.environ)  # before the notifier takes systemd's variables out of it
    service = build(settings, backfill=backfill)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(serve(service, settings))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()  # does not wait for threads still busy (a check, a push)
        service.close()
    if service.reload_requested:
        log.info("service.reexec")
        argv = [sys.executable, "-m", "daemon", *sys.argv[1:]]
        os.execve(sys.executable, argv, environ)  # noqa: S606 - our own command, same args
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()[1:]):
        # A cancelled job's thread (a check, a push) would hold the exit past the stop
        # timeout; its work is redone after the restart, as after a kill.
        log.info("service.exit")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def once(settings: Settings, *, backfill: bool = False) -> int:
    """``speckitd once``: scan, drain the queue, exit."""
    service = build(settings, backfill=backfill)
    try:
        asyncio.run(service.once())
    finally:
        service.close()
    return EXIT_OK
