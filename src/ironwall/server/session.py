"""A bound client session as modules see it: its address, presence state, and a way to send."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element

from ironwall.proto.jid import JID

__all__ = ["Session"]


class Session:
    """One connected, authenticated, resource-bound client."""

    __slots__ = (
        "_close",
        "_send",
        "address",
        "authenticated_at",
        "available",
        "closed",
        "directed",
        "extra",
        "interested",
        "jid",
        "outbound_filter",
        "presence",
        "priority",
    )

    def __init__(
        self,
        jid: JID,
        address: str,
        send: Callable[[Element], None],
        close: Callable[[str, str], None],
    ) -> None:
        self.jid = jid
        self.address = address
        #: When its connection's SASL login succeeded (``time.monotonic()``).
        self.authenticated_at = 0.0
        #: The server closed its stream; what it still had queued is not acted on.
        self.closed = False
        #: Sent initial presence and not yet unavailable (RFC 6121 "available resource").
        self.available = False
        #: Requested the roster (RFC 6121 "interested resource").
        self.interested = False
        #: The last available presence it broadcast, answered to probes.
        self.presence: Element | None = None
        self.priority = 0
        #: Entities it sent directed presence to, told when it goes offline.
        self.directed: set[JID] = set()
        #: Per-module state, keyed by module name.
        self.extra: dict[str, object] = {}
        #: Set by the one module that holds stanzas back (XEP-0352, ``csi.py``): it gets
        #: each outgoing stanza and returns those to send now, in order. Applied here, in
        #: front of the connection's send, so a resumed session (``rebind``) keeps it.
        self.outbound_filter: Callable[[Element], list[Element]] | None = None
        self._send = send
        self._close = close

    def rebind(self, send: Callable[[Element], None], close: Callable[[str, str], None]) -> None:
        """Carry on over another connection (XEP-0198 resumption) or a parking queue."""
        self._send = send
        self._close = close

    def send(self, stanza: Element) -> None:
        """Queue ``stanza`` on this session's stream (unless ``outbound_filter`` holds it)."""
        if self.outbound_filter is None:
            self._send(stanza)
            return
        for ready in self.outbound_filter(stanza):
            self._send(ready)

    def close(self, condition: str, text: str = "") -> None:
        """Close the session's stream with a stream error."""
        self._close(condition, text)

    def __repr__(self) -> str:
        return f"<Session {self.jid}>"
