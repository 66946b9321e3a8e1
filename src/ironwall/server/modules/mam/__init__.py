"""XEP-0313 Message Archive Management: every account's history, as ciphertext.

Archived: ``chat`` and ``normal`` messages with content (a body, OX ``<openpgp>`` or
OMEMO ``<encrypted>``, see ``server/stanza_kinds.py``) or the ``<store/>`` hint, unless they
carry ``<no-store/>`` or ``<no-permanent-store/>``. A message between two accounts goes
into both archives, each as the serialised stanza exactly as routed: Ironwall clients
send OX ciphertext, so that is all the archive holds. The recipient's copy gets a
XEP-0359 ``<stanza-id by='user@domain'/>`` whose id is the archive id; stanza-ids
naming a local JID that arrive from a client are removed first (they would be forged).

Each account's archive has a quota in bytes, of which strangers' messages may take only a
share (``mam/quota.py``); above it messages are delivered without being archived. A
message that offline storage refused (``offline-refused``) is taken out again, so the
archive never holds what the sender was told was not delivered.

Queries filter by contact (``with``: bare or full JID) and time (``start``, ``end``,
inclusive) and page with RSM (``max``, ``after``, ``before``, an empty ``before`` for
the last page, ``<flip-page/>``). Preferences (``<prefs default='always|never|roster'>``
with always/never lists) are kept per account. Items older than
``limits.mam_retention_days`` are deleted at start and every hour after, in batches.

Hand-written: the archive is server logic over our own router and stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import error_reply, iq_result, tag
from ironwall.server.events import ACCOUNT_DELETING, OFFLINE_REFUSED, SESSION_CLOSED, iq, message_to
from ironwall.server.module import Module
from ironwall.server.modules.mam.query import (
    MAM,
    MamError,
    Prefs,
    Query,
    fields_form,
    fin,
    parse_prefs,
    parse_query,
    result_message,
    stamp,
)
from ironwall.server.modules.mam.quota import ArchiveQuota
from ironwall.server.online_map import OnlineCache
from ironwall.server.router import StanzaEvent
from ironwall.server.services import ROSTER
from ironwall.server.session import Session
from ironwall.server.stanza_kinds import SID, has_content, has_hint, message_type
from ironwall.storage import ArchiveItem, StorageError
from ironwall.xml import XMLPolicyError, parse_document, serialize

__all__ = ["MODULE", "Mam"]

log = logging.getLogger(__name__)

_STANZA_ID = tag(SID, "stanza-id")
_EXPIRY_INTERVAL = 3600.0
_EXPIRY_BATCH = 500
#: Items read per step when a full-JID ``with`` filter has to look inside each item.
_SCAN_BATCH = 100


def _archivable(message: Element) -> bool:
    if message_type(message) not in ("chat", "normal"):
        return False
    if has_hint(message, "no-store") or has_hint(message, "no-permanent-store"):
        return False
    return has_content(message) or has_hint(message, "store")


def _involves(item: ArchiveItem, full: JID) -> bool:
    """True if the archived message was from or to exactly ``full``."""
    try:
        message = parse_document(item.payload.encode())
    except XMLPolicyError:
        return False
    for address in (message.get("from"), message.get("to")):
        try:
            if address is not None and JID.parse(address) == full:
                return True
        except InvalidJID:
            continue
    return False


class Mam(Module):
    """The message archive of every local account."""

    name = "mam"
    account_features = (MAM, SID)

    async def start(self) -> None:
        """Open the stores, hook messages and archive requests, start expiry."""
        self._archive = self.server.storage.archive("mam")
        self._prefs = self.server.storage.kv("mam-prefs")
        # Every archived message reads both parties' preferences.
        self._prefs_cache: OnlineCache[JID, Prefs] = OnlineCache(
            lambda owner: bool(self.server.router.resources(owner))
        )
        limits = self.server.config.limits
        self._quota = ArchiveQuota(
            self._archive,
            self._contacts,
            max_bytes=limits.max_archive_bytes,
            strangers_share=limits.archive_share_strangers,
        )
        hooks = self.server.hooks
        hooks.on(SESSION_CLOSED, self._on_session_closed, priority=-1000)
        hooks.on(ACCOUNT_DELETING, self._on_account_deleting)
        hooks.on(OFFLINE_REFUSED, self._on_offline_refused)
        for target in ("bare", "full"):
            hooks.on(message_to(target), self._on_message, priority=20)
        hooks.on(iq("set", "self", MAM), self._on_set)
        hooks.on(iq("get", "self", MAM), self._on_get)
        for kind in ("get", "set"):
            hooks.on(iq(kind, "bare", MAM), self._on_foreign)
        self._expiry: asyncio.Task[None] | None = None
        if self.server.config.limits.mam_retention_days > 0:
            self._expiry = asyncio.create_task(self._expire_periodically())

    async def stop(self) -> None:
        """Stop the expiry task and the reading of archive usage."""
        await self._quota.close()
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry

    # ------------------------------------------------------------ archiving

    async def _on_message(self, event: StanzaEvent) -> bool:
        to, stanza = event.to, event.stanza
        if to is None or to.local is None:
            return False
        self._remove_forged_ids(stanza)
        if not _archivable(stanza):
            return False
        owner = to.bare
        if not self.server.router.resources(owner) and not await self.server.accounts.exists(owner):
            return False
        serialised = serialize(stanza)
        payload, size = serialised.decode(), len(serialised)
        sender = event.sender.bare
        if event.origin is not None and sender != owner and await self._wants(sender, owner):
            await self._append(sender, owner, payload, size, stranger=False)
        if await self._wants(owner, sender):
            stranger = await self._is_stranger(owner, event.sender)
            item_id = await self._append(owner, sender, payload, size, stranger=stranger)
            if item_id is not None:
                SubElement(stanza, _STANZA_ID, {"by": str(owner), "id": item_id})
        return False

    async def _append(
        self, owner: JID, contact: JID, payload: str, size: int, *, stranger: bool
    ) -> str | None:
        """Archive the message for ``owner`` if its quota has room; return the id."""
        if not self._quota.reserve(owner, size, stranger=stranger):
            return None
        try:
            return await self._archive.append(str(owner), payload, with_jid=str(contact))
        except StorageError as exc:
            self._quota.release(owner, size, stranger=stranger)
            # The message is still delivered: a full disk loses history, not conversation.
            log.warning("could not archive a message of %s: %s", owner, exc)
            return None
        except BaseException:
            self._quota.release(owner, size, stranger=stranger)
            raise

    async def _is_stranger(self, owner: JID, sender: JID) -> bool:
        roster = self.server.service(ROSTER)
        return roster is not None and await roster.is_stranger(owner, sender)

    async def _contacts(self, owner: JID) -> set[JID]:
        roster = self.server.service(ROSTER)
        return {item.jid for item in await roster.items(owner)} if roster is not None else set()

    async def _on_offline_refused(self, event: StanzaEvent) -> bool:
        """Offline storage bounced the message: the recipient's copy goes too."""
        assert event.to is not None
        owner = event.to.bare
        for element in event.stanza.findall(_STANZA_ID):
            if element.get("by") == str(owner) and (item_id := element.get("id")):
                try:
                    await self._archive.delete(str(owner), ids=[item_id])
                except StorageError as exc:
                    log.warning(
                        "could not take a bounced message out of %s's archive: %s", owner, exc
                    )
                self._quota.forget(owner)
                event.stanza.remove(element)
        return False

    def _remove_forged_ids(self, stanza: Element) -> None:
        for element in stanza.findall(_STANZA_ID):
            try:
                forged = JID.parse(element.get("by") or "").domain in self.server.domains
            except InvalidJID:
                forged = True
            if forged:
                stanza.remove(element)

    async def prefs(self, owner: JID) -> Prefs:
        """The account's archiving preferences."""

        async def load() -> Prefs:
            return Prefs.from_record(await self._prefs.get(str(owner)))

        return await self._prefs_cache.read(owner, load)

    async def _on_session_closed(self, session: Session) -> bool:
        owner = session.jid.bare
        if not self.server.router.resources(owner):
            self._prefs_cache.forget(owner)
        return False

    async def _on_account_deleting(self, account: JID) -> bool:
        self._prefs_cache.forget(account.bare)
        self._quota.forget(account.bare)
        return False

    async def _wants(self, owner: JID, contact: JID) -> bool:
        rule = (await self.prefs(owner)).rule(contact)
        if rule != "roster":
            return rule == "always"
        roster = self.server.service(ROSTER)
        return roster is not None and await roster.item(owner, contact.bare) is not None

    # -------------------------------------------------------------- requests

    async def _on_foreign(self, event: StanzaEvent) -> bool:
        self.server.router.bounce(event.stanza, "forbidden", "an archive belongs to its owner")
        return True

    async def _on_set(self, event: StanzaEvent) -> bool:
        request = event.stanza[0]
        try:
            if request.tag == tag(MAM, "query"):
                await self._query(event, request)
            elif request.tag == tag(MAM, "prefs"):
                prefs = parse_prefs(request)
                owner = event.sender.bare
                await self._prefs_cache.write(owner, self._prefs.set(str(owner), prefs.to_record()))
                self._answer(event, prefs.to_element())
            else:
                raise MamError("feature-not-implemented", "unknown archive request")
        except MamError as exc:
            self._refuse(event, exc)
        return True

    async def _on_get(self, event: StanzaEvent) -> bool:
        request = event.stanza[0]
        owner = event.sender.bare
        if request.tag == tag(MAM, "query"):
            self._answer(event, fields_form())
        elif request.tag == tag(MAM, "prefs"):
            self._answer(event, (await self.prefs(owner)).to_element())
        elif request.tag == tag(MAM, "metadata"):
            self._answer(event, await self._metadata(owner))
        else:
            self._refuse(event, MamError("feature-not-implemented", "unknown archive request"))
        return True

    def _answer(self, event: StanzaEvent, payload: Element | None = None) -> None:
        self.server.router.deliver_local(iq_result(event.stanza, payload))

    def _refuse(self, event: StanzaEvent, exc: MamError) -> None:
        reply = error_reply(event.stanza, exc.condition, exc.text)
        if reply is not None:
            self.server.router.deliver_local(reply)

    async def _metadata(self, owner: JID) -> Element:
        metadata = Element(tag(MAM, "metadata"))
        first = await self._archive.query(str(owner), limit=1)
        last = await self._archive.query(str(owner), limit=1, reverse=True)
        for name, items in (("start", first), ("end", last)):
            if items:
                attrs = {"id": items[0].id, "timestamp": stamp(items[0].when)}
                SubElement(metadata, tag(MAM, name), attrs)
        return metadata

    async def _query(self, event: StanzaEvent, request: Element) -> None:
        owner = event.sender.bare
        query = parse_query(request, max_page=self.server.config.limits.mam_max_page)
        try:
            page, complete = await self._page(owner, query)
        except ValueError:
            # The store refuses a cursor that is malformed or names no item of this archive.
            raise MamError("item-not-found", "no archived message has that id") from None
        count = None
        # A count needs its own pass over a time range or a full JID: left out there.
        with_jid = query.with_jid
        if query.start is None and query.end is None and (with_jid is None or with_jid.is_bare):
            with_text = None if with_jid is None else str(with_jid)
            count = await self._archive.count(str(owner), with_jid=with_text)
        query_id = request.get("queryid")
        for item in reversed(page) if query.flip else page:
            try:
                message = parse_document(item.payload.encode())
            except XMLPolicyError:
                log.warning("skipping an unreadable archived message of %s", owner)
                continue
            self.server.router.deliver_local(
                result_message(
                    owner=owner,
                    to=event.sender,
                    query_id=query_id,
                    item_id=item.id,
                    when=item.when,
                    message=message,
                )
            )
        self._answer(event, fin((i.id for i in page), complete=complete, count=count))

    async def _page(self, owner: JID, query: Query) -> tuple[list[ArchiveItem], bool]:
        """The page's items in archive order, and whether it is the last in its direction."""
        limit = query.max
        full = query.with_jid if query.with_jid and query.with_jid.resource else None
        batch_size = limit + 1 if full is None else max(limit + 1, _SCAN_BATCH)
        after, before = query.after, query.before or None
        found: list[ArchiveItem] = []
        while True:
            batch = await self._archive.query(
                str(owner),
                with_jid=None if query.with_jid is None else str(query.with_jid.bare),
                start=query.start,
                end=query.end,
                after_id=after,
                before_id=before,
                limit=batch_size,
                reverse=query.backward,
            )
            found += batch if full is None else [i for i in batch if _involves(i, full)]
            if len(found) > limit or len(batch) < batch_size:
                break
            if query.backward:
                before = batch[-1].id
            else:
                after = batch[-1].id
        page = found[:limit]
        if query.backward:
            page.reverse()
        return page, len(found) <= limit

    # ---------------------------------------------------------------- expiry

    async def expire(self) -> int:
        """Delete items older than the retention period from every archive; return how many."""
        days = self.server.config.limits.mam_retention_days
        if days <= 0:
            return 0
        cutoff = time.time() - days * 86400
        deleted = 0
        for owner in await self.server.accounts.users():
            # In bounded steps: one huge DELETE would hold the database (and with it all
            # routing) for as long as it runs.
            while old := await self._archive.query(owner, end=cutoff, limit=_EXPIRY_BATCH):
                deleted += await self._archive.delete(owner, ids=[item.id for item in old])
                self._quota.forget(JID.parse(owner))
                if len(old) < _EXPIRY_BATCH:
                    break
        if deleted:
            log.info("deleted %d archived messages older than %d days", deleted, days)
        return deleted

    async def _expire_periodically(self) -> None:
        while True:
            try:
                await self.expire()
            except StorageError as exc:
                log.warning("archive expiry failed, retrying later: %s", exc)
            await asyncio.sleep(_EXPIRY_INTERVAL)


MODULE = Mam
