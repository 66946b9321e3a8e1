"""The module API: one XEP or RFC area per module, reaching others only via hooks.

A module declares at the top what it adds: its disco features, the stores it opens,
the stream features and extension elements it owns. ``start`` hooks its events. It sees
the server as a `ModuleHost` (``server/module_host.py``) and other modules only as the
services they offer (``server/services.py``). Adding a module is one file (or a package,
with its helpers beside it) in ``server/modules/`` and one line of configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from xml.etree.ElementTree import Element

if TYPE_CHECKING:
    from ironwall.server.module_host import ModuleHost
    from ironwall.server.services import ServiceKey

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
    #: Services (protocols of ``server/services.py``) this module cannot work without;
    #: the server refuses to start without a module offering each.
    needs: ClassVar[tuple[ServiceKey[Any], ...]] = ()

    def __init__(self, server: ModuleHost) -> None:
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
