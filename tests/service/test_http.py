"""The HTTP edge, served by a real uvicorn on 127.0.0.1 inside the test's event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from pydantic import SecretStr

from daemon.errors import ConfigError
from daemon.service.http import Hooks, HttpServer, make_app
from daemon.service.metrics import Metrics
from daemon.service.webhook import Delivery

SECRET = "s3cret-webhook-key"  # noqa: S105 - a test key
PUSH = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/todo"}}).encode()
TIMEOUT = 10


class FakeService:
    """Hooks backed by plain attributes; deliveries dedupe by id like the store does."""

    def __init__(self) -> None:
        self.healthy = True
        self.ready = True
        self.deliveries: list[Delivery] = []
        self.seen: set[str] = set()
        self.limits: list[int] = []

    def runs(self, limit: int) -> list[dict[str, object]]:
        """Up to two fake run records; remembers the limit asked for."""
        self.limits.append(limit)
        return [{"run": n, "task": f"T-{n:03}"} for n in range(min(limit, 2))]

    def webhook(self, delivery: Delivery) -> bool:
        """Record every call; False for an id seen before."""
        self.deliveries.append(delivery)
        if delivery.id in self.seen:
            return False
        self.seen.add(delivery.id)
        return True

    def hooks(self) -> Hooks:
        """The hooks the app is given."""
        return Hooks(
            healthy=lambda: self.healthy,
            ready=lambda: self.ready,
            metrics=lambda: "# TYPE up gauge\nup 1\n",
            runs=self.runs,
            webhook=self.webhook,
        )


def signed(body: bytes, event: str = "push", delivery: str = "d-1") -> dict[str, str]:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": signature,
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
    }


@asynccontextmanager
async def serving(app) -> AsyncIterator[tuple[httpx.AsyncClient, HttpServer]]:
    server = HttpServer(app)
    server.start("127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT, trust_env=False) as client:
            yield client, server
    finally:
        await server.stop()


def run(
    test: Callable[[httpx.AsyncClient], Awaitable[None]],
    service: FakeService | None = None,
    *,
    secret: str = SECRET,
    **options,
) -> FakeService:
    """Serve the app for ``service`` and run ``test`` against it, all under a timeout."""
    service = service or FakeService()
    app = make_app(service.hooks(), webhook_secret=SecretStr(secret), **options)

    async def main() -> None:
        async with asyncio.timeout(TIMEOUT), serving(app) as (client, _):
            await test(client)

    asyncio.run(main())
    return service


def test_healthz_and_readyz_answer_ok():
    async def test(client):
        for path in ("/healthz", "/readyz"):
            response = await client.get(path)
            assert (response.status_code, response.text) == (200, "ok")

    run(test)


def test_healthz_and_readyz_answer_503_when_the_service_says_so():
    service = FakeService()
    service.healthy = service.ready = False

    async def test(client):
        assert (await client.get("/healthz")).status_code == 503
        assert (await client.get("/readyz")).status_code == 503

    run(test, service)


def test_metrics_are_served_as_prometheus_text():
    async def test(client):
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert response.text == "# TYPE up gauge\nup 1\n"

    run(test)


def test_runs_default_to_50_and_take_a_limit():
    async def test(client):
        response = await client.get("/api/runs")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == [{"run": 0, "task": "T-000"}, {"run": 1, "task": "T-001"}]
        assert (await client.get("/api/runs", params={"limit": 500})).status_code == 200
        assert (await client.get("/api/runs?limit=1")).json() == [{"run": 0, "task": "T-000"}]

    assert run(test).limits == [50, 500, 1]


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "", "1e2", "٣"])
def test_runs_refuse_a_limit_out_of_range(limit):
    async def test(client):
        response = await client.get("/api/runs", params={"limit": limit})
        assert response.status_code == 400
        assert "error" in response.json()

    assert run(test).limits == []


def test_a_signed_push_is_accepted():
    async def test(client):
        response = await client.post("/webhooks/github", content=PUSH, headers=signed(PUSH))
        assert (response.status_code, response.json()) == (202, {"accepted": True})

    service = run(test)
    assert service.deliveries == [Delivery("d-1", "push", "acme/todo", "refs/heads/main")]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"}, id="missing"),
        pytest.param({**signed(b"{}"), "X-GitHub-Event": "push"}, id="signature-of-other-body"),
        pytest.param(
            {
                **signed(PUSH),
                "X-Hub-Signature-256": "sha256="
                + hmac.new(b"wrong", PUSH, hashlib.sha256).hexdigest(),
            },
            id="wrong-secret",
        ),
        pytest.param(
            {
                "X-Hub-Signature": "sha1=" + hmac.new(SECRET.encode(), PUSH, "sha1").hexdigest(),
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "d-1",
            },
            id="sha1-only",
        ),
    ],
)
def test_a_bad_or_missing_signature_is_refused_before_the_hook(headers):
    metrics = Metrics()

    async def test(client):
        response = await client.post("/webhooks/github", content=PUSH, headers=headers)
        assert response.status_code == 401
        assert SECRET not in response.text
        assert "acme/todo" not in response.text

    assert run(test, metrics=metrics).deliveries == []
    assert metrics.webhooks.value(result="bad_signature") == 1


def test_a_delivery_sent_five_times_is_accepted_once():
    metrics = Metrics()

    async def test(client):
        answers = []
        for _ in range(5):
            response = await client.post("/webhooks/github", content=PUSH, headers=signed(PUSH))
            answers.append((response.status_code, response.json()))
        assert answers == [(202, {"accepted": True})] + [(200, {"duplicate": True})] * 4

    service = run(test, metrics=metrics)
    assert [d.id for d in service.deliveries] == ["d-1"] * 5
    assert metrics.webhooks.value(result="accepted") == 1
    assert metrics.webhooks.value(result="duplicate") == 4


def test_a_10_mb_body_is_refused_with_413():
    body = b"x" * (10 * 1024 * 1024)

    async def test(client):
        response = await client.post("/webhooks/github", content=body, headers=signed(body))
        assert response.status_code == 413

    assert run(test).deliveries == []


def test_413_is_answered_from_content_length_without_reading_the_body():
    """Only the headers are sent: a server that waited for the body would time out."""

    async def test(client):
        port = client.base_url.port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n"
            b"X-GitHub-Event: push\r\nX-GitHub-Delivery: d-1\r\n\r\n"
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout=5)
        writer.close()
        await writer.wait_closed()
        assert status.startswith(b"HTTP/1.1 413 ")

    assert run(test).deliveries == []


def test_a_streamed_body_past_the_limit_is_refused_with_413():
    metrics = Metrics()

    async def chunks():
        for _ in range(64):
            yield b"y" * 1024

    async def test(client):
        headers = signed(b"")
        response = await client.post("/webhooks/github", content=chunks(), headers=headers)
        assert response.status_code == 413

    assert run(test, max_body=4096, metrics=metrics).deliveries == []
    assert metrics.webhooks.value(result="too_large") == 1


def test_a_body_at_the_limit_is_read():
    body = json.dumps({"repository": {"full_name": "acme/todo"}, "pad": ""}).encode()

    async def test(client):
        response = await client.post("/webhooks/github", content=body, headers=signed(body))
        assert response.status_code == 202

    assert len(run(test, max_body=len(body)).deliveries) == 1


def test_ping_answers_200_without_the_hook():
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()

    async def test(client):
        response = await client.post(
            "/webhooks/github", content=body, headers=signed(body, event="ping")
        )
        assert (response.status_code, response.json()) == (200, {"ping": True})

    assert run(test).deliveries == []


def test_a_delivery_naming_no_repository_is_ignored():
    async def test(client):
        response = await client.post("/webhooks/github", content=b"{}", headers=signed(b"{}"))
        assert (response.status_code, response.json()) == (200, {"ignored": True})

    assert run(test).deliveries == []


def test_a_signed_but_malformed_delivery_is_a_bad_request():
    async def test(client):
        response = await client.post("/webhooks/github", content=b"{no", headers=signed(b"{no"))
        assert response.status_code == 400
        assert "{no" not in response.text

    assert run(test).deliveries == []


def test_without_a_secret_the_webhook_endpoint_does_not_exist():
    async def test(client):
        response = await client.post("/webhooks/github", content=PUSH, headers=signed(PUSH))
        assert response.status_code == 404
        assert (await client.get("/webhooks/github")).status_code == 404

    assert run(test, secret="").deliveries == []


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/", 404, None),
        ("GET", "/nope", 404, None),
        ("GET", "/healthz/", 404, None),
        ("POST", "/healthz", 405, "GET"),
        ("DELETE", "/api/runs", 405, "GET"),
        ("HEAD", "/metrics", 405, "GET"),
        ("GET", "/webhooks/github", 405, "POST"),
    ],
)
def test_unknown_paths_and_wrong_methods(method, path, status, allow):
    async def test(client):
        response = await client.request(method, path)
        assert response.status_code == status
        assert response.headers.get("allow") == allow

    run(test)


def test_a_failing_hook_answers_500_without_details():
    service = FakeService()

    def broken(_limit):
        raise RuntimeError("database is locked at /secret/path")

    service.runs = broken

    async def test(client):
        response = await client.get("/api/runs")
        assert (response.status_code, response.json()) == (500, {"error": "internal error"})

    run(test, service)


def test_the_server_leaves_signal_handlers_to_the_daemon():
    signals = (signal.SIGINT, signal.SIGTERM)

    async def main():
        # asyncio.run installs its own SIGINT handler, so compare inside the loop.
        before = {sig: signal.getsignal(sig) for sig in signals}
        async with (
            asyncio.timeout(TIMEOUT),
            serving(make_app(hooks, webhook_secret=key)) as (
                client,
                _,
            ),
        ):
            assert (await client.get("/healthz")).status_code == 200
            assert {sig: signal.getsignal(sig) for sig in signals} == before

    hooks, key = FakeService().hooks(), SecretStr("")
    asyncio.run(main())


def test_port_is_known_only_after_start_and_stop_is_idempotent():
    server = HttpServer(make_app(FakeService().hooks(), webhook_secret=SecretStr("")))
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.port

    async def main():
        server.start("127.0.0.1", 0)
        assert server.port > 0
        await server.stop()
        await server.stop()

    asyncio.run(main())


def test_an_address_in_use_is_a_config_error():
    app = make_app(FakeService().hooks(), webhook_secret=SecretStr(""))

    async def main():
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(ConfigError, match="cannot listen"):
                HttpServer(app).start("127.0.0.1", taken.getsockname()[1])

    asyncio.run(main())
