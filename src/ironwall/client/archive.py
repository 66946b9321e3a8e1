"""Reading the account's archive (XEP-0313) after logging in: history on every device.

Every archived message is opened and checked like a live one (as history: no freshness
window) and recorded once; the bookmark (the last archive id read) is kept in the local
state in the same commit as the messages of its page, so a crash re-reads a page rather
than skipping one. Only results from the account's own archive count: a result that comes
from anyone but the account (or the server on its behalf) is ignored.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ironwall.client.receiving import FORWARD, MAM
from ironwall.client.xmpp import IqFailed

if TYPE_CHECKING:
    from ironwall.client.session import ClientSession

__all__ = ["sync_archive"]

_RSM = "http://jabber.org/protocol/rsm"
_BOOKMARK = "archive_last"


async def sync_archive(session: ClientSession, *, page: int = 100, limit: int = 100_000) -> int:
    """Fetch what the archive holds since the last sync; return how many messages came.

    A server without an archive is not an error.
    """
    conn = session.connection
    state = session.state
    results: list[tuple[str, ET.Element]] = []
    query_id = uuid.uuid4().hex
    own = {session.jid, "", conn.domain}

    def collect(message: Any) -> None:
        stanza = message.xml
        if (stanza.get("from") or "") not in own:
            return  # not our archive speaking
        result = stanza.find(f"{{{MAM}}}result")
        if result is None or result.get("queryid") != query_id or not result.get("id"):
            return
        inner = result.find(f"{{{FORWARD}}}forwarded/{{jabber:client}}message")
        if inner is not None:
            results.append((result.get("id") or "", inner))

    handler = f"ironwall-mam-{query_id}"
    conn.register_handler(
        Callback(handler, MatchXPath(f"{{jabber:client}}message/{{{MAM}}}result"), collect)
    )
    fetched = 0
    try:
        after = state.get(_BOOKMARK)
        while fetched < limit:
            rsm = f"<max>{page}</max>" + (f"<after>{escape(after)}</after>" if after else "")
            try:
                answer = await conn.request(
                    f"<iq type='set'><query xmlns='{MAM}' queryid='{query_id}'>"
                    f"<set xmlns='{_RSM}'>{rsm}</set></query></iq>"
                )
            except IqFailed as exc:
                if exc.condition == "item-not-found" and after:
                    # The bookmark was expired by retention: start over from the beginning.
                    after = None
                    state.set(_BOOKMARK, None)
                    continue
                return fetched
            batch, results[:] = list(results), []
            fin = answer.find(f"{{{MAM}}}fin")
            last = fin.findtext(f"{{{_RSM}}}set/{{{_RSM}}}last") if fin is not None else None
            with state.transaction():
                for archive_id, inner in batch:
                    session.inbox.add(inner, archived=True, archive_id=archive_id)
                await session.inbox.drained()
                if last:
                    after = last
                    state.set(_BOOKMARK, last)
            fetched += len(batch)
            if fin is None or fin.get("complete") == "true" or not batch:
                return fetched
        return fetched
    finally:
        conn.remove_handler(handler)
