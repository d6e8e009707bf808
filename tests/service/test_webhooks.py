"""Webhooks reach the running daemon as hints: signed, deduplicated, size-limited."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal

import httpx

from daemon.demo.modelserver import FakeMessagesAPI
from tests.service.support import Daemon, Upstream, implement, write_config

SECRET = "webhook-secret-1"  # noqa: S105 - a test secret


def signed(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def push(delivery: str, body: bytes, signature: str | None) -> dict[str, str]:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return headers


def test_webhooks_are_verified_deduplicated_and_bounded(tmp_path):
    """401 without a good signature (no scan); one delivery five times → one scan; 10 MB → 413."""
    upstream = Upstream(tmp_path)
    body = json.dumps({"ref": "refs/heads/main", "repository": {"full_name": "acme/todo"}})
    payload = body.encode()
    with FakeMessagesAPI() as model:
        model.responder = implement
        config = write_config(
            tmp_path / "speckitd.toml",
            state=tmp_path / "state",
            clone=upstream.work.path,
            remote=None,
            model_url=model.url,
            secret=SECRET,
        )
        daemon = Daemon(config)
        try:
            [listening] = daemon.wait_for("http.listening")
            base = f"http://{listening['address']}"
            daemon.wait_for("scan.first_sight")
            with httpx.Client(base_url=base, timeout=10) as client:
                url = "/webhooks/github"
                for signature in (None, "sha256=" + "0" * 64, signed(b"other")):
                    answer = client.post(
                        url, content=payload, headers=push("d0", payload, signature)
                    )
                    assert answer.status_code == 401
                statuses = [
                    client.post(
                        url, content=payload, headers=push("d1", payload, signed(payload))
                    ).status_code
                    for _ in range(5)
                ]
                assert statuses == [202, 200, 200, 200, 200]
                huge = b"x" * (10 * 1024 * 1024)
                assert (
                    client.post(
                        url, content=huge, headers=push("d2", huge, signed(huge))
                    ).status_code
                    == 413
                )
                marker = client.post(
                    url, content=payload, headers=push("d3", payload, signed(payload))
                )
                assert marker.status_code == 202
                metrics = client.get("/metrics").text
            # Scans from here on: one for d1, one for d3, none for the rest.
            scans = daemon.wait_for("scan.start", 2)
            assert len(scans) == 2
            assert 'speckitd_webhooks_total{result="bad_signature"} 3' in metrics
            assert 'speckitd_webhooks_total{result="duplicate"} 4' in metrics
        finally:
            assert daemon.kill(signal.SIGTERM) == 0
    extra = [
        e
        for e in (daemon.events.get_nowait() for _ in range(daemon.events.qsize()))
        if e.get("event") == "scan.start"
    ]
    assert extra == []
