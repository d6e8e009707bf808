"""GitHub webhook deliveries: the signature check and the little we read from them.

A delivery is only a hint to fetch (DESIGN §8): the service re-reads git for the
repository it names and never acts on anything else in the payload. The signature
is an HMAC-SHA256 of the raw body, compared in constant time; only ``sha256=`` is
accepted (notes/reliability-security.md §2.1). Redeliveries keep their
``X-GitHub-Delivery`` id, which the service uses to dedupe (§2.2).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

SIGNATURE_HEADER: Final = "x-hub-signature-256"
DELIVERY_HEADER: Final = "x-github-delivery"
EVENT_HEADER: Final = "x-github-event"
_PREFIX: Final = b"sha256="
# GUIDs on github.com; kept loose for GHES, but bounded since the service stores it.
_DELIVERY_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_EVENT: Final = re.compile(r"[a-z_]{1,64}")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the service may take from a verified delivery."""

    id: str
    event: str
    repo: str | None
    ref: str | None


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the ``sha256=<hex>`` HMAC of ``body`` under ``secret``.

    An empty secret verifies nothing: an unconfigured endpoint must not accept
    deliveries signed with the empty key.
    """
    if not secret or header is None:
        return False
    expected = _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    # Bytes, because compare_digest refuses non-ASCII str and the header is untrusted.
    return hmac.compare_digest(expected, header.encode("utf-8", "replace"))


def parse(headers: Mapping[str, str], body: bytes) -> Delivery:
    """The delivery id, event, repository and ref of a (verified) delivery.

    ``headers`` may use any case. Raises :class:`ValueError` when the id or event
    header is missing or malformed, or the body is not a JSON object (also inside
    the ``payload`` field of a form-encoded delivery).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    delivery_id = lowered.get(DELIVERY_HEADER, "")
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise ValueError("missing or malformed X-GitHub-Delivery header")
    event = lowered.get(EVENT_HEADER, "")
    if not _EVENT.fullmatch(event):
        raise ValueError("missing or malformed X-GitHub-Event header")
    payload = _payload(lowered.get("content-type", ""), body)
    repository = payload.get("repository")
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    ref = payload.get("ref")
    return Delivery(
        id=delivery_id,
        event=event,
        repo=full_name if isinstance(full_name, str) and full_name else None,
        ref=ref if isinstance(ref, str) and ref else None,
    )


def _payload(content_type: str, body: bytes) -> dict[str, object]:
    """The JSON object of ``body``, sent as JSON or as a form's ``payload`` field."""
    text: str | bytes = body
    if content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=16)
        text = fields.get("payload", [""])[0]
    try:
        # JSONDecodeError and UnicodeDecodeError are both ValueErrors.
        value = json.loads(text)
    except RecursionError as error:
        raise ValueError("payload nested too deeply") from error
    if not isinstance(value, dict):
        # ValueError, not TypeError: the caller treats every bad payload alike.
        raise ValueError("payload is not a JSON object")  # noqa: TRY004
    return value
