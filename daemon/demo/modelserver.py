"""A scripted Anthropic Messages API: a real HTTP server on 127.0.0.1 (demo and tests).

The fake listens on an ephemeral port of the loopback interface, answers
``POST /v1/messages`` from a per-test script (or a dynamic ``responder``), answers
``POST /v1/messages/count_tokens`` by computation, and records every request. It is
stdlib-only on purpose: importing the real SDK costs more than a second.

Token and cache model
---------------------
The numbers are not the real tokenizer's, but they are deterministic and they make
prompt caching measurable:

* The tokens of a piece are ``ceil(len(canonical) / 4)``, where ``canonical`` is the
  UTF-8 of ``json.dumps(piece, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`` with every ``"cache_control"`` key removed, so moving a
  breakpoint never changes the content.
* The prompt is the flat sequence of blocks in the API's cache order: each tool
  definition in ``tools``, then each ``system`` block (a string system is one text
  block), then every content block of every message in order (a string content is
  one text block). A message block's canonical form is
  ``{"role": role, "content": block}``, so a role change is a content change.
* Breakpoints are the blocks that carry a ``cache_control`` key; a top-level
  ``cache_control`` in the request is a breakpoint on the last block.
* The cache maps a prefix hash to the tokens of that prefix. The hash is SHA-256
  over the model name and then the canonical blocks in order (computed
  incrementally, so a request costs O(blocks)).
* Lookup: for each breakpoint ``b`` the prefixes ending at blocks ``b`` down to
  ``max(0, b - lookback_blocks)`` are tried, longest first; ``cache_read_input_tokens``
  is the largest hit over all breakpoints.
* Writes: for each breakpoint ``b`` the prefix ``blocks[0:b+1]`` is stored if it has at
  least ``min_cacheable_tokens`` tokens. ``cache_creation_input_tokens`` is the tokens
  up to the last breakpoint minus the cache read (never negative), and 0 when there
  is no breakpoint or that prefix is below ``min_cacheable_tokens`` (nothing was
  written then).
* ``input_tokens`` is the prompt's tokens minus the cache read and the cache creation;
  ``output_tokens`` is the tokens of the reply's ``content`` list (at least 1).
* Entries never expire: tests are far shorter than the real five-minute lifetime.

Only successful (200) message replies touch the cache, as an error would not have
been processed by the real API.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from daemon.demo.loopback import Handler, Loopback

__all__ = [
    "ERROR_STATUS",
    "FakeMessagesAPI",
    "Recorded",
    "Reply",
    "canonical",
    "text",
    "tokens",
    "tool_use",
]

JSON = dict[str, Any]

MESSAGES_PATH = "/v1/messages"
MAX_BREAKPOINTS = 4
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"

# A held reply is released after this long even if nobody sets its event, so a
# forgotten ``hold.set()`` fails a test instead of hanging the suite.
HOLD_TIMEOUT = 30.0

# The documented error types and the status the API sends them with.
ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

# What a bare ``Reply(200)`` answers.
_EMPTY_MESSAGE: JSON = {
    "type": "message",
    "role": "assistant",
    "content": [],
    "stop_reason": "end_turn",
    "stop_sequence": None,
}

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def text(s: str) -> JSON:
    """A text content block."""
    return {"type": "text", "text": s}


def tool_use(id: str, name: str, input: JSON) -> JSON:  # noqa: A002 - the API's field names
    """A tool_use content block."""
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def _strip_cache_control(obj: Any) -> Any:
    """``obj`` with every ``cache_control`` key removed, at any depth."""
    if isinstance(obj, dict):
        return {k: _strip_cache_control(v) for k, v in obj.items() if k != "cache_control"}
    if isinstance(obj, list):
        return [_strip_cache_control(v) for v in obj]
    return obj


def canonical(obj: Any) -> bytes:
    """The canonical UTF-8 JSON of ``obj``, without ``cache_control`` keys."""
    dumped = json.dumps(
        _strip_cache_control(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return dumped.encode()


def tokens(obj: Any) -> int:
    """The fake token count of ``obj``: a quarter of its canonical bytes, rounded up."""
    return -(-len(canonical(obj)) // 4)


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fake.

    ``usage`` entries replace the computed ones key by key; ``hold`` makes the
    server wait (at most ``HOLD_TIMEOUT`` seconds) for the event before answering.
    """

    status: int = 200
    body: JSON | None = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] | None = None
    hold: threading.Event | None = None

    @classmethod
    def message(
        cls,
        content: list[JSON],
        stop_reason: str = "end_turn",
        *,
        usage: dict[str, int] | None = None,
        hold: threading.Event | None = None,
        model: str | None = None,
    ) -> Reply:
        """A successful message; the server fills in ``id``, ``usage`` and ``model``."""
        body: JSON = {
            "type": "message",
            "role": "assistant",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
        }
        if model is not None:
            body["model"] = model
        return cls(200, body, usage=usage, hold=hold)

    @classmethod
    def error(
        cls,
        status: int,
        kind: str,
        message: str = "fake error",
        *,
        headers: dict[str, str] | None = None,
        hold: threading.Event | None = None,
    ) -> Reply:
        """An error reply shaped like the API's; the server adds ``request_id``."""
        body: JSON = {"type": "error", "error": {"type": kind, "message": message}}
        return cls(status, body, headers=dict(headers or {}), hold=hold)


@dataclass(frozen=True)
class Recorded:
    """One request as the fake saw it, and what it answered."""

    index: int
    body: JSON  # the parsed JSON body ({} if it was not a JSON object)
    headers: dict[str, str]  # lower-case names
    at: float  # the injected clock at arrival
    status: int
    usage: dict[str, int] | None  # what was reported, for 200 messages
    path: str = MESSAGES_PATH


@dataclass(frozen=True)
class _Block:
    """One prompt block, ready for hashing and counting."""

    data: bytes  # canonical form, tagged with its section for hashing
    tokens: int
    breakpoint: bool


class _BadRequestError(ValueError):
    """The request body is not shaped like the API's."""


def _is_breakpoint(block: Any) -> bool:
    return isinstance(block, dict) and block.get("cache_control") is not None


def _block(section: str, obj: Any, *, marked: bool) -> _Block:
    data = canonical(obj)
    # The section tag keeps a tool from hashing like an equal system block.
    return _Block(section.encode() + b"\0" + data, -(-len(data) // 4), breakpoint=marked)


def _prompt_blocks(body: JSON) -> list[_Block]:
    """The prompt of a request as blocks in the API's cache order."""
    blocks: list[_Block] = []
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _BadRequestError("tools: expected a list")
    blocks.extend(_block("tool", tool, marked=_is_breakpoint(tool)) for tool in tools)
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(_block("system", text(system), marked=False))
    elif isinstance(system, list):
        blocks.extend(_block("system", b, marked=_is_breakpoint(b)) for b in system)
    elif system is not None:
        raise _BadRequestError("system: expected a string or a list of blocks")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _BadRequestError("messages: Field required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise _BadRequestError(f"messages.{i}: expected a user or assistant message")
        role, content = message["role"], message.get("content")
        parts = [text(content)] if isinstance(content, str) else content
        if not isinstance(parts, list):
            raise _BadRequestError(f"messages.{i}.content: expected a string or a list")
        blocks.extend(
            _block("message", {"role": role, "content": p}, marked=_is_breakpoint(p)) for p in parts
        )
    if body.get("cache_control") is not None and blocks:
        last = blocks[-1]
        blocks[-1] = _Block(last.data, last.tokens, breakpoint=True)
    return blocks


def _validate(path: str, body: object) -> tuple[JSON, list[_Block]]:
    """The request body and its prompt blocks, or _BadRequestError."""
    if not isinstance(body, dict):
        raise _BadRequestError("body: expected a JSON object")
    if not isinstance(body.get("model"), str):
        raise _BadRequestError("model: Field required")
    blocks = _prompt_blocks(body)
    if path == MESSAGES_PATH:
        if not isinstance(body.get("max_tokens"), int):
            raise _BadRequestError("max_tokens: Field required")
        if body.get("stream"):
            raise _BadRequestError("fake: streaming not supported")
    _check_conversation(body["messages"])
    marked = sum(block.breakpoint for block in blocks)
    if marked > MAX_BREAKPOINTS:
        raise _BadRequestError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {marked}."
        )
    return body, blocks


def _check_conversation(messages: list[JSON]) -> None:
    """The API's rules for a conversation: non-empty content, every tool_use answered.

    Every message but an optional final assistant one has content, and each assistant
    ``tool_use`` is answered by a ``tool_result`` with its id in the very next (user)
    message, before any other block there.
    """
    for index, message in enumerate(messages):
        content = message.get("content")
        last = index == len(messages) - 1
        if not content and not (last and message.get("role") == "assistant"):
            raise _BadRequestError(
                f"messages.{index}: all messages must have non-empty content except for "
                "the optional final assistant message"
            )
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        uses = [b.get("id") for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not uses or last:
            continue
        following = messages[index + 1].get("content")
        blocks = following if isinstance(following, list) else []
        leading = []
        for block in blocks:
            if not (isinstance(block, dict) and block.get("type") == "tool_result"):
                break
            leading.append(block.get("tool_use_id"))
        missing = [use for use in uses if use not in leading]
        if missing or messages[index + 1].get("role") != "user":
            raise _BadRequestError(
                f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(map(str, missing))}"
            )


class FakeMessagesAPI(Loopback):
    """A scripted Messages API on ``127.0.0.1``; use it as a context manager.

    ``responder(index, body)``, when set, answers requests that find the script
    queue empty; it runs under the fake's (re-entrant) lock, so it must not block.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_cacheable_tokens: int = 0,
        lookback_blocks: int = 20,
    ) -> None:
        self.api_key = api_key
        self.min_cacheable_tokens = min_cacheable_tokens
        self.lookback_blocks = lookback_blocks
        self.responder: Callable[[int, JSON], Reply] | None = None
        self.requests: list[Recorded] = []
        self._clock = clock
        # Re-entrant so a responder may call totals() or read requests.
        self._cond = threading.Condition(threading.RLock())
        self._queue: collections.deque[Reply] = collections.deque()
        self._cache: dict[bytes, int] = {}
        self._closing = threading.Event()
        super().__init__()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Bind an ephemeral loopback port and serve in a background thread."""
        self._closing.clear()
        super().start()

    def _stopping(self) -> None:
        self._closing.set()  # held replies stop waiting

    # -- scripting and inspection ------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next message requests, first in first out."""
        with self._cond:
            self._queue.extend(replies)

    @property
    def queued(self) -> int:
        """How many scripted replies are still unused."""
        with self._cond:
            return len(self._queue)

    def wait_for_requests(self, n: int, timeout: float = 10) -> None:
        """Block until at least ``n`` requests were recorded; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} of {n} requests after {timeout}s")

    def totals(self) -> dict[str, int]:
        """The sums of the reported integer usage fields over 200 responses."""
        sums = dict.fromkeys(USAGE_FIELDS, 0)
        with self._cond:
            for rec in self.requests:
                if rec.status != 200 or rec.usage is None:
                    continue
                for key, value in rec.usage.items():
                    if isinstance(value, int):
                        sums[key] = sums.get(key, 0) + value
        return sums

    # -- serving -----------------------------------------------------------------

    def serve(self, handler: Handler) -> None:
        """Answer one request (runs on a handler thread)."""
        arrived = self._clock()
        path = urlsplit(handler.path).path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        request_body = self._parse(raw)
        with self._cond:
            # Deciding under the lock keeps requests[i].index == i and the cache consistent.
            index = len(self.requests)
            reply, body, usage = self._decide(index, handler.command, path, headers, request_body)
            self.requests.append(
                Recorded(
                    index=index,
                    body=request_body if isinstance(request_body, dict) else {},
                    headers=headers,
                    at=arrived,
                    status=reply.status,
                    usage=usage,
                    path=path,
                )
            )
            self._cond.notify_all()
        if reply.hold is not None:
            self._wait_hold(reply.hold)
        self._send(handler, reply, body, f"req_{index:06d}")

    def _wait_hold(self, hold: threading.Event) -> None:
        # Short slices so close() releases a held reply promptly.
        deadline = time.monotonic() + HOLD_TIMEOUT
        while not hold.wait(0.02):
            if self._closing.is_set() or time.monotonic() >= deadline:
                return

    @staticmethod
    def _parse(raw: bytes) -> object:
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        # The SDK sends a bearer token; curl-style clients send x-api-key.
        offered = [headers.get("x-api-key", "")]
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            offered.append(auth[len("bearer ") :])
        return any(hmac.compare_digest(o.encode(), self.api_key.encode()) for o in offered)

    def _decide(
        self, index: int, method: str, path: str, headers: dict[str, str], body: object
    ) -> tuple[Reply, JSON | None, dict[str, int] | None]:
        """The reply, the final body and the reported usage for one request."""
        if not self._authorized(headers):
            return Reply.error(401, "authentication_error", "invalid x-api-key"), None, None
        if method != "POST" or path not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            return Reply.error(404, "not_found_error", f"Not found: {method} {path}"), None, None
        try:
            body, blocks = _validate(path, body)
        except _BadRequestError as exc:
            return Reply.error(400, "invalid_request_error", str(exc)), None, None
        if path == COUNT_TOKENS_PATH:
            total = sum(b.tokens for b in blocks)
            return Reply(200, {"input_tokens": total}), None, None
        if self._queue:
            reply = self._queue.popleft()
        elif self.responder is not None:
            reply = self.responder(index, body)
        else:
            reply = Reply.error(500, "api_error", "script exhausted")
        if reply.status != 200 or (reply.body is not None and reply.body.get("type") != "message"):
            return reply, None, None  # an error, or a raw body sent as scripted
        message: JSON = dict(reply.body if reply.body is not None else _EMPTY_MESSAGE)
        usage = self._usage(body["model"], blocks, message.get("content") or [])
        usage.update(reply.usage or {})
        message["id"] = message.get("id") or f"msg_{index}"
        message["model"] = message.get("model") or body["model"]
        message["usage"] = usage
        return reply, message, usage

    def _usage(self, model: str, blocks: list[_Block], content: list[JSON]) -> dict[str, int]:
        """Look the prompt up in the cache, write its breakpoints, report the usage."""
        digest = hashlib.sha256()
        digest.update(len(model).to_bytes(4, "big") + model.encode())
        prefix_hash = [digest.digest()]  # prefix_hash[k] covers blocks[0:k]
        prefix_tokens = [0]
        for block in blocks:
            # Length-prefixed so block boundaries cannot shift between requests.
            digest.update(len(block.data).to_bytes(8, "big") + block.data)
            prefix_hash.append(digest.digest())  # digest() does not finalize the hash
            prefix_tokens.append(prefix_tokens[-1] + block.tokens)
        breakpoints = [i for i, b in enumerate(blocks) if b.breakpoint]

        read = 0
        for b in breakpoints:
            for k in range(b + 1, max(0, b - self.lookback_blocks), -1):
                if prefix_hash[k] in self._cache:
                    read = max(read, prefix_tokens[k])
                    break
        for b in breakpoints:
            if prefix_tokens[b + 1] >= self.min_cacheable_tokens:
                self._cache[prefix_hash[b + 1]] = prefix_tokens[b + 1]
        creation = 0
        if breakpoints:
            cached = prefix_tokens[breakpoints[-1] + 1]
            if cached >= self.min_cacheable_tokens:
                creation = max(0, cached - read)
        return {
            "input_tokens": prefix_tokens[-1] - read - creation,
            "output_tokens": max(1, tokens(content)),
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
        }

    @staticmethod
    def _send(handler: Handler, reply: Reply, body: JSON | None, request_id: str) -> None:
        payload = dict(body if body is not None else reply.body or {})
        if payload.get("type") == "error":
            payload["request_id"] = request_id
        data = json.dumps(payload).encode()
        handler.send_response(reply.status)
        handler.send_header("content-type", "application/json")
        handler.send_header("request-id", request_id)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("content-length", str(len(data)))
        # One request per connection: no keep-alive thread can delay close().
        handler.send_header("connection", "close")
        handler.end_headers()
        handler.wfile.write(data)
