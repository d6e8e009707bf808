"""The daemon's HTTP edge: one small ASGI app and uvicorn serving it in the daemon's loop.

Routes (DESIGN §8): ``GET /healthz``, ``GET /readyz``, ``GET /metrics``,
``POST /webhooks/github`` and ``GET /api/runs``. The app reads nothing but what
the service's :class:`Hooks` give it; a webhook body is bounded, verified before
it is parsed and never echoed (notes/reliability-security.md §2.1-2.2). Without a
webhook secret the webhook endpoint does not exist. This is the only module that
imports uvicorn; its stdlib log records are forwarded to structlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

import structlog
import uvicorn
from pydantic import SecretStr

from daemon.errors import ConfigError
from daemon.service import webhook
from daemon.service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from daemon.service.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WEBHOOK_PATH: Final = "/webhooks/github"
MAX_RUNS: Final = 500
DEFAULT_RUNS: Final = 50
_JSON: Final = "application/json"
_TEXT: Final = "text/plain; charset=utf-8"

log = structlog.get_logger("speckitd.http")


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the service offers the HTTP app; every callable is synchronous and fast.

    ``webhook`` returns False when the delivery id was seen before (the service
    dedupes through its store) and True when it accepted the hint.
    """

    healthy: Callable[[], bool]
    ready: Callable[[], bool]
    metrics: Callable[[], str]
    runs: Callable[[int], list[dict[str, Any]]]
    webhook: Callable[[webhook.Delivery], bool]


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    content_type: str = _JSON
    allow: str | None = None

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if self.allow is not None:
            headers.append((b"allow", self.allow.encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _json(status: int, value: object, *, allow: str | None = None) -> _Response:
    # default=str: run records may carry datetimes or paths.
    return _Response(status, json.dumps(value, default=str).encode(), allow=allow)


def _text(status: int, text: str, content_type: str = _TEXT) -> _Response:
    return _Response(status, text.encode(), content_type)


class _ClientGoneError(Exception):
    """The client disconnected before its request body arrived."""


def make_app(
    hooks: Hooks,
    *,
    webhook_secret: SecretStr,
    max_body: int = 1024 * 1024,
    metrics: Metrics | None = None,
) -> ASGIApp:
    """The daemon's ASGI app; ``metrics`` (optional) counts webhook results."""
    return _App(hooks, webhook_secret.get_secret_value().encode(), max_body, metrics)


class _App:
    """Routes requests to the hooks; see :func:`make_app`."""

    def __init__(self, hooks: Hooks, secret: bytes, max_body: int, metrics: Metrics | None) -> None:
        self._hooks = hooks
        self._secret = secret
        self._max_body = max_body
        self._metrics = metrics
        self._routes: dict[str, tuple[str, Callable[[Scope, Receive], Awaitable[_Response]]]] = {
            "/healthz": ("GET", self._healthz),
            "/readyz": ("GET", self._readyz),
            "/metrics": ("GET", self._render_metrics),
            "/api/runs": ("GET", self._runs),
        }
        if secret:
            self._routes[WEBHOOK_PATH] = ("POST", self._webhook)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        route = self._routes.get(scope["path"])
        if route is None:
            response = _json(404, {"error": "not found"})
        elif scope["method"] != route[0]:
            response = _json(405, {"error": "method not allowed"}, allow=route[0])
        else:
            try:
                response = await route[1](scope, receive)
            except _ClientGoneError:
                return
            except Exception:  # a failing hook answers 500 and is logged
                log.exception("http.error", path=scope["path"])
                response = _json(500, {"error": "internal error"})
        await response.send(send)

    async def _healthz(self, _scope: Scope, _receive: Receive) -> _Response:
        return _text(200, "ok") if self._hooks.healthy() else _text(503, "unhealthy")

    async def _readyz(self, _scope: Scope, _receive: Receive) -> _Response:
        return _text(200, "ok") if self._hooks.ready() else _text(503, "not ready")

    async def _render_metrics(self, _scope: Scope, _receive: Receive) -> _Response:
        return _text(200, self._hooks.metrics(), METRICS_CONTENT_TYPE)

    async def _runs(self, scope: Scope, _receive: Receive) -> _Response:
        query = parse_qs(
            scope.get("query_string", b"").decode("latin-1"),
            keep_blank_values=True,
            max_num_fields=8,
        )
        raw = query.get("limit", [str(DEFAULT_RUNS)])[-1]
        limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else 0
        if not 1 <= limit <= MAX_RUNS:
            return _json(400, {"error": f"limit must be an integer from 1 to {MAX_RUNS}"})
        return _json(200, self._hooks.runs(limit))

    async def _webhook(self, scope: Scope, receive: Receive) -> _Response:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        too_large = length.isascii() and length.isdigit() and int(length) > self._max_body
        body = None if too_large else await _read_body(receive, self._max_body)
        if body is None:
            return self._webhook_result("too_large", 413, {"error": "payload too large"})
        if not webhook.verify(self._secret, body, headers.get(webhook.SIGNATURE_HEADER)):
            log.warning("webhook.bad_signature")
            return self._webhook_result("bad_signature", 401, {"error": "bad signature"})
        try:
            delivery = webhook.parse(headers, body)
        except ValueError as error:
            log.warning("webhook.bad_request", reason=str(error))
            return self._webhook_result("bad_request", 400, {"error": "bad delivery"})
        return self._deliver(delivery)

    def _deliver(self, delivery: webhook.Delivery) -> _Response:
        """Answer a verified delivery: a ping, ignored, a duplicate or accepted."""
        if delivery.event == "ping":
            return self._webhook_result("ignored", 200, {"ping": True})
        # "event" is structlog's own key.
        fields = {"delivery": delivery.id, "github_event": delivery.event, "repo": delivery.repo}
        if delivery.repo is None:
            log.info("webhook.ignored", **fields)
            return self._webhook_result("ignored", 200, {"ignored": True})
        if not self._hooks.webhook(delivery):
            log.info("webhook.duplicate", **fields)
            return self._webhook_result("duplicate", 200, {"duplicate": True})
        log.info("webhook.accepted", **fields)
        return self._webhook_result("accepted", 202, {"accepted": True})

    def _webhook_result(self, result: str, status: int, value: object) -> _Response:
        if self._metrics is not None:
            self._metrics.webhooks.inc(result=result)
        return _json(status, value)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGoneError
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge lifespan events; the daemon owns start-up and shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class _ToStructlog(logging.Handler):
    """Forwards uvicorn's stdlib log records to structlog (its chatter at debug)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelno if record.levelno >= logging.WARNING else logging.DEBUG
        log.log(
            level,
            "http.server",
            message=record.getMessage(),
            logger=record.name,
            exc_info=record.exc_info or False,
        )


def _route_uvicorn_logs() -> None:
    """Send the ``uvicorn`` loggers through structlog only (idempotent)."""
    logger = logging.getLogger("uvicorn")
    if not any(isinstance(handler, _ToStructlog) for handler in logger.handlers):
        logger.addHandler(_ToStructlog())
    logger.setLevel(logging.INFO)
    logger.propagate = False


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the daemon owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Install nothing (uvicorn would otherwise take SIGINT and SIGTERM)."""
        yield


class HttpServer:
    """uvicorn serving ``app`` as a task in the caller's event loop.

    ``start`` binds the socket itself, so the port (0 picks a free one) is known
    and bind errors surface at once; ``stop`` closes the listener and lets the
    requests in flight finish within ``graceful_seconds``. Requests past
    ``limit_concurrency`` are answered 503 by uvicorn.
    """

    def __init__(
        self, app: ASGIApp, *, graceful_seconds: int = 5, limit_concurrency: int = 64
    ) -> None:
        self._app = app
        self._graceful_seconds = graceful_seconds
        self._limit_concurrency = limit_concurrency
        self._server: _Server | None = None
        self._port: int | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound TCP port; only after :meth:`start`."""
        if self._port is None:
            raise RuntimeError("the HTTP server is not started")
        return self._port

    def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` and serve in the running loop's background.

        Raises :class:`~daemon.errors.ConfigError` when the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        if self._task is not None:
            raise RuntimeError("the HTTP server is already started")
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            sock = socket.create_server((host, port), family=family)
        except OSError as error:
            raise ConfigError(f"cannot listen on {host}:{port}: {error}") from error
        _route_uvicorn_logs()
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            http="h11",
            ws="none",
            interface="asgi3",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            limit_concurrency=self._limit_concurrency,
            timeout_graceful_shutdown=self._graceful_seconds,
        )
        self._server = _Server(config)
        self._port = sock.getsockname()[1]
        self._task = loop.create_task(self._server.serve(sockets=[sock]), name="speckitd-http")
        log.info("http.started", host=host, port=self.port)

    async def stop(self) -> None:
        """Stop listening, finish requests in flight and wait for uvicorn to exit."""
        if self._task is None or self._server is None:
            return
        self._server.should_exit = True
        try:
            await self._task
        finally:
            self._task = None
            log.info("http.stopped")
