"""XEP-0163 Personal Eventing Protocol: every account is a XEP-0060 pubsub service.

The service is the account's bare JID. The owner publishes, retracts, configures,
purges and deletes; anyone the node's access model admits reads items and subscribes.
Notifications go to the owner's resources and to contacts subscribed to the owner's
presence whose client ``+notify``'s the node (XEP-0115, see ``pep/caps.py``), and to
explicit subscribers. XEP-0223 (private data in PEP) is this module plus a
``whitelist`` node. What is supported and why is in ``spec/pep.md``.

Hand-written: PEP is server logic over our own router and stores; no library does it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import iq_result, tag
from ironwall.server.events import DISCO_INFO_ACCOUNT, DiscoInfoQuery, iq
from ironwall.server.module import Module
from ironwall.server.modules.pep.model import (
    DATA_FORMS,
    NODE_CONFIG_FORM,
    PUBLISH_OPTIONS_FORM,
    PUBSUB,
    PUBSUB_EVENT,
    PUBSUB_OWNER,
    NodeConfig,
    PepLimits,
    PubsubError,
    access_denial,
    parse_form,
)
from ironwall.server.modules.pep.notify import Notifier, items_event
from ironwall.server.modules.pep.store import Node, PepStore
from ironwall.server.router import StanzaEvent
from ironwall.xml import serialize

__all__ = ["MODULE", "Pep"]

_MAX_NODE_NAME = 1024
_MAX_ITEM_ID = 1024
_TRUE = ("1", "true")

_Handler = Callable[[StanzaEvent, JID, Element, Element], Awaitable[None]]

#: Features of requests we do not implement, for XEP-0060's ``<unsupported feature=.../>``.
_UNSUPPORTED = {
    (PUBSUB, "affiliations"): "retrieve-affiliations",
    (PUBSUB, "options"): "subscription-options",
    (PUBSUB_OWNER, "affiliations"): "modify-affiliations",
    (PUBSUB_OWNER, "subscriptions"): "manage-subscriptions",
}


def _feature(name: str) -> str:
    return f"{PUBSUB}#{name}"


class Pep(Module):
    """The PEP service of every local account."""

    name = "pep"
    account_features = (
        PUBSUB,
        *(
            _feature(f)
            for f in (
                "access-open",
                "access-presence",
                "access-roster",
                "access-whitelist",
                "auto-create",
                "auto-subscribe",
                "config-node",
                "create-and-configure",
                "create-nodes",
                "delete-items",
                "delete-nodes",
                "filtered-notifications",
                "item-ids",
                "last-published",
                "multi-items",
                "persistent-items",
                "publish",
                "publish-options",
                "purge-nodes",
                "retract-items",
                "retrieve-default",
                "retrieve-items",
                "retrieve-subscriptions",
                "subscribe",
            )
        ),
    )

    async def start(self) -> None:
        """Open the stores, track caps, and hook pubsub and disco queries to accounts."""
        self.limits = PepLimits.from_config(self.server.config.limits)
        self.store = PepStore(self.server.storage)
        self.notifier = Notifier(self.server, self.store)
        self.notifier.caps.start()
        hooks = self.server.hooks
        for target in ("self", "bare"):
            for kind in ("get", "set"):
                hooks.on(iq(kind, target, PUBSUB), self._on_iq)
                hooks.on(iq(kind, target, PUBSUB_OWNER), self._on_iq)
            hooks.on(iq("get", target, ns.DISCO_INFO), self._disco_node_info)
            hooks.on(iq("get", target, ns.DISCO_ITEMS), self._disco_items)
        hooks.on(DISCO_INFO_ACCOUNT, self._add_identity)
        self._actions: dict[tuple[str, str, str], tuple[bool, _Handler]] = {
            (PUBSUB, "set", "publish"): (True, self._publish),
            (PUBSUB, "set", "retract"): (True, self._retract),
            (PUBSUB, "set", "create"): (True, self._create),
            (PUBSUB, "set", "subscribe"): (False, self._subscribe),
            (PUBSUB, "set", "unsubscribe"): (False, self._unsubscribe),
            (PUBSUB, "get", "items"): (False, self._items),
            (PUBSUB, "get", "subscriptions"): (False, self._subscriptions),
            (PUBSUB_OWNER, "get", "configure"): (True, self._get_configuration),
            (PUBSUB_OWNER, "set", "configure"): (True, self._set_configuration),
            (PUBSUB_OWNER, "get", "default"): (True, self._default_configuration),
            (PUBSUB_OWNER, "set", "delete"): (True, self._delete),
            (PUBSUB_OWNER, "set", "purge"): (True, self._purge),
        }

    async def stop(self) -> None:
        """Cancel caps queries still waiting for an answer."""
        await self.notifier.caps.stop()

    # ------------------------------------------------------------ dispatch

    async def _on_iq(self, event: StanzaEvent) -> bool:
        assert event.to is not None
        owner = event.to.bare
        stanza = event.stanza
        if owner != event.sender.bare and not await self.server.accounts.exists(owner):
            self.server.router.bounce(stanza, "service-unavailable")
            return True
        pubsub = stanza[0]
        namespace = pubsub.tag[1:].partition("}")[0]
        try:
            if len(pubsub) == 0:
                raise PubsubError("bad-request", None, "the pubsub element is empty")
            action = pubsub[0]
            name = action.tag.rpartition("}")[2]
            found = self._actions.get((namespace, stanza.get("type") or "", name))
            if found is None or action.tag != tag(namespace, name):
                feature = _UNSUPPORTED.get((namespace, name), name)
                raise PubsubError(
                    "feature-not-implemented",
                    "unsupported",
                    f"'{name}' is not supported",
                    feature=feature,
                )
            owner_only, handler = found
            if owner_only and event.sender.bare != owner:
                raise PubsubError("forbidden", None, "only the account owner may do this")
            await handler(event, owner, pubsub, action)
        except PubsubError as exc:
            self._refuse(event, exc)
        return True

    def _answer(self, event: StanzaEvent, payload: Element | None = None) -> None:
        self.server.router.deliver_local(iq_result(event.stanza, payload))

    @staticmethod
    def _node_name(action: Element, *, required_error: str = "bad-request") -> str:
        name = action.get("node")
        if not name:
            raise PubsubError(required_error, "nodeid-required", "the request names no node")
        if len(name) > _MAX_NODE_NAME:
            raise PubsubError(
                "not-acceptable", None, f"node names are at most {_MAX_NODE_NAME} characters"
            )
        return name

    async def _existing(self, owner: JID, name: str) -> Node:
        node = await self.store.node(owner, name)
        if node is None:
            raise PubsubError("item-not-found", None, "no such node")
        return node

    async def _check_access(self, owner: JID, node: Node, reader: JID) -> None:
        denial = await self._denial(owner, reader)
        if (refusal := denial(node.config)) is not None:
            raise refusal

    async def _denial(self, owner: JID, reader: JID) -> Callable[[NodeConfig], PubsubError | None]:
        """Why ``reader`` may not read a node of ``owner`` with a given configuration, if so."""
        if reader.bare == owner:
            return lambda _config: None
        item = await self.notifier.roster_item(owner, reader)
        subscription = item.subscription if item else None
        groups = item.groups if item else ()
        return lambda config: access_denial(config, subscription, groups)

    # --------------------------------------------------------- publishing

    async def _publish(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        items = action.findall(tag(PUBSUB, "item"))
        if len(items) != len(action) or len(items) > 1:
            raise PubsubError(
                "bad-request", "invalid-payload", "publish exactly one item at a time"
            )
        if not items:
            raise PubsubError("bad-request", "item-required", "the publish request holds no item")
        item = items[0]
        if len(item) != 1:
            if len(item) == 0:
                raise PubsubError("bad-request", "payload-required", "the item holds no payload")
            raise PubsubError(
                "bad-request", "invalid-payload", "an item holds exactly one payload element"
            )
        item_id = item.get("id") or secrets.token_hex(16)
        if len(item_id) > _MAX_ITEM_ID:
            raise PubsubError(
                "not-acceptable", None, f"item ids are at most {_MAX_ITEM_ID} characters"
            )
        payload = item[0]
        xml = serialize(payload).decode("utf-8")
        if len(xml.encode("utf-8")) > self.limits.max_item_bytes:
            raise PubsubError(
                "not-acceptable",
                "payload-too-big",
                f"an item may hold at most {self.limits.max_item_bytes} bytes",
            )
        options_element = pubsub.find(tag(PUBSUB, "publish-options"))
        form = options_element.find(tag(DATA_FORMS, "x")) if options_element is not None else None
        options = parse_form(form, PUBLISH_OPTIONS_FORM)
        if options is None:
            raise PubsubError("bad-request", None, "publish-options cannot be a cancelled form")
        async with self.store.lock(owner):
            nodes = await self.store.nodes(owner)
            node = nodes.get(name)
            if node is None:
                self._check_node_quota(nodes)
                node = Node(name, NodeConfig.from_publish_options(options, self.limits))
            else:
                unmet = node.config.unmet_preconditions(options, self.limits)
                if unmet is not None:
                    raise PubsubError("conflict", "precondition-not-met", unmet)
            keep = node.config.item_limit(self.limits)
            evicted: list[str] = []
            if keep:
                kept = [i for i in node.items if i != item_id] + [item_id]
                evicted, kept = kept[:-keep], kept[-keep:]
                total = sum(len(n.items) for n in nodes.values()) - len(node.items) + len(kept)
                if len(kept) > len(node.items) and total > self.limits.max_items_per_account:
                    raise PubsubError(
                        "not-allowed",
                        "max-items-exceeded",
                        f"an account keeps {self.limits.max_items_per_account} PEP items at most",
                    )
                await self.store.put_payload(owner, name, item_id, xml)
                node.items = kept
            if keep or name not in nodes:
                await self.store.save(owner, node)
            await self.store.drop_payloads(owner, name, evicted)
        result = Element(tag(PUBSUB, "pubsub"))
        SubElement(
            SubElement(result, tag(PUBSUB, "publish"), {"node": name}),
            tag(PUBSUB, "item"),
            {"id": item_id},
        )
        self._answer(event, result)
        await self.notifier.notify(
            owner,
            node,
            items_event(name, item_id, payload if node.config.deliver_payloads else None),
        )

    def _check_node_quota(self, nodes: dict[str, Node]) -> None:
        if len(nodes) >= self.limits.max_nodes_per_account:
            raise PubsubError(
                "not-allowed",
                "max-nodes-exceeded",
                f"an account may have at most {self.limits.max_nodes_per_account} PEP nodes",
            )

    async def _retract(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        item = action.find(tag(PUBSUB, "item"))
        item_id = item.get("id") if item is not None else None
        if not item_id:
            raise PubsubError("bad-request", "item-required", "name the item to retract")
        async with self.store.lock(owner):
            node = await self._existing(owner, name)
            if item_id not in node.items:
                raise PubsubError("item-not-found", None, "no such item")
            node.items.remove(item_id)
            await self.store.save(owner, node)
            await self.store.drop_payloads(owner, name, [item_id])
        self._answer(event)
        notify = action.get("notify")
        if (notify in _TRUE) if notify is not None else node.config.notify_retract:
            event_element = Element(tag(PUBSUB_EVENT, "event"))
            items = SubElement(event_element, tag(PUBSUB_EVENT, "items"), {"node": name})
            SubElement(items, tag(PUBSUB_EVENT, "retract"), {"id": item_id})
            await self.notifier.notify(owner, node, event_element)

    async def _create(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action, required_error="not-acceptable")
        configure = pubsub.find(tag(PUBSUB, "configure"))
        form = configure.find(tag(DATA_FORMS, "x")) if configure is not None else None
        fields = parse_form(form, NODE_CONFIG_FORM) or {}
        config = NodeConfig().updated(fields, self.limits)
        async with self.store.lock(owner):
            nodes = await self.store.nodes(owner)
            if name in nodes:
                raise PubsubError("conflict", None, "the node already exists")
            self._check_node_quota(nodes)
            await self.store.save(owner, Node(name, config))
        self._answer(event)

    # -------------------------------------------------------- subscribers

    def _subscriber(self, event: StanzaEvent, action: Element) -> JID:
        text = action.get("jid")
        if not text:
            raise PubsubError(
                "bad-request", "jid-required", "the request names no subscriber 'jid'"
            )
        try:
            jid = JID.parse(text)
        except InvalidJID:
            raise PubsubError(
                "bad-request", "invalid-jid", "the subscriber 'jid' is not a valid JID"
            ) from None
        if jid.bare != event.sender.bare:
            raise PubsubError(
                "bad-request", "invalid-jid", "you may only subscribe or unsubscribe yourself"
            )
        return jid

    async def _subscribe(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        subscriber = self._subscriber(event, action)
        async with self.store.lock(owner):
            node = await self._existing(owner, name)
            await self._check_access(owner, node, subscriber)
            subid = node.subscriptions.get(str(subscriber))
            if subid is None:
                if len(node.subscriptions) >= self.limits.max_subscriptions_per_node:
                    raise PubsubError(
                        "not-allowed",
                        "too-many-subscriptions",
                        "this node has reached its subscription limit",
                    )
                subid = secrets.token_hex(8)
                node.subscriptions[str(subscriber)] = subid
                await self.store.save(owner, node)
        result = Element(tag(PUBSUB, "pubsub"))
        result.append(_subscription(name, str(subscriber), subid))
        self._answer(event, result)
        config = node.config
        if (
            config.send_last_published_item != "never"
            and config.deliver_notifications
            and node.items
        ):
            last = await self.notifier.last_item_event(owner, node)
            if last is not None:
                await self.notifier.send(owner, self.notifier.expand(subscriber, name), last)

    async def _unsubscribe(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        subscriber = self._subscriber(event, action)
        async with self.store.lock(owner):
            node = await self._existing(owner, name)
            if node.subscriptions.pop(str(subscriber), None) is None:
                raise PubsubError(
                    "unexpected-request",
                    "not-subscribed",
                    "that JID is not subscribed to this node",
                    error_type="cancel",
                )
            await self.store.save(owner, node)
        self._answer(event)

    async def _subscriptions(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        only = action.get("node")
        nodes = (
            [await self._existing(owner, only)]
            if only
            else list((await self.store.nodes(owner)).values())
        )
        result = Element(tag(PUBSUB, "pubsub"))
        listing = SubElement(result, tag(PUBSUB, "subscriptions"), {"node": only} if only else {})
        for node in nodes:
            for jid_text, subid in node.subscriptions.items():
                if jid_text.partition("/")[0] == str(event.sender.bare):
                    listing.append(_subscription(node.name, jid_text, subid))
        self._answer(event, result)

    async def _items(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        node = await self._existing(owner, name)
        await self._check_access(owner, node, event.sender)
        wanted = [i.get("id") or "" for i in action.findall(tag(PUBSUB, "item"))]
        ids = [i for i in node.items if i in wanted] if wanted else node.items
        max_items = action.get("max_items")
        if max_items is not None:
            if not max_items.isdigit() or int(max_items) < 1:
                raise PubsubError("bad-request", None, "max_items is a positive number")
            ids = ids[-int(max_items) :]
        result = Element(tag(PUBSUB, "pubsub"))
        listing = SubElement(result, tag(PUBSUB, "items"), {"node": name})
        for item_id in ids:
            payload = await self.store.payload(owner, name, item_id)
            if payload is not None:
                SubElement(listing, tag(PUBSUB, "item"), {"id": item_id}).append(payload)
        self._answer(event, result)

    # -------------------------------------------------------------- owner

    async def _get_configuration(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        node = await self._existing(owner, name)
        result = Element(tag(PUBSUB_OWNER, "pubsub"))
        SubElement(result, tag(PUBSUB_OWNER, "configure"), {"node": name}).append(
            node.config.to_form()
        )
        self._answer(event, result)

    async def _set_configuration(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        form = action.find(tag(DATA_FORMS, "x"))
        if form is None:
            raise PubsubError("bad-request", None, "the configure request holds no data form")
        fields = parse_form(form, NODE_CONFIG_FORM)
        async with self.store.lock(owner):
            node = await self._existing(owner, name)
            if fields is not None:
                node.config = node.config.updated(fields, self.limits)
                keep = node.config.item_limit(self.limits)
                dropped = node.items[: len(node.items) - keep] if len(node.items) > keep else []
                node.items = node.items[len(dropped) :]
                await self.store.save(owner, node)
                await self.store.drop_payloads(owner, name, dropped)
        self._answer(event)

    async def _default_configuration(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        result = Element(tag(PUBSUB_OWNER, "pubsub"))
        SubElement(result, tag(PUBSUB_OWNER, "default")).append(NodeConfig().to_form())
        self._answer(event, result)

    async def _delete(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        async with self.store.lock(owner):
            node = await self._existing(owner, name)
            # Who to tell is decided before the node (and its subscriptions) is gone.
            targets = await self.notifier.targets(owner, node) if node.config.notify_delete else []
            await self.store.delete(owner, node)
        self._answer(event)
        event_element = Element(tag(PUBSUB_EVENT, "event"))
        SubElement(event_element, tag(PUBSUB_EVENT, "delete"), {"node": name})
        await self.notifier.send(owner, targets, event_element)

    async def _purge(
        self, event: StanzaEvent, owner: JID, pubsub: Element, action: Element
    ) -> None:
        name = self._node_name(action)
        async with self.store.lock(owner):
            node = await self._existing(owner, name)
            dropped, node.items = node.items, []
            await self.store.save(owner, node)
            await self.store.drop_payloads(owner, name, dropped)
        self._answer(event)
        if node.config.notify_retract:
            event_element = Element(tag(PUBSUB_EVENT, "event"))
            SubElement(event_element, tag(PUBSUB_EVENT, "purge"), {"node": name})
            await self.notifier.notify(owner, node, event_element)

    # -------------------------------------------------------------- disco

    async def _add_identity(self, disco: DiscoInfoQuery) -> bool:
        SubElement(
            disco.query, tag(ns.DISCO_INFO, "identity"), {"category": "pubsub", "type": "pep"}
        )
        return False

    async def _disco_node_info(self, event: StanzaEvent) -> bool:
        assert event.to is not None
        name = event.stanza[0].get("node")
        if not name:
            return False
        owner = event.to.bare
        try:
            node = await self._readable(event, owner, name)
        except PubsubError as exc:
            self._refuse(event, exc)
            return True
        query = Element(tag(ns.DISCO_INFO, "query"), {"node": node.name})
        SubElement(query, tag(ns.DISCO_INFO, "identity"), {"category": "pubsub", "type": "leaf"})
        SubElement(query, tag(ns.DISCO_INFO, "feature"), {"var": PUBSUB})
        self._answer(event, query)
        return True

    async def _disco_items(self, event: StanzaEvent) -> bool:
        assert event.to is not None
        owner = event.to.bare
        name = event.stanza[0].get("node")
        query = Element(tag(ns.DISCO_ITEMS, "query"))
        try:
            if name:
                node = await self._readable(event, owner, name)
                query.set("node", name)
                for item_id in node.items:
                    SubElement(
                        query, tag(ns.DISCO_ITEMS, "item"), {"jid": str(owner), "name": item_id}
                    )
            else:
                if owner != event.sender.bare and not await self.server.accounts.exists(owner):
                    return False
                denial = await self._denial(owner, event.sender)
                for node in (await self.store.nodes(owner)).values():
                    if denial(node.config) is not None:
                        continue
                    attrs = {"jid": str(owner), "node": node.name}
                    if node.config.title:
                        attrs["name"] = node.config.title
                    SubElement(query, tag(ns.DISCO_ITEMS, "item"), attrs)
        except PubsubError as exc:
            self._refuse(event, exc)
            return True
        self._answer(event, query)
        return True

    async def _readable(self, event: StanzaEvent, owner: JID, name: str) -> Node:
        if owner != event.sender.bare and not await self.server.accounts.exists(owner):
            raise PubsubError("service-unavailable")
        node = await self._existing(owner, name)
        await self._check_access(owner, node, event.sender)
        return node

    def _refuse(self, event: StanzaEvent, exc: PubsubError) -> None:
        reply = exc.reply(event.stanza)
        if reply is not None:
            self.server.router.deliver_local(reply)


def _subscription(node: str, jid: str, subid: str) -> Element:
    return Element(
        tag(PUBSUB, "subscription"),
        {"node": node, "jid": jid, "subid": subid, "subscription": "subscribed"},
    )


MODULE = Pep
