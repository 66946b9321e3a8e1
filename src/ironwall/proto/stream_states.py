"""The states of a server c2s stream and the one table of how they follow each other.

In the style of h11's ``_state.py``: ``TRANSITIONS`` maps (state, trigger) to the next
state, and ``ServerStream`` changes its state only by looking a trigger up there; a pair
that is not in the table is a ``LocalProtocolError``. What each state accepts from the
peer is ``ServerStream``'s business; this file only says where each step leads.

The diagram in ``spec/stream-states.md`` is generated from the table
(``python -m ironwall.proto.stream_diagram``).
"""

from __future__ import annotations

import enum

__all__ = ["INITIAL", "TRANSITIONS", "State", "Trigger"]


class State(enum.Enum):
    """Where the stream is in its negotiation (RFC 6120 §4–§7)."""

    EXPECT_HEADER = "expect-header"
    TLS_OFFERED = "tls-offered"
    TLS_STARTING = "tls-starting"
    AUTH_OFFERED = "auth-offered"
    SASL_LOOKUP = "sasl-lookup"
    SASL_CHALLENGED = "sasl-challenged"
    BIND_OFFERED = "bind-offered"
    BINDING = "binding"
    SM_RESUMING = "sm-resuming"
    ESTABLISHED = "established"
    SM_ENABLING = "sm-enabling"
    CLOSED = "closed"


class Trigger(enum.Enum):
    """What moves the stream from one state to the next: the edges of ``TRANSITIONS``.

    Named "trigger" because ``StreamEvent`` already names what the stream reports to
    the I/O layer (``ironwall.proto.events``).
    """

    #: A stream header arrived and was answered with features offering STARTTLS.
    HEADER_BEFORE_TLS = "header-before-tls"
    #: A stream header arrived and was answered with the SASL mechanisms only.
    HEADER_BEFORE_AUTH = "header-before-auth"
    #: A header arrived after authentication and was answered with bind and SM.
    HEADER_AFTER_AUTH = "header-after-auth"
    #: The client sent ``<starttls/>`` and ``<proceed/>`` is queued.
    TLS_STARTED = "tls-started"
    #: The I/O layer finished the TLS handshake (``tls_established``).
    TLS_ESTABLISHED = "tls-established"
    #: The client sent ``<auth/>``; the account must be looked up.
    SASL_STARTED = "sasl-started"
    #: A SASL ``<challenge/>`` is queued.
    SASL_CHALLENGE_SENT = "sasl-challenge-sent"
    #: SASL ``<success/>`` is queued; the stream restarts.
    SASL_SUCCEEDED = "sasl-succeeded"
    #: SASL ``<failure/>`` is queued; the client may try again.
    SASL_FAILED = "sasl-failed"
    #: The client sent ``<abort/>``.
    SASL_ABORTED = "sasl-aborted"
    #: The client asked to bind a resource.
    BIND_REQUESTED = "bind-requested"
    #: The I/O layer bound the resource (``bind_resource``).
    BIND_DONE = "bind-done"
    #: The I/O layer refused the resource (``refuse_bind``).
    BIND_REFUSED = "bind-refused"
    #: The client sent XEP-0198 ``<enable/>``.
    SM_ENABLE_REQUESTED = "sm-enable-requested"
    #: The I/O layer enabled stream management (``enable_sm``).
    SM_ENABLED = "sm-enabled"
    #: The client sent XEP-0198 ``<resume/>``.
    SM_RESUME_REQUESTED = "sm-resume-requested"
    #: The I/O layer resumed the parked session (``resume_sm``).
    SM_RESUMED = "sm-resumed"
    #: The I/O layer found no session to resume (``refuse_resume``).
    SM_RESUME_REFUSED = "sm-resume-refused"
    #: ``</stream:stream>`` was sent, by either side's choice, with or without an error.
    CLOSE = "close"


INITIAL = State.EXPECT_HEADER

#: Every legal step of the stream. Closing is legal from every state but ``CLOSED``:
#: a stream error or the I/O layer may end the stream at any point.
TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.EXPECT_HEADER, Trigger.HEADER_BEFORE_TLS): State.TLS_OFFERED,
    (State.EXPECT_HEADER, Trigger.HEADER_BEFORE_AUTH): State.AUTH_OFFERED,
    (State.EXPECT_HEADER, Trigger.HEADER_AFTER_AUTH): State.BIND_OFFERED,
    (State.TLS_OFFERED, Trigger.TLS_STARTED): State.TLS_STARTING,
    (State.TLS_STARTING, Trigger.TLS_ESTABLISHED): State.EXPECT_HEADER,
    # Where TLS is optional, a client may authenticate without it.
    (State.TLS_OFFERED, Trigger.SASL_STARTED): State.SASL_LOOKUP,
    (State.AUTH_OFFERED, Trigger.SASL_STARTED): State.SASL_LOOKUP,
    (State.SASL_LOOKUP, Trigger.SASL_CHALLENGE_SENT): State.SASL_CHALLENGED,
    # RFC 6120 §6.4.3 allows any number of challenges (SCRAM needs one).
    (State.SASL_CHALLENGED, Trigger.SASL_CHALLENGE_SENT): State.SASL_CHALLENGED,
    (State.SASL_LOOKUP, Trigger.SASL_SUCCEEDED): State.EXPECT_HEADER,
    (State.SASL_CHALLENGED, Trigger.SASL_SUCCEEDED): State.EXPECT_HEADER,
    # An <auth/> refused before any lookup (bad base64, a mechanism not offered) fails
    # from the offer itself. Every failure leads to AUTH_OFFERED, so a client that fails
    # on an optional-TLS stream can no longer start TLS on it.
    (State.TLS_OFFERED, Trigger.SASL_FAILED): State.AUTH_OFFERED,
    (State.AUTH_OFFERED, Trigger.SASL_FAILED): State.AUTH_OFFERED,
    (State.SASL_LOOKUP, Trigger.SASL_FAILED): State.AUTH_OFFERED,
    (State.SASL_CHALLENGED, Trigger.SASL_FAILED): State.AUTH_OFFERED,
    (State.SASL_CHALLENGED, Trigger.SASL_ABORTED): State.AUTH_OFFERED,
    (State.BIND_OFFERED, Trigger.BIND_REQUESTED): State.BINDING,
    (State.BINDING, Trigger.BIND_DONE): State.ESTABLISHED,
    (State.BINDING, Trigger.BIND_REFUSED): State.BIND_OFFERED,
    (State.BIND_OFFERED, Trigger.SM_RESUME_REQUESTED): State.SM_RESUMING,
    (State.SM_RESUMING, Trigger.SM_RESUMED): State.ESTABLISHED,
    (State.SM_RESUMING, Trigger.SM_RESUME_REFUSED): State.BIND_OFFERED,
    (State.ESTABLISHED, Trigger.SM_ENABLE_REQUESTED): State.SM_ENABLING,
    (State.SM_ENABLING, Trigger.SM_ENABLED): State.ESTABLISHED,
    **{(state, Trigger.CLOSE): State.CLOSED for state in State if state is not State.CLOSED},
}
