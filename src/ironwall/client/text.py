"""Text from the network, made safe to show: nothing in it acts on a terminal or fakes structure.

Every user interface (the CLI, the terminal chat, the web page) shows message bodies, JIDs
and status texts that anyone may have written. Control characters and terminal escape
sequences are shown as visible symbols instead of being sent to the terminal, bidirectional
overrides (which can make text read in a different order than it is stored) are shown as
their code points, and in single-line contexts a line break is a visible mark, so that a
stranger's message cannot print a second line that looks like a message from someone else.
Markup is never interpreted: the UIs render these strings as plain text.
"""

from __future__ import annotations

__all__ = ["visible", "visible_lines"]

_NEWLINE_MARK = "\u23ce"  # ⏎
# Characters that reorder how text is displayed (Unicode bidi controls, UAX #9).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\u2028\u2029\x85")


def _char(c: str, *, multiline: bool) -> str:
    code = ord(c)
    if c in _LINE_BREAKS:
        return "\n" if multiline else _NEWLINE_MARK
    if c == "\t":
        return "\t" if multiline else " "
    if code < 0x20:
        # Unicode's control pictures: ESC shows as ␛, CR as ␍ (which could overwrite a line).
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"  # ␡
    if 0x80 <= code <= 0x9F or c in _BIDI:
        return f"<U+{code:04X}>"
    return c


def visible(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control, escape and bidi character shown instead of acting.

    With ``multiline`` line breaks stay line breaks (and tabs stay tabs); otherwise both
    become visible marks, so the result is exactly one line.
    """
    if text.isprintable() and not any(c in _BIDI for c in text):
        return text
    return "".join(_char(c, multiline=multiline) for c in text)


def visible_lines(text: str) -> list[str]:
    """The lines of ``text`` (at least one), each safe as in ``visible``."""
    return visible(text, multiline=True).split("\n")
