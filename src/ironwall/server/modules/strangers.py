"""Messages from strangers: each account chooses, the server limits (Ironwall extension).

A stranger is a sender not in the recipient's roster, in any state (a request the
recipient sent counts as a contact): ``RosterService.is_stranger``. The recipient's own
account and the server are never strangers. What an account does with messages and
subscription requests from strangers is its policy, in namespace
``urn:ironwall:strangers:0``:

* ``allow``: like a contact's;
* ``limit`` (the default, ``strangers_policy`` in the configuration): at most
  ``limits.max_stranger_messages_per_sender`` per ``limits.stranger_message_window``
  seconds from one stranger, and ``max_stranger_messages_per_recipient`` from all
  strangers together; more get ``resource-constraint``;
* ``refuse``: every one gets ``policy-violation``.

``<iq type='set'><strangers xmlns='urn:ironwall:strangers:0' policy='refuse'/></iq>`` to
one's own account sets it, ``type='get'`` returns it. The check runs at ``pre-route``
after blocking (a blocked JID stays silently dropped), before anything is delivered or
stored. A contact's message costs one roster lookup, from memory while the recipient is
online. Storage quotas (``offline.py``, ``mam.py``) hold whatever the policy.

Hand-written: no XEP lets a user refuse non-contacts; this is server policy over our
own router and roster.
"""

from __future__ import annotations

import logging
import math
from xml.etree.ElementTree import Element

from ironwall.proto import ns
from ironwall.proto.jid import JID
from ironwall.proto.stanza import iq_result, tag
from ironwall.server.config import STRANGER_POLICIES
from ironwall.server.events import ACCOUNT_DELETING, PRE_ROUTE, SESSION_CLOSED, iq
from ironwall.server.module import Module
from ironwall.server.online_map import OnlineCache
from ironwall.server.ratelimit import SlidingWindow
from ironwall.server.router import StanzaEvent
from ironwall.server.services import ROSTER
from ironwall.server.session import Session

__all__ = ["MODULE", "STRANGERS", "Strangers"]

log = logging.getLogger(__name__)

STRANGERS = "urn:ironwall:strangers:0"

_ELEMENT = tag(STRANGERS, "strangers")
_MESSAGE = tag(ns.CLIENT, "message")
_PRESENCE = tag(ns.CLIENT, "presence")


class Strangers(Module):
    """Each account's policy for strangers, and its enforcement on routing."""

    name = "strangers"
    disco_features = (STRANGERS,)

    async def start(self) -> None:
        """Open the store and hook routing, policy requests and session lifecycle."""
        self._store = self.server.storage.kv("strangers")
        self._policies: OnlineCache[JID, str] = OnlineCache(
            lambda owner: bool(self.server.router.resources(owner))
        )
        limits = self.server.config.limits
        window = limits.stranger_message_window
        self._per_sender: SlidingWindow[tuple[JID, JID]] = SlidingWindow(
            limits.max_stranger_messages_per_sender, window
        )
        self._per_recipient: SlidingWindow[JID] = SlidingWindow(
            limits.max_stranger_messages_per_recipient, window
        )
        hooks = self.server.hooks
        # After blocking (100): what a user blocked is dropped silently, not refused.
        hooks.on(PRE_ROUTE, self._check, priority=90)
        hooks.on(iq("get", "self", STRANGERS), self._on_get)
        hooks.on(iq("set", "self", STRANGERS), self._on_set)
        for kind in ("get", "set"):
            hooks.on(iq(kind, "bare", STRANGERS), self._on_foreign)
        hooks.on(SESSION_CLOSED, self._on_session_closed)
        hooks.on(ACCOUNT_DELETING, self._on_account_deleting)

    async def policy(self, owner: JID) -> str:
        """What the account does with strangers: "allow", "limit" or "refuse"."""

        async def load() -> str:
            record = await self._store.get(str(owner))
            chosen = record.get("policy") if isinstance(record, dict) else None
            return chosen if chosen in STRANGER_POLICIES else self.server.config.strangers_policy

        return await self._policies.read(owner, load)

    # ------------------------------------------------------------ enforcing

    async def _check(self, event: StanzaEvent) -> bool:
        to, stanza = event.to, event.stanza
        # Only what a client sends is checked. What the server sends on a user's behalf
        # was checked when the client sent it (the subscription request presence.py
        # routes on), was asked for by the recipient (PEP notifications), or was accepted
        # before (offline messages handed out at login). Stanzas from other servers, once
        # there is federation, have no session either and must be checked here too.
        if event.origin is None or to is None or to.local is None:
            return False
        if stanza.tag != _MESSAGE and not (
            stanza.tag == _PRESENCE and stanza.get("type") == "subscribe"
        ):
            return False
        owner, sender = to.bare, event.sender.bare
        roster = self.server.service(ROSTER)
        if roster is None or not await roster.is_stranger(owner, event.sender):
            return False
        policy = await self.policy(owner)
        if policy == "allow":
            return False
        if policy == "refuse":
            self.server.router.bounce(
                stanza,
                "policy-violation",
                "this user accepts messages and contact requests only from people in "
                "their contact list",
            )
            return True
        if not self._per_sender.allow((sender, owner)):
            wait = self._per_sender.retry_after((sender, owner))
            self.server.router.bounce(
                stanza,
                "resource-constraint",
                "you have sent too many messages to this user, who has not added you as a "
                f"contact; try again in {_seconds(wait)}",
            )
            return True
        if not self._per_recipient.allow(owner):
            # Not this sender's doing: its own allowance is not used up by it.
            self._per_sender.undo((sender, owner))
            wait = self._per_recipient.retry_after(owner)
            log.debug("messages from strangers to %s are over the limit", owner)
            self.server.router.bounce(
                stanza,
                "resource-constraint",
                "this user is getting too many messages from people not in their contact "
                f"list; try again in {_seconds(wait)}",
            )
            return True
        return False

    # ------------------------------------------------------------- requests

    async def _on_get(self, event: StanzaEvent) -> bool:
        if event.stanza[0].tag != _ELEMENT:
            self.server.router.bounce(event.stanza, "bad-request", "expected <strangers/>")
            return True
        answer = Element(_ELEMENT, {"policy": await self.policy(event.sender.bare)})
        self.server.router.deliver_local(iq_result(event.stanza, answer))
        return True

    async def _on_set(self, event: StanzaEvent) -> bool:
        request = event.stanza[0]
        chosen = request.get("policy")
        if request.tag != _ELEMENT or chosen not in STRANGER_POLICIES:
            self.server.router.bounce(
                event.stanza,
                "bad-request",
                "send <strangers policy='allow|limit|refuse'/>: allow, limit or refuse",
            )
            return True
        owner = event.sender.bare
        await self._policies.write(owner, self._store.set(str(owner), {"policy": chosen}))
        self.server.router.deliver_local(iq_result(event.stanza))
        return True

    async def _on_foreign(self, event: StanzaEvent) -> bool:
        self.server.router.bounce(
            event.stanza, "forbidden", "only the account itself may see or set its policy"
        )
        return True

    async def _on_session_closed(self, session: Session) -> bool:
        owner = session.jid.bare
        if not self.server.router.resources(owner):
            self._policies.forget(owner)
        return False

    async def _on_account_deleting(self, account: JID) -> bool:
        self._policies.forget(account.bare)
        return False


def _seconds(wait: float) -> str:
    seconds = max(1, math.ceil(wait))
    return "1 second" if seconds == 1 else f"{seconds} seconds"


MODULE = Strangers
