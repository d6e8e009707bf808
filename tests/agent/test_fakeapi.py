"""The fake Messages API, driven through the real ``anthropic`` SDK over loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anthropic
import httpx2
import pytest

from daemon.demo.modelserver import FakeMessagesAPI, Reply, text, tokens, tool_use

MODEL = "claude-test-1"
TOOL = {
    "name": "read_file",
    "description": "Read a file of the worktree.",
    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
}
RULES = "You review patches carefully and answer tersely. " * 20
CACHED = {"type": "ephemeral"}


def system(rules: str = RULES, *, cached: bool = True) -> list[dict[str, object]]:
    block: dict[str, object] = {"type": "text", "text": rules}
    if cached:
        block["cache_control"] = CACHED
    return [block]


def user(s: str) -> dict[str, object]:
    return {"role": "user", "content": s}


@pytest.fixture
def fake() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as api:
        yield api


@pytest.fixture(scope="module")
def base() -> Iterator[anthropic.Anthropic]:
    """One SDK client per module: building one costs ~30 ms (TLS context)."""
    # Each test points a copy at its own fake; this address is never used.
    with anthropic.Anthropic(
        base_url="http://127.0.0.1:9", api_key="k", max_retries=0, timeout=10
    ) as c:
        yield c


@pytest.fixture
def sdk(base):
    """A factory of clients for a fake, sharing the module's HTTP client."""

    def make(fake: FakeMessagesAPI, key: str = "k") -> anthropic.Anthropic:
        return base.with_options(base_url=fake.url, api_key=key)

    return make


@pytest.fixture
def client(fake, sdk) -> anthropic.Anthropic:
    return sdk(fake)


def ask(client, messages=None, **kwargs):
    """One non-streaming create call with test defaults."""
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 64)
    return client.messages.create(messages=messages or [user("hi")], **kwargs)


def test_tool_use_round_trip(fake, client):
    """A scripted tool_use, then the tool_result goes back and the turn ends."""
    fake.script(
        Reply.message([tool_use("toolu_1", "read_file", {"path": "a.py"})], "tool_use"),
        Reply.message([text("looks fine")]),
    )
    first = ask(client, tools=[TOOL])
    assert first.stop_reason == "tool_use"
    assert first.id == "msg_0"
    assert first.model == MODEL
    call = first.content[0]
    assert call.type == "tool_use"
    assert (call.id, call.name, call.input) == ("toolu_1", "read_file", {"path": "a.py"})

    history = [
        user("review a.py"),
        {"role": "assistant", "content": [c.model_dump() for c in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "x = 1"}],
        },
    ]
    second = ask(client, history, tools=[TOOL])
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    assert second.content[0].text == "looks fine"
    assert second.id == "msg_1"
    sent = fake.requests[1].body["messages"][2]["content"][0]
    assert sent == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x = 1"}
    assert fake.queued == 0


def test_requests_recorded_with_headers_and_clock(sdk):
    """Each request is recorded with its body, lower-case headers and the injected clock."""
    ticks = iter([100.0, 101.5])
    with FakeMessagesAPI(clock=lambda: next(ticks)) as fake:
        client = sdk(fake)
        fake.script(Reply.message([text("a")]), Reply.message([text("b")]))
        ask(client)
        ask(client, [user("again")])
    first, second = fake.requests
    assert first.headers["authorization"] == "Bearer k"
    assert "anthropic-version" in first.headers
    assert first.headers["content-type"] == "application/json"
    assert (first.index, first.at, first.status) == (0, 100.0, 200)
    assert (second.index, second.at) == (1, 101.5)
    assert second.body["messages"] == [user("again")]
    assert first.body["max_tokens"] == 64
    assert first.usage is not None
    assert first.usage["output_tokens"] == tokens([text("a")])


def test_wrong_key_is_401_and_x_api_key_accepted(sdk):
    """A wrong key gets authentication_error without using the script; x-api-key works."""
    with FakeMessagesAPI(api_key="secret") as fake:
        fake.script(Reply.message([text("ok")]))
        with pytest.raises(anthropic.AuthenticationError) as err:
            ask(sdk(fake, "wrong"))
        assert err.value.status_code == 401
        assert err.value.type == "authentication_error"
        assert fake.requests[0].status == 401
        assert fake.queued == 1
        with httpx2.Client(base_url=fake.url) as raw:
            resp = raw.post(
                "/v1/messages",
                headers={"x-api-key": "secret"},
                json={"model": MODEL, "max_tokens": 8, "messages": [user("hi")]},
            )
        assert resp.status_code == 200
        assert resp.json()["content"] == [text("ok")]
        fake.script(Reply.message([text("bearer")]))
        assert ask(sdk(fake, "secret")).content[0].text == "bearer"


@pytest.mark.parametrize(
    ("status", "kind", "exc"),
    [
        (529, "overloaded_error", anthropic.OverloadedError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (403, "permission_error", anthropic.PermissionDeniedError),
    ],
)
def test_scripted_errors_raise_with_headers(fake, client, status, kind, exc):
    """A scripted error maps to the SDK's exception; retry-after and request-id are visible."""
    fake.script(Reply.error(status, kind, "busy", headers={"retry-after": "2"}))
    with pytest.raises(exc) as err:
        ask(client)
    assert err.value.status_code == status
    assert err.value.type == kind
    assert err.value.api_message == "busy"
    assert err.value.response.headers["retry-after"] == "2"
    assert err.value.request_id == err.value.response.json()["request_id"]
    assert err.value.request_id
    assert fake.requests[0].usage is None


def test_script_exhausted_is_recorded_500(fake, client):
    """An empty script answers 500 api_error and records it."""
    with pytest.raises(anthropic.InternalServerError) as err:
        ask(client)
    assert err.value.api_message == "script exhausted"
    assert fake.requests[0].status == 500


def test_cache_second_request_reads_first_write(fake, client):
    """An identical cached prefix is written once, then read with the same token count."""
    fake.script(Reply.message([text("a")]), Reply.message([text("b")]))
    one = ask(client, tools=[TOOL], system=system()).usage
    two = ask(client, tools=[TOOL], system=system()).usage
    prefix = tokens(TOOL) + tokens(system()[0])
    assert one.cache_creation_input_tokens == prefix
    assert one.cache_read_input_tokens == 0
    assert one.input_tokens == tokens({"role": "user", "content": text("hi")})
    assert two.cache_read_input_tokens == one.cache_creation_input_tokens
    assert two.cache_creation_input_tokens == 0
    assert two.input_tokens == one.input_tokens


def test_cache_extends_when_breakpoint_moves_forward(fake, client):
    """A later breakpoint reads the old prefix and writes only the new tail."""
    fake.script(*(Reply.message([text("ok")]) for _ in range(4)))
    prefix = ask(client, system=system()).usage.cache_creation_input_tokens
    turn = [
        user("first"),
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": [{**text("second"), "cache_control": CACHED}]},
    ]
    tail = (
        tokens({"role": "user", "content": text("first")})
        + tokens({"role": "assistant", "content": text("noted")})
        + tokens({"role": "user", "content": text("second")})
    )
    # The breakpoint moves off the system block; the system content is unchanged.
    moved = ask(client, turn, system=system(cached=False)).usage
    assert (moved.cache_read_input_tokens, moved.cache_creation_input_tokens) == (prefix, tail)
    assert moved.input_tokens == 0

    repeat = ask(client, turn, system=system(cached=False)).usage
    assert (repeat.cache_read_input_tokens, repeat.cache_creation_input_tokens) == (
        prefix + tail,
        0,
    )

    more = [
        *turn,
        {"role": "assistant", "content": "ack"},
        {"role": "user", "content": [{**text("third"), "cache_control": CACHED}]},
    ]
    grown = ask(client, more, system=system(cached=False)).usage
    assert grown.cache_read_input_tokens == prefix + tail
    assert grown.cache_creation_input_tokens == tokens(
        {"role": "assistant", "content": text("ack")}
    ) + tokens({"role": "user", "content": text("third")})


def test_cache_changed_system_byte_misses(fake, client):
    """One changed byte of the system prompt misses the cache and writes anew."""
    fake.script(Reply.message([text("a")]), Reply.message([text("b")]))
    one = ask(client, system=system()).usage
    two = ask(client, system=system(RULES[:-1] + "!")).usage
    assert two.cache_read_input_tokens == 0
    assert two.cache_creation_input_tokens == one.cache_creation_input_tokens > 0


def test_cache_key_includes_model_and_role(fake, client):
    """The same prompt for another model, or under another role, does not hit the cache."""
    fake.script(*(Reply.message([text("a")]) for _ in range(4)))
    assert ask(client, system=system()).usage.cache_creation_input_tokens > 0
    other = ask(client, system=system(), model="claude-other").usage
    assert (other.cache_read_input_tokens, other.cache_creation_input_tokens > 0) == (0, True)

    marked = [{**text("q"), "cache_control": CACHED}]
    ask(client, [user("x"), {"role": "assistant", "content": marked}])
    swapped = ask(client, [user("x"), {"role": "user", "content": marked}]).usage
    assert swapped.cache_read_input_tokens == 0


def test_no_cache_control_neither_reads_nor_writes(fake, client):
    """Without breakpoints nothing is written or read, and everything is input."""
    fake.script(Reply.message([text("a")]), Reply.message([text("b")]))
    for _ in range(2):
        usage = ask(client, tools=[TOOL], system=system(cached=False)).usage
        assert usage.cache_read_input_tokens == usage.cache_creation_input_tokens == 0
        assert usage.input_tokens == tokens(TOOL) + tokens(system()[0]) + tokens(
            {"role": "user", "content": text("hi")}
        )


def test_min_cacheable_tokens_respected(sdk):
    """A prefix below min_cacheable_tokens is neither written nor read; one above is."""
    small = tokens(system()[0])
    with FakeMessagesAPI(min_cacheable_tokens=small + 1) as fake:
        client = sdk(fake)
        fake.script(*(Reply.message([text("a")]) for _ in range(4)))
        for _ in range(2):
            usage = ask(client, system=system()).usage
            assert usage.cache_read_input_tokens == usage.cache_creation_input_tokens == 0
        big = system(RULES + "More rules. " * 4)
        assert ask(client, system=big).usage.cache_creation_input_tokens > small
        assert ask(client, system=big).usage.cache_read_input_tokens > small


def test_lookback_window_limits_reads(sdk):
    """A cached prefix further back than lookback_blocks from the breakpoint is not found."""
    blocks = [text(c) for c in "abcd"]
    far = [{"role": "user", "content": [*blocks[:3], {**blocks[3], "cache_control": CACHED}]}]
    near = [{"role": "user", "content": [blocks[0], {**blocks[1], "cache_control": CACHED}]}]
    with FakeMessagesAPI(lookback_blocks=2) as fake:
        client = sdk(fake)
        fake.script(*(Reply.message([text("a")]) for _ in range(3)))
        prefix = ask(client, system=system()).usage.cache_creation_input_tokens
        # System is block 0; the breakpoint at block 4 looks back to block 2 only.
        assert ask(client, far, system=system(cached=False)).usage.cache_read_input_tokens == 0
        # Block 2 looks back to block 0 and finds the system prefix.
        assert (
            ask(client, near, system=system(cached=False)).usage.cache_read_input_tokens == prefix
        )


def test_top_level_cache_control_marks_last_block(fake, client):
    """A request-level cache_control caches the whole prompt."""
    fake.script(Reply.message([text("a")]), Reply.message([text("b")]))
    one = ask(client, system=system(cached=False), cache_control=CACHED).usage
    assert one.input_tokens == one.cache_read_input_tokens == 0
    two = ask(client, system=system(cached=False), cache_control=CACHED).usage
    assert two.cache_read_input_tokens == one.cache_creation_input_tokens > 0


def test_responder_answers_when_queue_is_empty(sdk):
    """The responder drives a clock-based 529 storm once the script is used up."""
    now = [0.0]
    seen: list[int] = []

    def storm(index: int, body: dict) -> Reply:
        seen.append(index)
        assert body["model"] == MODEL
        if now[0] < 10:
            return Reply.error(529, "overloaded_error", headers={"retry-after": "1"})
        return Reply.message([text(f"r{index}")])

    with FakeMessagesAPI(clock=lambda: now[0]) as fake:
        client = sdk(fake)
        fake.script(Reply.message([text("scripted")]))
        fake.responder = storm
        assert ask(client).content[0].text == "scripted"
        with pytest.raises(anthropic.OverloadedError):
            ask(client)
        now[0] = 10.0
        assert ask(client).content[0].text == "r2"
    assert seen == [1, 2]
    assert [r.status for r in fake.requests] == [200, 529, 200]
    assert [r.at for r in fake.requests] == [0.0, 0.0, 10.0]


def test_hold_blocks_the_answer_until_set(fake, client):
    """A held reply is recorded at once but answered only after its event is set."""
    hold = threading.Event()
    done = threading.Event()
    got: list[str] = []
    fake.script(Reply.message([text("late")], hold=hold))

    def call() -> None:
        got.append(ask(client).content[0].text)
        done.set()

    worker = threading.Thread(target=call)
    worker.start()
    fake.wait_for_requests(1, timeout=5)
    assert not done.is_set()
    assert fake.requests[0].status == 200
    hold.set()
    assert done.wait(5)
    worker.join(5)
    assert got == ["late"]


def test_wait_for_requests_times_out(fake):
    """Waiting for requests that never come raises TimeoutError."""
    with pytest.raises(TimeoutError):
        fake.wait_for_requests(1, timeout=0.01)


def test_count_tokens_matches_create(fake, client):
    """count_tokens reports the prompt's tokens, as create splits them, without the script."""
    prompt = {"tools": [TOOL], "system": system(), "messages": [user("hi")]}
    counted = client.messages.count_tokens(model=MODEL, **prompt).input_tokens
    assert counted == tokens(TOOL) + tokens(system()[0]) + tokens(
        {"role": "user", "content": text("hi")}
    )
    assert fake.requests[0].path == "/v1/messages/count_tokens"
    assert fake.requests[0].usage is None
    fake.script(Reply.message([text("a")]))
    usage = ask(client, **prompt).usage
    assert usage.input_tokens + usage.cache_creation_input_tokens == counted


def test_unknown_route_bad_json_and_streaming_rejected(fake, client):
    """Other routes 404, malformed bodies and stream=true 400, all as error JSON."""
    with httpx2.Client(base_url=fake.url) as raw:
        missing = raw.get("/v1/models")
        broken = raw.post("/v1/messages", content=b"{not json")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json()["error"]["type"] == "not_found_error"
    assert missing.json()["request_id"] == missing.headers["request-id"]
    assert broken.status_code == 400
    assert broken.json()["error"]["type"] == "invalid_request_error"
    fake.script(Reply.message([text("unused")]))
    with pytest.raises(anthropic.BadRequestError) as err:
        ask(client, stream=True)
    assert err.value.api_message == "fake: streaming not supported"
    assert fake.queued == 1


def test_totals_and_usage_override(fake, client):
    """totals() sums reported usage over 200s only; Reply usage overrides computed fields."""
    fake.script(
        Reply.message([text("a")], usage={"output_tokens": 7}),
        Reply.error(529, "overloaded_error"),
        Reply.message([text("bb")], model="claude-pinned"),
    )
    assert ask(client).usage.output_tokens == 7
    with pytest.raises(anthropic.OverloadedError):
        ask(client)
    pinned = ask(client)
    assert pinned.model == "claude-pinned"
    totals = fake.totals()
    assert totals["output_tokens"] == 7 + pinned.usage.output_tokens
    assert totals["input_tokens"] == 2 * tokens({"role": "user", "content": text("hi")})
    assert totals["cache_read_input_tokens"] == 0


def test_close_releases_holds_and_joins_threads():
    """Closing answers a still-held reply and leaves no server thread behind."""
    fake = FakeMessagesAPI()
    fake.start()
    fake.script(Reply.message([text("held")], hold=threading.Event()))
    got: list[int] = []

    def call() -> None:
        with httpx2.Client(base_url=fake.url, timeout=10) as raw:
            body = {"model": MODEL, "max_tokens": 8, "messages": [user("hi")]}
            got.append(raw.post("/v1/messages", json=body).status_code)

    worker = threading.Thread(target=call)
    worker.start()
    fake.wait_for_requests(1, timeout=5)
    fake.close()
    worker.join(5)
    assert not worker.is_alive()
    assert got == [200]
    names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n == type(fake).__name__ or "process_request" in n]
    with pytest.raises(RuntimeError):
        _ = fake.url


def test_an_unanswered_tool_use_is_a_400(fake, client):
    """A tool_use with no tool_result right after it is refused, as the API does."""
    fake.script(Reply.message([text("never sent")]))
    messages = [
        user("hi"),
        {"role": "assistant", "content": [tool_use("toolu_1", "t", {})]},
        user("no result"),
    ]
    with pytest.raises(anthropic.BadRequestError, match="tool_result"):
        ask(client, messages)


def test_empty_content_before_the_end_is_a_400(fake, client):
    """Only a final assistant message may be empty."""
    messages = [user("hi"), {"role": "assistant", "content": []}, user("again")]
    with pytest.raises(anthropic.BadRequestError, match="non-empty content"):
        ask(client, messages)


def test_more_than_four_breakpoints_is_a_400(fake, client):
    """Five cache_control blocks are refused."""
    marked = {"type": "ephemeral"}
    system = [{"type": "text", "text": f"s{n}", "cache_control": marked} for n in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4"):
        ask(client, system=system)
