"""Text from the network shown safely: ``ironwall.client.text``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ironwall.client.text import visible, visible_lines


def test_plain_text_is_unchanged() -> None:
    for text in ("hello", "grüße 👋🏽 你好", "emoji with joiner 👩‍💻", "tab-free text"):
        assert visible(text) == text


def test_controls_escapes_and_bidi_are_shown_not_obeyed() -> None:
    assert visible("a\x1b[31mb") == "a␛[31mb"
    assert visible("over\rwrite") == "over␍write"
    assert visible("csi\x9b2J") == "csi<U+009B>2J"
    assert visible("del\x7f") == "del␡"
    assert visible("file\u202egnp.exe") == "file<U+202E>gnp.exe"
    assert visible("\u2066isolate\u2069") == "<U+2066>isolate<U+2069>"


def test_a_single_line_stays_one_line() -> None:
    assert visible("one\ntwo\u2028three\u2029four\x85five\tsix") == "one⏎two⏎three⏎four⏎five six"


def test_several_lines_keep_their_breaks_but_nothing_else() -> None:
    assert visible_lines("one\n\x1bx\ttab") == ["one", "␛x\ttab"]


@given(st.text())
def test_nothing_that_acts_on_a_terminal_survives(text: str) -> None:
    shown = visible(text)
    assert "\n" not in shown
    for c in shown:
        code = ord(c)
        assert code >= 0x20
        assert not 0x7F <= code <= 0x9F
        assert c not in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    for line in visible_lines(text):
        assert "\n" not in line
        assert "\x1b" not in line
