"""Making agent-written text safe to post (DESIGN §9; test plan §6.7). Pure.

Text the agent wrote goes into pull requests and issues, where the forge would act on
it: ``@someone`` notifies, ``fixes #12`` closes an issue on merge, an image from an
outside host leaks data in its URL, an HTML comment could forge our marker. Rather
than out-guess Markdown, agent text is shown as code — a code span (:func:`inline`)
or a fenced block (:func:`block`) whose delimiter is longer than any backtick run in
the text, so nothing in it can end the code — where the forge renders no mention,
reference, link, image or HTML. Before that, secret-shaped strings are redacted,
URLs to hosts off the allow-list are removed, and ``<`` becomes ``‹`` so no marker or
tag can be spelled. Every pattern here runs in linear time.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Final
from urllib.parse import urlsplit

from daemon import invisible
from daemon.logs import scrub

# Anything that looks like a URL: scheme://, protocol-relative //, or www. (GitHub
# links all of these, whatever the scheme's case).
_URL: Final = re.compile(
    r"(?:\b[A-Za-z][A-Za-z0-9+.-]{0,30}:)?//[^\s<>\"'`()\[\]{}]+|\bwww\.[^\s<>\"'`()\[\]{}]+",
)
_BACKTICKS: Final = re.compile(r"`+")


def _allowed(url: str, hosts: Collection[str]) -> bool:
    text = url.replace("\\", "/")  # browsers read a backslash in a URL as a slash
    if text.lower().startswith("www."):
        text = "//" + text
    try:
        host = (urlsplit(text).hostname or "").lower()
    except ValueError:
        return False
    return bool(host) and any(host == h or host.endswith("." + h) for h in hosts)


def clean(text: str, hosts: Collection[str]) -> str:
    """``text`` with secrets redacted, off-list URLs removed and no ``<``.

    Invisible formatting characters (bidi overrides, zero-width) are shown as escapes,
    so a displayed name cannot read as another.
    """
    text = str(scrub(text))
    text = _URL.sub(lambda m: m.group(0) if _allowed(m.group(0), hosts) else "(link removed)", text)
    text = invisible.replace(text, _escape)
    return text.replace("<", "\u2039")


def _longest_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def inline(text: str, hosts: Collection[str]) -> str:
    """Agent text as one code span (line breaks become spaces); "" stays ""."""
    return _span(" ".join(clean(text, hosts).split()))


def verbatim(text: str) -> str:
    """A name (a path) as one code span, kept whole.

    No URL in it is removed, since a code span links nothing; only ``<`` and invisible
    characters are changed.
    """
    return _span(" ".join(invisible.replace(text, _escape).replace("<", "\u2039").split()))


def _span(flat: str) -> str:
    if not flat:
        return ""
    fence = "`" * (_longest_run(flat) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _escape(char: str) -> str:
    return f"\\u{ord(char):04x}"


def block(text: str, hosts: Collection[str]) -> str:
    """Agent text as a fenced code block, line breaks kept."""
    body = clean(text, hosts).strip("\n")
    fence = "`" * max(3, _longest_run(body) + 1)
    return f"{fence}text\n{body}\n{fence}"
