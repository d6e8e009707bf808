"""The run transcript: redacted JSON lines that survive a kill mid-write."""

from __future__ import annotations

import json

import pytest

from daemon.agent.transcript import Transcript

KEY = "canary-7f3e9b1c-key"  # not secret-shaped: only the known-secret list can hide it


def test_append_then_events_round_trips(tmp_path):
    """Events come back in order and equal to what append returned."""
    transcript = Transcript(tmp_path / "runs" / "r1" / "t.jsonl")
    first = transcript.append({"type": "request", "turn": 1, "text": "héllo 🚀"})
    second = transcript.append(
        {"type": "reply", "content": [{"type": "text", "text": "ok"}], "usage": {"input": 3}}
    )
    assert first == {"type": "request", "turn": 1, "text": "héllo 🚀"}
    assert transcript.events() == [first, second]
    assert Transcript(transcript.path).events() == [first, second]


def test_each_event_is_one_sorted_json_line(tmp_path):
    """Every event is written as one compact line with sorted keys."""
    transcript = Transcript(tmp_path / "t.jsonl")
    transcript.append({"b": 1, "a": [1, 2]})
    transcript.append({"c": None})
    assert transcript.path.read_text(encoding="utf-8") == '{"a":[1,2],"b":1}\n{"c":null}\n'


def test_known_and_secret_shaped_values_are_redacted_everywhere(tmp_path):
    """Known secrets and secret-shaped strings are replaced, however deeply nested."""
    transcript = Transcript(tmp_path / "t.jsonl", secrets=[KEY, "abc"])
    written = transcript.append(
        {
            "type": "tool_result",
            "content": [
                {"text": f"key={KEY}; token sk-ant-abc123XYZ_-9 leaked"},
                ("Bearer eyJhbGciOi.J9.x", {"deep": [f"x{KEY}y", "ghp_" + "a" * 24]}),
            ],
            "count": 7,
            "short": "abc stays: too short to be a secret",
        }
    )
    expected = {
        "type": "tool_result",
        "content": [
            {"text": "key=[REDACTED]; token [REDACTED] leaked"},
            ["[REDACTED]", {"deep": ["x[REDACTED]y", "[REDACTED]"]}],
        ],
        "count": 7,
        "short": "abc stays: too short to be a secret",
    }
    assert written == expected
    assert transcript.events() == [expected]
    raw = transcript.path.read_text(encoding="utf-8")
    assert KEY not in raw
    assert "sk-ant-" not in raw
    assert "ghp_" not in raw


def test_longer_secrets_are_replaced_first(tmp_path):
    """A secret that contains another is redacted whole, not in pieces."""
    transcript = Transcript(tmp_path / "t.jsonl", secrets=["secret", "secret-and-more"])
    assert transcript.append({"v": "a secret-and-more b"}) == {"v": "a [REDACTED] b"}


def test_torn_last_line_is_skipped_and_the_next_event_kept(tmp_path):
    """A line cut short by a kill is ignored, and the next run's first event is not glued to it."""
    path = tmp_path / "t.jsonl"
    Transcript(path).append({"type": "request", "turn": 1})
    with path.open("a", encoding="utf-8") as out:
        out.write('{"type":"reply","content":[{"te')
    restarted = Transcript(path)
    assert restarted.events() == [{"type": "request", "turn": 1}]
    restarted.append({"type": "request", "turn": 2})
    restarted.append({"type": "reply", "turn": 2})
    assert restarted.events() == [
        {"type": "request", "turn": 1},
        {"type": "request", "turn": 2},
        {"type": "reply", "turn": 2},
    ]
    assert Transcript(path).events() == restarted.events()


def test_file_holding_only_a_torn_line_reads_empty_then_keeps_the_next(tmp_path):
    """A kill during the very first write leaves nothing readable, and loses nothing after."""
    path = tmp_path / "t.jsonl"
    path.write_text('{"type":"req', encoding="utf-8")
    transcript = Transcript(path)
    assert transcript.events() == []
    transcript.append({"type": "request", "turn": 1})
    assert transcript.events() == [{"type": "request", "turn": 1}]


def test_non_object_lines_are_skipped(tmp_path):
    """Only JSON objects are events."""
    path = tmp_path / "t.jsonl"
    path.write_text('[1, 2]\n"text"\n{"type": "ok"}\n\n', encoding="utf-8")
    assert Transcript(path).events() == [{"type": "ok"}]


def test_events_of_a_missing_file_is_empty(tmp_path):
    """A run that has written nothing has no events."""
    assert Transcript(tmp_path / "absent" / "t.jsonl").events() == []


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_text_with_unicode_line_separators_round_trips(tmp_path, separator):
    """Model text holding a Unicode line separator is read back, not dropped."""
    transcript = Transcript(tmp_path / "t.jsonl")
    event = {"type": "reply", "text": f"one{separator}two"}
    transcript.append(event)
    transcript.append({"type": "end"})
    assert len(transcript.path.read_bytes().splitlines()) == 2
    assert json.loads(transcript.path.read_bytes().splitlines()[0]) == event
    assert transcript.events() == [event, {"type": "end"}]
