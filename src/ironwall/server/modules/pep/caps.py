"""XEP-0115 entity capabilities, as far as PEP needs them: which nodes each session ``+notify``'s.

Each available presence a session broadcasts may carry ``<c node ver hash/>``. The
tracker asks that session for ``disco#info`` of ``node#ver`` (an iq from the server's
domain), keeps the features ending in ``+notify``, and caches them by ``ver`` only when
the hash verifies (§5.1), so a client cannot poison the cache for others. A legacy or
unverifiable ``ver`` is used for that session alone.

Hand-written: the server does not depend on a client library, and the part needed is
the verification string and one disco query.

This module has no ``MODULE``: it is a library of the ``pep`` module, not a server module.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID
from ironwall.proto.stanza import tag
from ironwall.server.events import PRESENCE_INITIAL, iq, presence_to
from ironwall.server.router import StanzaEvent
from ironwall.server.session import Session

if TYPE_CHECKING:
    from ironwall.server.module_host import ModuleHost

__all__ = ["CAPS", "CapsTracker", "verification_hash"]

log = logging.getLogger(__name__)

CAPS = "http://jabber.org/protocol/caps"
_DATA_FORMS = "jabber:x:data"
_XML_LANG = f"{{{ns.XML}}}lang"
_NOTIFY = "+notify"
#: IANA hash names (as in the 'hash' attribute) to hashlib names.
_HASHES = {
    "sha-1": "sha1",
    "sha-224": "sha224",
    "sha-256": "sha256",
    "sha-384": "sha384",
    "sha-512": "sha512",
}
_QUERY_TIMEOUT = 10.0
_CACHE_SIZE = 4096
_EXTRA_KEY = "pep-caps"

#: Called with a session and the nodes it newly wants notifications for.
NotifyHandler = Callable[[Session, frozenset[str]], Awaitable[None]]


def verification_hash(query: Element, algorithm: str) -> str | None:
    """The XEP-0115 §5.1 ``ver`` of a disco#info answer, or None if it cannot be verified.

    None for an unknown hash algorithm and for the malformed answers §5.4 says must not
    be cached (duplicate identities or features, forms without or with a repeated FORM_TYPE).
    """
    hash_name = _HASHES.get(algorithm)
    if hash_name is None:
        return None
    identities = sorted(
        (i.get("category", ""), i.get("type", ""), i.get(_XML_LANG, ""), i.get("name", ""))
        for i in query.findall(tag(ns.DISCO_INFO, "identity"))
    )
    features = sorted(f.get("var", "") for f in query.findall(tag(ns.DISCO_INFO, "feature")))
    if len(set(identities)) != len(identities) or len(set(features)) != len(features):
        return None
    parts = ["/".join(identity) + "<" for identity in identities]
    parts += [feature + "<" for feature in features]
    forms: dict[str, list[tuple[str, list[str]]]] = {}
    for form in query.findall(tag(_DATA_FORMS, "x")):
        form_type = None
        fields = []
        for f in form.findall(tag(_DATA_FORMS, "field")):
            values = sorted(v.text or "" for v in f.findall(tag(_DATA_FORMS, "value")))
            if f.get("var") == "FORM_TYPE":
                form_type = values[0] if len(values) == 1 else None
                if form_type is None:
                    return None
            else:
                fields.append((f.get("var", ""), values))
        if form_type is None or form_type in forms:
            return None
        forms[form_type] = sorted(fields)
    for form_type in sorted(forms):
        parts.append(form_type + "<")
        for var, values in forms[form_type]:
            parts.append(var + "<")
            parts += [value + "<" for value in values]
    digest = hashlib.new(hash_name, "".join(parts).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def _notify_nodes(features: Iterable[str]) -> frozenset[str]:
    return frozenset(
        f[: -len(_NOTIFY)] for f in features if f.endswith(_NOTIFY) and len(f) > len(_NOTIFY)
    )


@dataclass
class _SessionCaps:
    #: (node, ver, hash) of the last available presence; None when it carried no caps.
    key: tuple[str, str, str] | None = None
    notify: frozenset[str] = frozenset()
    #: Bumped on every caps change so a slow disco answer cannot overwrite a newer one.
    generation: int = 0


class CapsTracker:
    """Learns each session's ``+notify`` nodes and reports the ones newly wanted."""

    def __init__(self, server: ModuleHost, on_notify: NotifyHandler) -> None:
        self._server = server
        self._on_notify = on_notify
        #: (hash algorithm, ver) -> +notify nodes, only for answers whose hash verified.
        self._cache: dict[tuple[str, str], frozenset[str]] = {}
        self._pending: dict[str, tuple[JID, asyncio.Future[Element | None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Hook presence (before presence.py handles it) and the answers to our disco queries."""
        hooks = self._server.hooks
        hooks.on(presence_to("broadcast"), self._on_presence, priority=100)
        hooks.on(PRESENCE_INITIAL, self._on_initial)
        hooks.on(iq("result", "host"), self._on_answer)
        hooks.on(iq("error", "host"), self._on_answer)

    async def stop(self) -> None:
        """Cancel the refreshes still running (waiting for disco answers)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def notify_nodes(self, session: Session) -> frozenset[str]:
        """The nodes ``session`` currently wants notifications for (empty until known)."""
        state = session.extra.get(_EXTRA_KEY)
        return state.notify if isinstance(state, _SessionCaps) else frozenset()

    @staticmethod
    def _state(session: Session) -> _SessionCaps:
        state = session.extra.get(_EXTRA_KEY)
        if not isinstance(state, _SessionCaps):
            state = _SessionCaps()
            session.extra[_EXTRA_KEY] = state
        return state

    async def _on_presence(self, event: StanzaEvent) -> bool:
        session = event.origin
        if session is None or event.stanza.get("type") is not None:
            return False
        caps = event.stanza.find(tag(CAPS, "c"))
        key = None
        if caps is not None and caps.get("node") and caps.get("ver"):
            key = (caps.get("node") or "", caps.get("ver") or "", caps.get("hash") or "")
        state = self._state(session)
        if key == state.key:
            return False
        state.key = key
        state.generation += 1
        # The initial presence is followed by "presence-initial", which refreshes.
        if session.available:
            self._spawn(session, state, initial=False)
        return False

    async def _on_initial(self, session: Session) -> bool:
        self._spawn(session, self._state(session), initial=True)
        return False

    def _spawn(self, session: Session, state: _SessionCaps, *, initial: bool) -> None:
        # A task, not an await: the disco answer arrives on this same connection, whose
        # reader is the one running this hook.
        task = asyncio.ensure_future(self._refresh(session, state, initial=initial))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, session: Session, state: _SessionCaps, *, initial: bool) -> None:
        generation, key = state.generation, state.key
        notify = frozenset() if key is None else await self._resolve(session, key)
        if generation != state.generation:
            return
        added = notify if initial else notify - state.notify
        state.notify = notify
        if added and session.available:
            try:
                await self._on_notify(session, added)
            except Exception:
                log.exception("delivering last published items to %s failed", session.jid)

    async def _resolve(self, session: Session, key: tuple[str, str, str]) -> frozenset[str]:
        node, ver, algorithm = key
        cached = self._cache.get((algorithm, ver)) if algorithm else None
        if cached is not None:
            return cached
        query = await self._ask(session, f"{node}#{ver}")
        if query is None:
            return frozenset()
        notify = _notify_nodes(
            f.get("var", "") for f in query.findall(tag(ns.DISCO_INFO, "feature"))
        )
        if algorithm and verification_hash(query, algorithm) == ver:
            if len(self._cache) >= _CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
            self._cache[(algorithm, ver)] = notify
        return notify

    async def _ask(self, session: Session, node: str) -> Element | None:
        stanza_id = "caps-" + secrets.token_hex(8)
        iq = Element(
            tag(ns.CLIENT, "iq"),
            {"type": "get", "id": stanza_id, "from": session.jid.domain, "to": str(session.jid)},
        )
        SubElement(iq, tag(ns.DISCO_INFO, "query"), {"node": node})
        answer: asyncio.Future[Element | None] = asyncio.get_running_loop().create_future()
        self._pending[stanza_id] = (session.jid, answer)
        try:
            session.send(iq)
            return await asyncio.wait_for(answer, _QUERY_TIMEOUT)
        except TimeoutError:
            log.info("%s did not answer a caps query in time", session.jid)
            return None
        finally:
            self._pending.pop(stanza_id, None)

    async def _on_answer(self, event: StanzaEvent) -> bool:
        pending = self._pending.get(event.stanza.get("id") or "")
        if pending is None or pending[0] != event.sender:
            return False
        answer = pending[1]
        if not answer.done():
            query = event.stanza.find(tag(ns.DISCO_INFO, "query"))
            ok = event.stanza.get("type") == "result" and query is not None
            answer.set_result(query if ok else None)
        return True
