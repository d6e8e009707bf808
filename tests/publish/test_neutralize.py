"""Agent text made safe to post: shown as code, so no mention, closer, link, HTML or secret acts."""

from __future__ import annotations

import re
import string
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.naming import read_marker
from daemon.publish.neutralize import block, clean, inline

HOSTS = frozenset({"github.com", "example.org"})
GHP = "ghp_" + "A1b2C3d4E5" * 4  # a classic token's shape: ghp_ and 36+ alphanumerics
KEYWORDS = ["close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"]
_PUNCTUATION = frozenset(string.punctuation)
# What GitHub reads as a mention or a closing reference in rendered text.
_LIVE_MENTION = re.compile(r"(?<![\w/.])@[A-Za-z0-9]")
_LIVE_CLOSER = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?:[\w.-]+/[\w.-]+)?#\d+", re.IGNORECASE
)


def outside_code(markdown: str) -> str:
    """The text of ``markdown`` a reader sees outside code spans (CommonMark rules).

    A run of n backticks opens a span closed by the next run of exactly n backticks;
    without one the backticks are literal. A backslash before ASCII punctuation
    (a backtick included) makes that character literal. Spans become a space.
    """
    out: list[str] = []
    i = 0
    while i < len(markdown):
        char = markdown[i]
        if char == "\\" and i + 1 < len(markdown) and markdown[i + 1] in _PUNCTUATION:
            out.append(markdown[i + 1])
            i += 2
        elif char == "`":
            end = i
            while end < len(markdown) and markdown[end] == "`":
                end += 1
            closer = re.compile(rf"(?<!`){'`' * (end - i)}(?!`)").search(markdown, end)
            out.append(" " if closer else markdown[i:end])
            i = closer.end() if closer else end
        else:
            out.append(char)
            i += 1
    return "".join(out)


def rendered_outside_code(markdown: str) -> str:
    """What a reader sees outside code: fenced blocks removed, then code spans."""
    lines, out, fence = markdown.split("\n"), [], ""
    for line in lines:
        run = re.match(r"^(`{3,})", line)
        if fence:
            if run and run.group(1) == fence and line.strip() == fence:
                fence = ""
            continue
        if run:
            fence = run.group(1)
            continue
        out.append(line)
    return outside_code("\n".join(out))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @bob", "`hi @bob`"),
        ("call `notify(@bob)` once", "``call `notify(@bob)` once``"),
        ("``x``", "``` ``x`` ```"),
        ("`x", "`` `x ``"),
        ("two\nlines", "`two lines`"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_inline_is_one_code_span_the_text_cannot_close(text, expected):
    """The span's delimiter is longer than any backtick run inside; padding keeps edges apart."""
    assert inline(text, HOSTS) == expected


def test_block_fences_are_longer_than_any_backtick_run():
    """A block's fence outgrows the text's own fences; line breaks are kept."""
    out = block("first\n```\ncode @bob\n```", HOSTS)
    assert out == "````text\nfirst\n```\ncode @bob\n```\n````"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see https://evil.com/x?d=1 now", "see (link removed) now"),
        ("![a [b] c](https://evil.com/p.png?d=1)", "![a [b] c]((link removed))"),
        ("HTTPS://EVIL.COM/x", "(link removed)"),
        ("www.evil.com/x", "(link removed)"),
        ("ftp://evil.com/x", "(link removed)"),
        ("[r]: //evil.com/p.png", "[r]: (link removed)"),
        ("https://evil.com\\x@github.com/p.png", "(link removed)"),
        ("https://github.com/o/r/pull/1", "https://github.com/o/r/pull/1"),
        ("https://api.github.com/x", "https://api.github.com/x"),
        ("https://example.org.evil.com/x", "(link removed)"),
    ],
)
def test_urls_to_off_list_hosts_are_removed(text, expected):
    """Any URL form GitHub would link loses an off-list host; listed hosts and subdomains stay."""
    assert clean(text, HOSTS) == expected


@pytest.mark.parametrize(
    "fake",
    [
        "<!-- speckitd:task=T9 digest=0123456789ab -->",
        "Done.\n\n<!-- speckitd:task=T1 digest=ffffffffffff -->\n",
        "<img src=https://evil.com/x?d=1><!-- speckitd:task=T9 digest=000000000000 -->",
    ],
)
def test_a_forged_marker_is_not_readable_after_neutralizing(fake):
    """Agent text cannot carry a speckitd marker (or any tag) into a body."""
    for out in (inline(fake, HOSTS), block(fake, HOSTS)):
        assert read_marker(out) is None
        assert "<" not in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-ant-api03-AbC_dEf-123 here", "key [REDACTED] here"),
        (f"token {GHP}", "token [REDACTED]"),
        ("github_pat_" + "x1" * 15, "[REDACTED]"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: [REDACTED]"),
    ],
)
def test_secret_shaped_strings_are_redacted(text, expected):
    """API keys and tokens never reach a body."""
    assert clean(text, HOSTS) == expected


# Text made of the pieces the neutralizer cares about, glued by Markdown-ish noise.
_PIECES = st.sampled_from(
    [
        "@bob",
        "@org/team",
        "a@b.com",
        "fixes #1",
        "Closes: o/r#2",
        "o/r#3",
        "<!-- x -->",
        "<b>",
        "](",
        "![",
        "[",
        "https://evil.com/?q=1",
        "https://github.com/o/r/issues/1",
        "`",
        "``",
        "\\",
        "sk-ant-x",
        "\n",
        " ",
    ]
)
_NOISE = st.text(alphabet=string.ascii_letters + string.digits + "@<>`[]()!#:/.-_ \n\\", max_size=8)
_TEXT = st.lists(st.one_of(_PIECES, _NOISE, st.text(max_size=4)), max_size=25).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_nothing_the_agent_writes_is_live_once_rendered(text):
    """Whatever the input: no '<', and no mention or closing keyword outside code."""
    for out in (inline(text, HOSTS), block(text, HOSTS)):
        assert "<" not in out
        seen = rendered_outside_code(out)
        assert _LIVE_MENTION.search(seen) is None, out
        assert _LIVE_CLOSER.search(seen) is None, out


@pytest.mark.parametrize(
    "text",
    [
        "call `notify(@bob)` once",
        "escaped \\@bob here",
        "trailing @bob` tick",
        "``code @bob``",
        "see \\fixes #1",
        "`x` fixes #1`",
    ],
)
def test_no_mention_or_closer_escapes_the_code(text):
    """Backticks and backslashes in the text cannot end the code early."""
    for out in (inline(text, HOSTS), block(text, HOSTS)):
        seen = rendered_outside_code(out)
        assert _LIVE_MENTION.search(seen) is None, out
        assert _LIVE_CLOSER.search(seen) is None, out


@pytest.mark.parametrize("piece", ["[a](", "![a](", "![", "https://", "`"])
def test_long_inputs_are_neutralized_in_linear_time(piece):
    """20 kB of link syntax or backticks takes well under the timeout."""
    code = (
        "from daemon.publish.neutralize import block, inline\n"
        f"text = {piece!r} * (20_000 // {len(piece)})\n"
        "inline(text, ['github.com']); block(text, ['github.com'])\n"
    )
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{piece!r} * ... did not finish in 5 s")


def test_invisible_formatting_characters_are_shown_as_escapes():
    """A right-to-left override or a zero-width space cannot make a name read as another."""
    shown = inline("backend/app/main\u202eyp.exe\u200b", HOSTS)
    assert shown == "`backend/app/main\\u202eyp.exe\\u200b`"
    assert "\u202e" not in block("x\u2066y", HOSTS)
