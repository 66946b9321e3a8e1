"""Fuzz ironwall.xml: the incremental stream parser, the document parser, the serializer.

Input: the bytes of one side of an XMPP stream. ``0xFF`` (never in UTF-8) ends a chunk
given to ``StreamParser.feed``; ``0xFE`` (never in UTF-8 either) calls ``reset()``, as a
stream restart does. What must hold for any input:

- ``XMLPolicyError`` is the only exception, with one of the five conditions it allows,
  and once raised the parser refuses everything after it;
- any chunking of the same bytes gives the same events. Not always the same error: expat
  may hold back bytes it cannot judge yet (the encoding guess at the start), so one side
  may not have failed yet, and input with two faults (text in the root, then "]]>") may
  show either first, depending on where the chunks end. Both are refused all the same;
- every stanza serializes (a server re-serializes what it routes) and reads back equal;
- the same checks hold with tight limits, and for ``parse_document`` over the whole input.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from fuzz_common import canonical, fuzz, instrumented

with instrumented(__name__):
    from ironwall.xml import (
        ParserEvent,
        ParserLimits,
        StanzaReceived,
        StreamEnded,
        StreamOpened,
        StreamParser,
        XMLPolicyError,
        parse_document,
        serialize,
    )

CONDITIONS = {
    "not-well-formed",
    "restricted-xml",
    "policy-violation",
    "unsupported-encoding",
    "bad-format",
}
TIGHT = ParserLimits(
    max_stanza_bytes=512,
    max_depth=4,
    max_header_bytes=256,
    max_attributes=4,
    max_token_bytes=128,
)
_MARKERS = re.compile(b"[\xfe\xff]")
# Escaping can make a stanza up to five times longer (">" becomes "&gt;", "'" "&apos;").
_REPARSE_MAX_BYTES = 8 * 1024 * 1024


def _described(events: list[ParserEvent]) -> list[object]:
    described: list[object] = []
    for event in events:
        if isinstance(event, StreamOpened):
            described.append(("open", event.tag, sorted(event.attrs.items()), event.default_ns))
        elif isinstance(event, StanzaReceived):
            described.append(("stanza", canonical(event.element)))
        else:
            assert isinstance(event, StreamEnded), event
            described.append(("end",))
    return described


def _feed_all(segments: list[list[bytes]], limits: ParserLimits | None) -> list[object]:
    """Feed each segment's chunks (``reset()`` between segments); the events, described."""
    parser = StreamParser(limits)
    events: list[object] = []
    failed: XMLPolicyError | None = None
    for number, chunks in enumerate(segments):
        if number:
            parser.reset()
        for chunk in chunks:
            try:
                got = parser.feed(chunk)
            except XMLPolicyError as exc:
                _check_refusal(exc, failed)
                if failed is None:
                    events += _described(list(exc.events))
                    _check_stanzas(list(exc.events))
                    failed = exc
                continue
            assert failed is None, "a failed parser accepted more input"
            _check_stanzas(got)
            events += _described(got)
        events.append("reset")
    return events


def _check_refusal(error: XMLPolicyError, earlier: XMLPolicyError | None) -> None:
    assert error.condition in CONDITIONS, error.condition
    if earlier is not None:
        # A failed parser refuses everything after, reset or not, with no events.
        assert error.condition == earlier.condition, (error, earlier)
        assert not error.events, error.events


def _check_stanzas(events: list[ParserEvent]) -> None:
    for event in events:
        if isinstance(event, StanzaReceived):
            _check_round_trip(event.element)


def _check_round_trip(stanza: Element) -> None:
    data = serialize(stanza)  # ValueError here is a finding: parsed input must serialize
    again = parse_document(data, max_bytes=_REPARSE_MAX_BYTES, max_depth=64)
    assert canonical(again) == canonical(stanza), (data, canonical(stanza))


def test_one_input(data: bytes) -> None:
    """Parse ``data`` as a chunked stream, whole, with tight limits and as a document."""
    segments = [segment.split(b"\xff") for segment in data.split(b"\xfe")]
    chunked = _feed_all(segments, None)
    whole = _feed_all([[b"".join(chunks)] for chunks in segments], None)
    assert chunked == whole, (chunked, whole)
    _feed_all(segments, TIGHT)
    try:
        root = parse_document(_MARKERS.sub(b"", data))
    except XMLPolicyError as exc:
        _check_refusal(exc, None)
    else:
        _check_round_trip(root)


if __name__ == "__main__":
    fuzz(test_one_input)
