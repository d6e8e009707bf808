"""The model edge: the only module that imports the anthropic SDK (and its ``httpx2``).

:class:`AnthropicModel` sends one Messages request and returns plain values; every SDK
error becomes a :class:`~daemon.agent.model.ModelError` that says whether to retry
and after how long.
Credentials and the base URL are passed explicitly so the environment cannot redirect
them; the key never appears in an error's text. The SDK is imported on first use
(it takes ~1.7 s), so the CLI starts fast.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from daemon.agent.model import RETRYABLE_STATUS, ModelError, Reply
from daemon.logs import REDACTED, scrub

if TYPE_CHECKING:
    import anthropic
    import httpx2


def retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, or ``retry-after`` (secs or a date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _usage(raw: anthropic.types.Usage) -> dict[str, int]:
    return {
        "input": int(raw.input_tokens or 0),
        "output": int(raw.output_tokens or 0),
        "cache_read": int(raw.cache_read_input_tokens or 0),
        "cache_write": int(raw.cache_creation_input_tokens or 0),
    }


class AnthropicModel:
    """The Messages API through the anthropic SDK (async)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        sdk_retries: int = 0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url
        self._api_key = api_key
        self._sdk_retries = sdk_retries
        self._transport = transport
        self._client: anthropic.AsyncAnthropic | None = None

    def _open(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            import anthropic  # noqa: PLC0415 - the SDK takes ~1.7 s to import
            import httpx2  # noqa: PLC0415

            # trust_env=False: proxy variables must not route the key elsewhere.
            http = httpx2.AsyncClient(transport=self._transport, trust_env=False)
            self._client = anthropic.AsyncAnthropic(
                api_key=self._api_key.get_secret_value(),
                base_url=self._base_url,
                max_retries=self._sdk_retries,
                http_client=http,
            )
        return self._client

    async def create(self, request: dict[str, Any], *, timeout: float) -> Reply:
        """Send ``request`` to ``/v1/messages``; SDK errors become :class:`ModelError`."""
        import anthropic  # noqa: PLC0415

        client = self._open()
        try:
            message = await client.messages.create(**request, timeout=timeout)
        except anthropic.APIStatusError as error:
            status = error.status_code
            detail = _error_text(error.body, self._api_key) or type(error).__name__
            request_id = error.response.headers.get("request-id")
            raise ModelError(
                f"the model API answered {status}: {detail}",
                status=status,
                retryable=status in RETRYABLE_STATUS or status >= 500,
                retry_after=retry_after(error.response.headers),
                request_id=request_id,
            ) from None
        except anthropic.APITimeoutError:
            raise ModelError(
                f"the model API did not answer within {timeout:g} s",
                retryable=True,
                maybe_billed=True,
            ) from None
        except anthropic.APIConnectionError as error:
            raise ModelError(
                f"cannot reach the model API ({type(error.__cause__).__name__})", retryable=True
            ) from None
        except anthropic.AnthropicError as error:
            raise ModelError(f"the model API client failed: {type(error).__name__}") from None
        content = tuple(
            block.model_dump(mode="json", exclude_none=True) for block in message.content
        )
        return Reply(
            content=content,
            stop_reason=str(message.stop_reason),
            usage=_usage(message.usage),
            request_id=getattr(message, "_request_id", None),
            model=message.model,
        )

    async def close(self) -> None:
        """Close the SDK's connections."""
        if self._client is not None:
            await self._client.close()
            self._client = None


def _error_text(body: object, key: SecretStr) -> str:
    """The ``error.type: error.message`` of an API error body, secrets scrubbed, one line."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            text = f"{inner.get('type', '')}: {inner.get('message', '')}".strip(": ")
            secret = key.get_secret_value()
            if secret:
                text = text.replace(secret, REDACTED)  # a server may echo what it was sent
            return str(scrub(" ".join(text.split())))[:300]
    return ""
