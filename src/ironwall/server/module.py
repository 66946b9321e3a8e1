"""The module API: one XEP or RFC area per module, reaching others only via hooks.

A module declares at the top what it adds: its disco features, the stores it opens,
the stream features and extension elements it owns. ``start`` hooks its events.
Adding a module is one file in ``server/modules/`` and one line of configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from xml.etree.ElementTree import Element

if TYPE_CHECKING:
    from ironwall.server.app import Server

__all__ = ["Module"]


class Module:
    """Base class for server modules."""

    #: Name used in the configuration's ``modules`` list.
    name: ClassVar[str]
    #: Features this module adds to the server's XEP-0030 disco#info.
    disco_features: ClassVar[tuple[str, ...]] = ()
    #: Features added to each account's (bare JID) disco#info.
    account_features: ClassVar[tuple[str, ...]] = ()
    #: Top-level elements (Clark names) that bound streams may send to this module.
    extension_nonzas: ClassVar[tuple[str, ...]] = ()
    #: Payload namespaces of iq sets this module answers before login, where in-band
    #: registration is open (as ``iq-preauth/{namespace}``).
    preauth_namespaces: ClassVar[tuple[str, ...]] = ()

    def __init__(self, server: Server) -> None:
        self.server = server

    async def start(self) -> None:
        """Hook events and open stores. Called once, before listeners accept."""

    async def stop(self) -> None:
        """Release what ``start`` acquired. Called once at shutdown."""

    def stream_features(self) -> list[Element]:
        """Elements to add to ``<stream:features>`` after authentication."""
        return []

    def preauth_features(self, domain: str) -> list[Element]:
        """Elements to add to ``<stream:features>`` before login, where registration is open."""
        return []
