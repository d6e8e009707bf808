"""One list of invisible characters, held alike by everyone who hides, shows or refuses them."""

from __future__ import annotations

import pytest

from daemon.agent.context import sanitize
from daemon.globs import fold
from daemon.invisible import is_invisible, replace, strip
from daemon.publish.neutralize import verbatim

HIDDEN = ["\u00ad", "\u061c", "\u180e", "\u200b", "\u200c", "\u200d", "\u202e", "\u2066",
          "\ufeff", "\ufe0f", "\U000e0041", "\U000e0100"]  # fmt: skip
SHOWN = ["a", " ", "\t", "é", "中", "😀", "\u00a0", "‹"]


@pytest.mark.parametrize("char", HIDDEN)
def test_format_characters_and_variation_selectors_are_invisible(char: str) -> None:
    """Bidi controls, zero-width characters, the soft hyphen, tags and selectors count."""
    assert is_invisible(char)
    assert strip(f"pack{char}age.json") == "package.json"
    assert replace(f"a{char}b", lambda c: f"<{ord(c):x}>") == f"a<{ord(char):x}>b"


@pytest.mark.parametrize("char", SHOWN)
def test_characters_that_show_are_kept(char: str) -> None:
    """Letters, spaces, emoji and punctuation are not touched."""
    assert not is_invisible(char)
    assert strip(f"a{char}b") == f"a{char}b"


@pytest.mark.parametrize("char", HIDDEN)
def test_every_use_reads_the_same_list(char: str) -> None:
    """The agent's context drops it, a PR body shows it escaped, deny-lists fold it away."""
    name = f"pack{char}age.json"
    assert sanitize(name) == "package.json"
    assert verbatim(name) == f"`pack\\u{ord(char):04x}age.json`"
    assert fold(name) == "package.json"
