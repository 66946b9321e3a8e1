"""XEP-0280 Message Carbons: every device of a user sees the whole conversation.

A resource that sent ``<enable xmlns='urn:xmpp:carbons:2'/>`` gets a copy of

* each eligible message another resource of its account sends (``<sent>``), and
* each eligible message to its account that routing gave to other resources only
  (``<received>``): one addressed to another full JID, or one to the bare JID while
  this resource has a negative priority.

The copy comes from the account's bare JID and wraps the message as routed in a
XEP-0297 ``<forwarded>``. Eligible (XEP-0280 §6): type ``chat``; type ``normal`` with
content or a chat state, receipt or marker; never with ``<private/>`` or the
``<no-copy/>`` hint, never a carbon itself, never between resources of one account.

Sent copies are made before MAM archives the message (priority 30 > 20), so they show
it as the user's client sent it; received copies after (10), so they carry the same
XEP-0359 stanza-id as the message the addressed resource got.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID
from ironwall.proto.stanza import iq_result, tag
from ironwall.server.events import iq, message_to
from ironwall.server.module import Module
from ironwall.server.router import StanzaEvent
from ironwall.server.session import Session
from ironwall.server.stanza_kinds import has_content, has_hint, message_type

__all__ = ["CARBONS", "FORWARD", "MODULE", "Carbons"]

CARBONS = "urn:xmpp:carbons:2"
#: XEP-0297 stanza forwarding.
FORWARD = "urn:xmpp:forward:0"

_ENABLE = tag(CARBONS, "enable")
_DISABLE = tag(CARBONS, "disable")
_PRIVATE = tag(CARBONS, "private")
_MESSAGE = tag(ns.CLIENT, "message")
#: Payloads of instant messaging that make a ``normal`` message worth copying.
_IM_NAMESPACES = frozenset(
    {
        "http://jabber.org/protocol/chatstates",
        "urn:xmpp:receipts",
        "urn:xmpp:chat-markers:0",
    }
)


def _eligible(message: Element) -> bool:
    kind = message_type(message)
    if kind == "normal":
        wanted = has_content(message) or any(
            child.tag[1:].partition("}")[0] in _IM_NAMESPACES for child in message
        )
    else:
        wanted = kind == "chat"
    return (
        wanted
        and message.find(_PRIVATE) is None
        and not has_hint(message, "no-copy")
        and message.find(tag(CARBONS, "sent")) is None
        and message.find(tag(CARBONS, "received")) is None
    )


def _carbon(direction: str, message: Element, account: JID, to: JID) -> Element:
    """The ``<sent>`` or ``<received>`` copy of ``message`` for the resource ``to``."""
    outer = Element(_MESSAGE, {"from": str(account), "to": str(to), "type": message_type(message)})
    forwarded = SubElement(SubElement(outer, tag(CARBONS, direction)), tag(FORWARD, "forwarded"))
    # A copy of the top element: a module further down (MAM) may still add a child
    # to the original, and a stanza held in a queue is serialised only later.
    inner = Element(message.tag, dict(message.attrib))
    inner.text = message.text
    inner.extend(list(message))
    forwarded.append(inner)
    return outer


class Carbons(Module):
    """Copies of one's conversations to one's other carbons-enabled resources."""

    name = "carbons"
    disco_features = (CARBONS,)

    async def start(self) -> None:
        """Hook the enable/disable request and messages to local accounts."""
        hooks = self.server.hooks
        hooks.on(iq("set", "self", CARBONS), self._on_iq)
        for target in ("bare", "full"):
            hooks.on(message_to(target), self._copy_sent, priority=30)
            hooks.on(message_to(target), self._copy_received, priority=10)

    def enabled(self, session: Session) -> bool:
        """True if ``session`` asked for carbons."""
        return session.extra.get(self.name) is True

    async def _on_iq(self, event: StanzaEvent) -> bool:
        request = event.stanza[0]
        session = event.origin
        if session is None or request.tag not in (_ENABLE, _DISABLE) or len(request):
            self.server.router.bounce(
                event.stanza, "bad-request", "send <enable/> or <disable/> from your session"
            )
            return True
        if request.tag == _ENABLE:
            session.extra[self.name] = True
        else:
            session.extra.pop(self.name, None)
        self.server.router.deliver_local(iq_result(event.stanza))
        return True

    async def _copy_sent(self, event: StanzaEvent) -> bool:
        origin, to = event.origin, event.to
        account = event.sender.bare
        if origin is None or to is None or to.bare == account or not _eligible(event.stanza):
            return False
        for session in self.server.router.resources(account):
            if session is not origin and self.enabled(session):
                session.send(_carbon("sent", event.stanza, account, session.jid))
        return False

    async def _copy_received(self, event: StanzaEvent) -> bool:
        to = event.to
        if to is None or to.local is None or to.bare == event.sender.bare:
            return False
        if not _eligible(event.stanza):
            return False
        router = self.server.router
        account = to.bare
        addressed = router.session(to) if to.resource is not None else None
        # Who gets the message itself, by the rules of message.py; the others get a copy.
        if addressed is not None:
            receivers = [addressed]
        else:
            receivers = [s for s in router.resources(account) if s.available and s.priority >= 0]
        for session in router.resources(account):
            if self.enabled(session) and all(session is not r for r in receivers):
                session.send(_carbon("received", event.stanza, account, session.jid))
        return False


MODULE = Carbons
