"""Characters that change how text reads while showing nothing: one list for every use.

Unicode format characters (category Cf: bidi controls, zero-width characters, the soft
hyphen, the Arabic letter mark, the BOM, tag characters, which can spell out a whole
hidden instruction) and variation selectors. Text for the agent drops them, text for
reviewers shows them escaped, names the agent writes may not hold them, and deny-lists
match names without them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Final

_NOT_ASCII: Final = re.compile(r"[^\x00-\x7f]")


def is_invisible(char: str) -> bool:
    """Whether ``char`` (one character) is a format character or a variation selector."""
    return (
        unicodedata.category(char) == "Cf"
        or "\ufe00" <= char <= "\ufe0f"
        or "\U000e0100" <= char <= "\U000e01ef"
    )


def replace(text: str, by: Callable[[str], str]) -> str:
    """``text`` with each invisible character replaced by ``by(char)``."""
    if text.isascii():
        return text
    return _NOT_ASCII.sub(
        lambda m: by(m.group(0)) if is_invisible(m.group(0)) else m.group(0), text
    )


def strip(text: str) -> str:
    """``text`` without its invisible characters."""
    return replace(text, lambda _: "")
