"""The transcript runner itself: what matches, and that a wrong transcript fails clearly."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import pytest

from support.raw import HEADER, StreamView
from support.server import running_server
from transcripts.runner import TranscriptFailure, load, match, play

SHORT = 0.5


def _stanza(xml: str) -> Element:
    """A stanza as a transcript's client reads it from the server: in jabber:client."""
    (element,) = StreamView().feed(HEADER + xml.encode())
    return element


def _matches(expected: str, received: str, bindings: dict[str, str] | None = None) -> bool:
    return match(_stanza(expected), _stanza(received), {} if bindings is None else bindings)


def test_expected_is_a_subset_of_what_arrived() -> None:
    received = "<message to='a' id='1' type='chat'><body>hi</body><x xmlns='urn:x'/></message>"
    assert _matches("<message id='1'><body>hi</body></message>", received)
    assert _matches("<message id='{any}'/>", received)
    assert not _matches("<message id='2'/>", received)
    assert not _matches("<message from='{any}'/>", received)
    assert not _matches("<message><body>bye</body></message>", received)
    assert not _matches("<message><body xmlns='urn:other'>hi</body></message>", received)
    assert not _matches("<iq id='1'/>", received)


def test_children_match_in_order() -> None:
    received = "<iq><a xmlns='urn:x' n='1'/><b xmlns='urn:x'/><a xmlns='urn:x' n='2'/></iq>"
    assert _matches("<iq><a xmlns='urn:x' n='2'/></iq>", received)
    assert _matches("<iq><a xmlns='urn:x' n='1'/><a xmlns='urn:x' n='2'/></iq>", received)
    assert _matches("<iq><b xmlns='urn:x'/><a xmlns='urn:x'/></iq>", received)
    assert not _matches("<iq><a xmlns='urn:x' n='2'/><b xmlns='urn:x'/></iq>", received)


def test_a_capture_binds_once_and_only_on_a_whole_match() -> None:
    bindings: dict[str, str] = {}
    assert not _matches("<iq id='{$id}' type='set'/>", "<iq id='7' type='get'/>", bindings)
    assert bindings == {}
    assert _matches(
        "<iq id='{$id}'><q xmlns='urn:x'>{$id}</q></iq>",
        "<iq id='7'><q xmlns='urn:x'>7</q></iq>",
        bindings,
    )
    assert bindings == {"id": "7"}
    assert not _matches("<iq id='{$id}'/>", "<iq id='8'/>", bindings)


def _write(tmp_path: Path, steps: str) -> Path:
    path = tmp_path / "wrong.xml"
    path.write_text(
        '<transcript title="wrong on purpose">\n'
        '  <client name="alice" resource="phone"/>\n'
        '  <connect name="alice"/>\n'
        f"{steps}\n"
        "</transcript>\n",
        encoding="utf-8",
    )
    return path


PING = '  <send from="alice"><iq type="get" id="p1" to="${domain}"><ping xmlns="urn:xmpp:ping"/></iq></send>'


async def test_a_wrong_expectation_fails_naming_the_step_and_both_stanzas(tmp_path: Path) -> None:
    path = _write(tmp_path, PING + '\n  <expect to="alice"><iq type="error" id="p1"/></expect>')
    async with running_server(tmp_path / "server") as server:
        with pytest.raises(TranscriptFailure) as failure:
            await play(path, server, timeout=SHORT)
    message = str(failure.value)
    assert f"{path}:5: <expect> in 'wrong on purpose'" in message
    assert '<iq type="error" id="p1"/>' in message
    assert (
        'received:\n  <iq type="result" id="p1" to="alice@localhost/phone" from="localhost"/>'
        in message
    )


async def test_waiting_for_what_never_comes_fails_in_time(tmp_path: Path) -> None:
    path = _write(tmp_path, '  <expect to="alice"><message/></expect>')
    async with running_server(tmp_path / "server") as server:
        with pytest.raises(
            TranscriptFailure, match=r"(?s)wrong\.xml:4: .*nothing arrived within 0\.5 s"
        ):
            await play(path, server, timeout=SHORT)


async def test_something_arriving_where_nothing_should_fails(tmp_path: Path) -> None:
    path = _write(tmp_path, PING + '\n  <expect-none to="alice"/>')
    async with running_server(tmp_path / "server") as server:
        with pytest.raises(
            TranscriptFailure,
            match=r"(?s)wrong\.xml:5: .*expected nothing, received:\n  <iq type=\"result\"",
        ):
            await play(path, server, timeout=SHORT)


async def test_an_ignored_kind_is_skipped_but_shown(tmp_path: Path) -> None:
    path = tmp_path / "wrong.xml"
    path.write_text(
        "<transcript>\n"
        '  <client name="alice" ignore="presence"/>\n'
        '  <connect name="alice"/>\n'
        '  <send from="alice"><presence/></send>\n'
        '  <expect to="alice"><message/></expect>\n'
        "</transcript>\n",
        encoding="utf-8",
    )
    async with running_server(tmp_path / "server") as server:
        with pytest.raises(TranscriptFailure) as failure:
            await play(path, server, timeout=SHORT)
    assert "skipped (ignored kind): <presence" in str(failure.value)


def test_a_misspelt_attribute_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '  <expect too="alice"><message/></expect>')
    with pytest.raises(
        TranscriptFailure, match=r"(?s)wrong\.xml:4: <expect> has no attribute \['too'\]"
    ):
        load(path)
