"""What a client session tells its user interfaces: immutable views and typed events.

A `ClientSession` publishes these to every subscriber (`ClientSession.events()`); the CLI,
the terminal chat and the web page only render them and call the session's commands.
Everything here comes from what the session checked: a UI never decides trust itself. Text
in these objects comes from the network: show it with `ironwall.client.text.visible`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ironwall.e2e import TrustState

__all__ = [
    "CHECK_NAMES",
    "ChatState",
    "ChatStateChanged",
    "ConnectionChanged",
    "ConnectionState",
    "Contact",
    "ContactChanged",
    "ContactHasNoKey",
    "Delivery",
    "Direction",
    "Event",
    "KeyChanged",
    "KeyPinned",
    "KeyRevoked",
    "Message",
    "MessageReceived",
    "MessageSent",
    "MessageStatus",
    "MessageUpdated",
    "PresenceChanged",
    "SubscriptionRequested",
    "SyncFinished",
]


class Direction(enum.Enum):
    """Who wrote a message."""

    IN = "in"
    OUT = "out"


class MessageStatus(enum.Enum):
    """How far a message can be trusted, as checked when it was opened (or sealed)."""

    VERIFIED = "verified"
    """Opened and every check passed; the sender's key was verified in person."""
    UNVERIFIED = "unverified"
    """Opened and every check passed; the sender's key was pinned on first use."""
    CHANGED = "changed"
    """Opened and every check passed, from a new key the user has not acknowledged yet."""
    PLAINTEXT = "plaintext"
    """Sent or received without encryption: anyone on the way could read or change it."""
    REJECTED = "rejected"
    """Failed a check: the body is not shown, ``detail`` says why."""


class Delivery(enum.Enum):
    """How far an outgoing message got."""

    PENDING = "pending"
    """Written, not yet taken by the server (also while offline: it waits in the outbox)."""
    SENT = "sent"
    """The server acknowledged it."""
    DELIVERED = "delivered"
    """The recipient's client confirmed receipt (XEP-0184)."""
    READ = "read"
    """The recipient's client says it was displayed (XEP-0333)."""
    FAILED = "failed"
    """It could not be sent; ``detail`` says why."""


#: The receiver checks of spec/e2e.md §4, in order, as named in `Message.checks`.
CHECK_NAMES = ("decrypts-and-signed", "sender-key", "recipient", "fresh", "key-valid")


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation, as the user sees it.

    ``checks`` maps each receiver check (`CHECK_NAMES`) to True (passed), False (failed)
    or None (not reached, or not applicable: plaintext and own messages).
    """

    id: int
    peer: str
    direction: Direction
    body: str | None
    sent_at: float
    status: MessageStatus
    detail: str = ""
    origin_id: str | None = None
    delivery: Delivery | None = None
    unread: bool = False
    checks: tuple[tuple[str, bool | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as the contact list shows it."""

    jid: str
    subscription: str
    """RFC 6121: none, to, from or both."""
    request_sent: bool
    online: bool
    trust: TrustState
    plaintext_allowed: bool
    unread: int
    fingerprints: tuple[str, ...]
    """The keys messages are encrypted to (or, for a change waiting, the offered ones)."""
    waiting_fingerprints: tuple[str, ...] = ()
    """New keys waiting for the user's acknowledgment."""


class ConnectionState(enum.Enum):
    """Where the session's connection stands."""

    CONNECTING = "connecting"
    ONLINE = "online"
    RESUMED = "resumed"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The connection went up, came back, or dropped (``reason``, next try in ``retry_in`` s)."""

    state: ConnectionState
    reason: str = ""
    retry_in: float | None = None


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """An incoming message was opened and checked (or failed a check)."""

    message: Message


@dataclass(frozen=True, slots=True)
class MessageSent:
    """An outgoing message was written here, or on another of the account's devices."""

    message: Message


@dataclass(frozen=True, slots=True)
class MessageUpdated:
    """A message's delivery state (or read state) changed."""

    message: Message


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """A contact came online or went offline."""

    jid: str
    online: bool
    show: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class SubscriptionRequested:
    """Someone asks to become a contact (see their presence)."""

    jid: str


@dataclass(frozen=True, slots=True)
class ContactChanged:
    """A contact was added, removed, or its subscription or settings changed."""

    contact: Contact | None
    jid: str


@dataclass(frozen=True, slots=True)
class KeyPinned:
    """A contact's first keys were pinned (trust on first use)."""

    jid: str
    fingerprints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyChanged:
    """A contact's keys changed; nothing is encrypted to the new keys before `accept_key`.

    ``was_verified``: the old keys were verified in person, so the UI should block sending
    until the user checks the new ones.
    """

    jid: str
    old: tuple[str, ...]
    new: tuple[str, ...]
    was_verified: bool


@dataclass(frozen=True, slots=True)
class KeyRevoked:
    """A contact revoked their key: their account was compromised; they must start anew."""

    jid: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class ContactHasNoKey:
    """A contact has published no encryption key: messages to them cannot be encrypted."""

    jid: str


class ChatState(enum.Enum):
    """XEP-0085 chat states."""

    ACTIVE = "active"
    COMPOSING = "composing"
    PAUSED = "paused"
    INACTIVE = "inactive"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class ChatStateChanged:
    """A contact started or stopped typing (XEP-0085)."""

    jid: str
    state: ChatState


@dataclass(frozen=True, slots=True)
class SyncFinished:
    """The archive was read after (re)connecting: ``count`` messages came from it."""

    count: int


Event = (
    ConnectionChanged
    | MessageReceived
    | MessageSent
    | MessageUpdated
    | PresenceChanged
    | SubscriptionRequested
    | ContactChanged
    | KeyPinned
    | KeyChanged
    | KeyRevoked
    | ContactHasNoKey
    | ChatStateChanged
    | SyncFinished
)
