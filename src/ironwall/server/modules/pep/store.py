"""Where PEP keeps its nodes and items: two map stores, both keyed by the owning account.

* ``pep_nodes``: node name -> configuration, item ids (oldest first), explicit subscriptions.
* ``pep_items``: ``["node", "item id"]`` (JSON, since node names are arbitrary text) -> payload XML.

Both are owned by the account's bare JID, so deleting an account (``delete_owner``)
removes its nodes. A payload is written before the node record that lists it and
dropped after the record that no longer does, so a crash can leave an orphan payload
but never a listed item without one.

This module has no ``MODULE``: it is a library of the ``pep`` module, not a server module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from ironwall.proto.jid import JID
from ironwall.server.modules.pep.model import NodeConfig
from ironwall.storage import StorageDriver
from ironwall.xml import XMLPolicyError, parse_document

__all__ = ["Node", "PepStore"]

log = logging.getLogger(__name__)


@dataclass
class Node:
    """One PEP node of an account."""

    name: str
    config: NodeConfig = field(default_factory=NodeConfig)
    #: Ids of the stored items, oldest first.
    items: list[str] = field(default_factory=list)
    #: Explicit subscriptions: subscriber JID (bare or full) -> subscription id.
    subscriptions: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """JSON-safe form for storage."""
        return {
            "config": self.config.to_record(),
            "items": self.items,
            "subscriptions": self.subscriptions,
        }

    @classmethod
    def from_record(cls, name: str, record: object) -> Node:
        """Inverse of ``to_record``, tolerant of missing parts."""
        if not isinstance(record, dict):
            return cls(name)
        items = record.get("items")
        subscriptions = record.get("subscriptions")
        return cls(
            name,
            NodeConfig.from_record(record.get("config")),
            [i for i in items if isinstance(i, str)] if isinstance(items, list) else [],
            {k: v for k, v in subscriptions.items() if isinstance(v, str)}
            if isinstance(subscriptions, dict)
            else {},
        )


def _item_key(node: str, item_id: str) -> str:
    return json.dumps([node, item_id], ensure_ascii=False)


class PepStore:
    """Nodes and payloads of every account, with one lock per account for read-modify-write."""

    def __init__(self, driver: StorageDriver) -> None:
        self._nodes = driver.map("pep_nodes")
        self._items = driver.map("pep_items")
        self._locks: weakref.WeakValueDictionary[JID, asyncio.Lock] = weakref.WeakValueDictionary()

    def lock(self, owner: JID) -> asyncio.Lock:
        """The lock to hold while changing ``owner``'s nodes (two publishes must not interleave)."""
        lock = self._locks.get(owner)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[owner] = lock
        return lock

    async def node(self, owner: JID, name: str) -> Node | None:
        """The owner's node called ``name``, if it exists."""
        record = await self._nodes.get(str(owner), name)
        return None if record is None else Node.from_record(name, record)

    async def nodes(self, owner: JID) -> dict[str, Node]:
        """Every node of the owner, by name."""
        records = await self._nodes.get_all(str(owner))
        return {name: Node.from_record(name, record) for name, record in records.items()}

    async def save(self, owner: JID, node: Node) -> None:
        """Store the node record."""
        await self._nodes.set(str(owner), node.name, node.to_record())

    async def delete(self, owner: JID, node: Node) -> None:
        """Remove the node and its payloads."""
        await self._nodes.set(str(owner), node.name, None)
        await self.drop_payloads(owner, node.name, node.items)

    async def payload(self, owner: JID, node: str, item_id: str) -> Element | None:
        """The payload element of one item (None if missing or unreadable)."""
        text = await self._items.get(str(owner), _item_key(node, item_id))
        if not isinstance(text, str):
            return None
        try:
            return parse_document(text.encode("utf-8"))
        except XMLPolicyError:
            log.warning("an unreadable PEP item of %s was skipped", owner)
            return None

    async def put_payload(self, owner: JID, node: str, item_id: str, xml: str) -> None:
        """Store one item's serialised payload."""
        await self._items.set(str(owner), _item_key(node, item_id), xml)

    async def drop_payloads(self, owner: JID, node: str, item_ids: Iterable[str]) -> None:
        """Delete the payloads of these items."""
        for item_id in item_ids:
            await self._items.set(str(owner), _item_key(node, item_id), None)
