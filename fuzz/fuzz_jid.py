"""Fuzz JID parsing and preparation (ironwall.proto.jid, RFC 7622 with PRECIS).

Input: the text of a JID as UTF-8; bytes that are not UTF-8 become lone surrogates
(``surrogateescape``), as they do in command-line arguments and file names.

What must hold: ``InvalidJID`` is the only error; a parsed JID has non-empty parts of at
most 1023 bytes, prints as text that parses back to the same JID (preparation is
idempotent), and building it from its parts gives it again.
"""

from __future__ import annotations

from fuzz_common import fuzz, instrumented

with instrumented(__name__, "precis_i18n"):
    from ironwall.proto.jid import JID, InvalidJID


def _check_part(part: str | None) -> None:
    if part is not None:
        assert 0 < len(part.encode("utf-8")) <= 1023, part


def test_one_input(data: bytes) -> None:
    """Parse ``data`` as a JID and check what comes out."""
    text = data.decode("utf-8", "surrogateescape")
    try:
        jid = JID.parse(text)
    except InvalidJID:
        return
    for part in (jid.local, jid.domain, jid.resource):
        _check_part(part)
    again = JID.parse(str(jid))
    assert again == jid, (text, jid, again)
    assert str(again) == str(jid), (text, jid, again)
    assert JID.build(jid.local, jid.domain, jid.resource) == jid, (text, jid)
    assert jid.bare == JID.parse(str(jid.bare)), jid
    assert jid.bare.resource is None, jid


if __name__ == "__main__":
    fuzz(test_one_input)
