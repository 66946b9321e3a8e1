"""XEP-0198 stream management state for one session, sans-IO.

It counts the stanzas handled from the client and those sent to it, and keeps every
sent stanza until the client acknowledges it. The state outlives a connection: when a
client resumes, the new stream takes it over and sends again what was not acknowledged.
"""

from __future__ import annotations

from collections import deque
from xml.etree.ElementTree import Element

__all__ = ["SM", "StreamManagement"]

SM = "urn:xmpp:sm:3"
_WRAP = 1 << 32


class StreamManagement:
    """Counters and the queue of unacknowledged stanzas (XEP-0198 §4)."""

    def __init__(self, resumption_id: str | None) -> None:
        #: The id a client resumes with, or None if resumption was not enabled.
        self.id = resumption_id
        self.inbound = 0
        self.outbound = 0
        self.unacked: deque[Element] = deque()

    def received(self) -> None:
        """One more stanza from the client was handled."""
        self.inbound = (self.inbound + 1) % _WRAP

    def sent(self, stanza: Element) -> None:
        """A stanza went to the client (or waits for a resumed stream)."""
        self.outbound = (self.outbound + 1) % _WRAP
        self.unacked.append(stanza)

    def acknowledge(self, handled: int) -> None:
        """The client says it has handled ``handled`` stanzas in all; drop those.

        Raises ValueError if that is more than were sent.
        """
        first_unacked = (self.outbound - len(self.unacked)) % _WRAP
        newly = (handled - first_unacked) % _WRAP
        if newly > len(self.unacked):
            raise ValueError("the client acknowledged more stanzas than were sent")
        for _ in range(newly):
            self.unacked.popleft()
