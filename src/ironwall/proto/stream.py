"""The server side of one XMPP client stream (RFC 6120), sans-IO.

In the style of h11 and h2: ``receive_data(bytes)`` returns events,
``data_to_send()`` returns the bytes to write, and the I/O layer answers the events
that need I/O (TLS upgrade, account lookup, resource choice) by calling a method,
which returns further events. No sockets, clocks or asyncio here, so the whole
negotiation is tested in memory.

Every state and what it accepts is in ``_ACCEPTS``; anything else is a protocol
error that closes the stream with the matching ``<stream:error>``. Where each step
leads is the table in ``ironwall.proto.stream_states`` (drawn in
``spec/stream-states.md``): the state changes only in ``ServerStream._transition``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import secrets
from collections.abc import Callable, Iterable
from typing import Any
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.events import (
    AckRequested,
    Authenticated,
    AuthFailed,
    BindRequested,
    CredentialsNeeded,
    NonzaReceived,
    PreAuthStanza,
    SMEnableRequested,
    SMResumeRequested,
    StanzaReceived,
    StreamClosed,
    StreamEvent,
    StreamOpened,
    TLSRequested,
)
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.sasl import (
    SASLChallenge,
    SASLFailure,
    SASLServer,
    SASLStep,
    mechanisms_for,
)
from ironwall.proto.sm import SM, StreamManagement
from ironwall.proto.stanza import error_reply, iq_result, tag
from ironwall.proto.stream_states import INITIAL, TRANSITIONS, State, Trigger
from ironwall.xml import (
    ParserLimits,
    StreamEnded,
    StreamParser,
    XMLPolicyError,
    serialize,
)
from ironwall.xml import (
    StanzaReceived as ParsedElement,
)
from ironwall.xml import (
    StreamOpened as ParsedHeader,
)

__all__ = ["LocalProtocolError", "ServerStream", "State", "StreamOptions"]

MAX_AUTH_ATTEMPTS = 3
_STREAM_PREFIX = {ns.STREAM: "stream"}


class LocalProtocolError(Exception):
    """The I/O layer called a method that the stream's state does not allow.

    Also raised for a step the transition table does not have, which is a bug here.
    """


class _StreamError(Exception):
    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(condition)
        self.condition = condition
        self.text = text


_STARTTLS = tag(ns.TLS, "starttls")
_AUTH = tag(ns.SASL, "auth")
_RESPONSE = tag(ns.SASL, "response")
_ABORT = tag(ns.SASL, "abort")
_IQ = tag(ns.CLIENT, "iq")
_STANZAS = frozenset({tag(ns.CLIENT, "message"), tag(ns.CLIENT, "presence"), _IQ})
_SM_ENABLE = tag(SM, "enable")
_SM_RESUME = tag(SM, "resume")
_SM_REQUEST = tag(SM, "r")
_SM_ACK = tag(SM, "a")
#: Ask the client for an acknowledgement after this many unacknowledged stanzas.
SM_REQUEST_EVERY = 5

#: What each state accepts from the peer. The pseudo-tags "stanza" and "extension"
#: stand for any of message/presence/iq and for a registered extension nonza.
_ACCEPTS: dict[State, frozenset[str]] = {
    State.EXPECT_HEADER: frozenset(),
    State.TLS_OFFERED: frozenset({_STARTTLS, _AUTH, _IQ}),
    State.TLS_STARTING: frozenset(),
    State.AUTH_OFFERED: frozenset({_AUTH, _IQ}),
    State.SASL_LOOKUP: frozenset(),
    State.SASL_CHALLENGED: frozenset({_RESPONSE, _ABORT}),
    State.BIND_OFFERED: frozenset({_IQ, _SM_RESUME, "extension"}),
    State.BINDING: frozenset(),
    State.SM_RESUMING: frozenset(),
    State.SM_ENABLING: frozenset(),
    State.ESTABLISHED: frozenset({"stanza", _SM_ENABLE, _SM_REQUEST, _SM_ACK, "extension"}),
    State.CLOSED: frozenset(),
}

#: States in which the stream waits for the I/O layer: input is held until it answers.
_WAITING = frozenset({State.SASL_LOOKUP, State.BINDING, State.SM_RESUMING, State.SM_ENABLING})


class StreamOptions:
    """What the server offers on a stream; built once per listener."""

    def __init__(
        self,
        *,
        domains: Iterable[str],
        tls_available: bool = True,
        tls_required: bool = True,
        registration: Callable[[str], bool] = lambda _domain: False,
        limits: ParserLimits | None = None,
        extension_nonzas: Iterable[str] = (),
        stream_features: Callable[[], list[Element]] = list,
        preauth_namespaces: Iterable[str] = (),
        preauth_features: Callable[[str], list[Element]] = lambda _domain: [],
    ) -> None:
        self.domains = frozenset(domains)
        self.tls_available = tls_available
        self.tls_required = tls_required and tls_available
        self.registration = registration
        self.limits = limits or ParserLimits()
        self.extension_nonzas = frozenset(extension_nonzas)
        self.stream_features = stream_features
        #: Payload namespaces of ``<iq type='set'>`` allowed before login besides
        #: jabber:iq:register (XEP-0445 ``urn:xmpp:pars:0``), under the same conditions.
        self.preauth_namespaces = frozenset(preauth_namespaces)
        #: Stream features offered with registration before login, per domain.
        self.preauth_features = preauth_features


class ServerStream:
    """One client-to-server stream, from the first byte to ``</stream:stream>``."""

    def __init__(self, options: StreamOptions) -> None:
        self._options = options
        self._parser = StreamParser(options.limits)
        self._out = bytearray()
        self._pending: list[Any] = []
        self._state = INITIAL
        self.secure = False
        self.domain: str | None = None
        self.jid: JID | None = None
        self.lang = "en"
        self._header_sent = False
        self._sasl: SASLServer | None = None
        self._channel_binding: bytes | None = None
        self._auth_attempts = 0
        # Why the account being logged in to may not log in (empty: it may), from the I/O
        # layer's lookup; told only once the client proved it knows the password.
        self._disabled = ""
        self._bind_iq: Element | None = None
        #: XEP-0198 state once the client enabled stream management.
        self.sm: StreamManagement | None = None

    @property
    def state(self) -> State:
        """Where the stream is in its negotiation."""
        return self._state

    def _transition(self, trigger: Trigger) -> None:
        # The only place the state changes, so that the table is the whole state machine.
        try:
            self._state = TRANSITIONS[self._state, trigger]
        except KeyError:
            raise LocalProtocolError(f"{trigger.value} in state {self._state.value}") from None

    @property
    def login_account(self) -> JID | None:
        """The account (bare JID) this stream is logged in to, or is logging in to.

        While SASL is under way it is the account the client named, so that whoever ends
        an account's sessions also ends the logins that began before it did.
        """
        if self.jid is not None:
            return self.jid.bare
        if self._sasl is None or self._sasl.username is None or self.domain is None:
            return None
        try:
            return JID.build(self._sasl.username, self.domain)
        except InvalidJID:
            return None

    # ----------------------------------------------------------------- input

    def receive_data(self, data: bytes) -> list[StreamEvent]:
        """Feed bytes from the peer; return what happened."""
        if self.state is State.CLOSED:
            return []
        if self.state is State.TLS_STARTING:
            return self._fail(
                "policy-violation", "data sent between <starttls/> and the TLS handshake"
            )
        try:
            parsed = self._parser.feed(data)
        except XMLPolicyError as exc:
            # What parsed cleanly before the violation is still served, then the stream ends:
            # in order, so that a question asked on the way (credentials, binding) is
            # answered before the stream closes rather than into a closed stream.
            self._pending.extend(exc.events)
            self._pending.append(exc)
            return self._drain()
        self._pending.extend(parsed)
        return self._drain()

    def _drain(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        while self._pending and self.state not in _WAITING and self.state is not State.CLOSED:
            item = self._pending.pop(0)
            try:
                if isinstance(item, ParsedHeader):
                    events += self._on_header(item)
                elif isinstance(item, ParsedElement):
                    events += self._on_element(item.element)
                elif isinstance(item, StreamEnded):
                    events += self._on_peer_close()
                elif isinstance(item, XMLPolicyError):
                    events += self._fail(item.condition, item.text)
            except _StreamError as exc:
                events += self._fail(exc.condition, exc.text)
        return events

    def _on_header(self, header: ParsedHeader) -> list[StreamEvent]:
        if self.state is not State.EXPECT_HEADER:
            raise _StreamError("not-well-formed", "unexpected stream header")
        self.domain = header.attrs.get("to")
        lang = header.attrs.get(tag(ns.XML, "lang"))
        if lang:
            self.lang = lang
        self._send_header(header.attrs.get("from"))
        if header.tag != tag(ns.STREAM, "stream"):
            raise _StreamError("invalid-namespace", "the root must be <stream:stream>")
        if header.default_ns != ns.CLIENT:
            raise _StreamError("invalid-namespace", "this port serves jabber:client streams")
        version = header.attrs.get("version", "0.9")
        if not version.startswith("1."):
            raise _StreamError("unsupported-version", "XMPP 1.0 is required")
        if self.domain is None:
            raise _StreamError("host-unknown", "the stream header needs a 'to' domain")
        try:
            self.domain = JID.parse(self.domain).domain
        except InvalidJID:
            raise _StreamError("host-unknown", "this server does not serve that domain") from None
        if self.domain not in self._options.domains:
            raise _StreamError("host-unknown", "this server does not serve that domain")
        self._send_features()
        return [StreamOpened(self.domain)]

    def _send_header(self, peer: str | None) -> None:
        if self._header_sent:
            return
        self._header_sent = True
        domain = self.domain if self.domain in self._options.domains else None
        attrs = {
            "xmlns": ns.CLIENT,
            "xmlns:stream": ns.STREAM,
            "id": secrets.token_urlsafe(12),
            "version": "1.0",
            "xml:lang": "en",
        }
        if domain:
            attrs["from"] = domain
        if peer:
            with contextlib.suppress(InvalidJID):
                attrs["to"] = str(JID.parse(peer))
        rendered = " ".join(f"{k}='{_escape_attr(v)}'" for k, v in attrs.items())
        self._out += f"<?xml version='1.0'?><stream:stream {rendered}>".encode()

    def _send_features(self) -> None:
        features = Element(tag(ns.STREAM, "features"))
        opts = self._options
        if not self.secure and opts.tls_available and self.jid is None:
            starttls = SubElement(features, _STARTTLS)
            if opts.tls_required:
                SubElement(starttls, tag(ns.TLS, "required"))
        if self.jid is None:
            if self.secure or not opts.tls_required:
                mechanisms = SubElement(features, tag(ns.SASL, "mechanisms"))
                for name in self._mechanisms():
                    SubElement(mechanisms, tag(ns.SASL, "mechanism")).text = name
                if self._channel_binding is not None:
                    cb = SubElement(features, tag(ns.SASL_CB, "sasl-channel-binding"))
                    SubElement(
                        cb, tag(ns.SASL_CB, "channel-binding"), {"type": "tls-server-end-point"}
                    )
                if self.domain and opts.registration(self.domain):
                    SubElement(features, tag(ns.REGISTER_FEATURE, "register"))
                    features.extend(opts.preauth_features(self.domain))
            self._transition(
                Trigger.HEADER_BEFORE_TLS
                if not self.secure and opts.tls_available
                else Trigger.HEADER_BEFORE_AUTH
            )
        else:
            SubElement(features, tag(ns.BIND, "bind"))
            session = SubElement(features, tag(ns.SESSION, "session"))
            SubElement(session, tag(ns.SESSION, "optional"))
            SubElement(features, tag(SM, "sm"))
            for extra in opts.stream_features():
                features.append(extra)
            self._transition(Trigger.HEADER_AFTER_AUTH)
        self._out += serialize(features, parent_ns=ns.CLIENT, prefixes=_STREAM_PREFIX)

    def _mechanisms(self) -> list[str]:
        return mechanisms_for(tls=self.secure, channel_binding=self._channel_binding is not None)

    def _on_element(self, element: Element) -> list[StreamEvent]:
        accepts = _ACCEPTS[self.state]
        name = element.tag
        if name in _STANZAS and "stanza" in accepts:
            return self._on_stanza(element)
        if name in self._options.extension_nonzas and "extension" in accepts:
            return [NonzaReceived(element)]
        if name not in accepts:
            if (
                self.state in (State.TLS_OFFERED, State.AUTH_OFFERED)
                and self._options.tls_required
                and not self.secure
            ):
                raise _StreamError("policy-violation", "STARTTLS is required on this server")
            if self.jid is None:
                raise _StreamError("not-authorized", "authenticate first")
            raise _StreamError("unsupported-stanza-type", "unexpected element in this state")
        if name in (_SM_ENABLE, _SM_RESUME, _SM_REQUEST, _SM_ACK):
            return self._on_sm(element)
        if name == _STARTTLS:
            return self._on_starttls()
        if name == _AUTH:
            if self.state is State.TLS_OFFERED and self._options.tls_required:
                raise _StreamError("policy-violation", "STARTTLS is required on this server")
            return self._on_auth(element)
        if name == _RESPONSE:
            return self._on_sasl_response(element)
        if name == _ABORT:
            assert self._sasl is not None
            username, self._sasl, self._disabled = self._sasl.username, None, ""
            self._send_sasl("failure", condition="aborted")
            self._transition(Trigger.SASL_ABORTED)
            return [AuthFailed(username, "aborted")]
        # An <iq> before binding: registration before auth, bind/session after.
        if self.state is State.BIND_OFFERED:
            return self._on_bind_iq(element)
        return self._on_preauth_iq(element)

    # ------------------------------------------------------------------ TLS

    def _on_starttls(self) -> list[StreamEvent]:
        if self._pending:
            # Whatever followed <starttls/> was sent in the clear and would be taken as part
            # of the protected stream: the STARTTLS command injection attack.
            raise _StreamError(
                "policy-violation", "data sent between <starttls/> and the TLS handshake"
            )
        self._out += f"<proceed xmlns='{ns.TLS}'/>".encode()
        self._transition(Trigger.TLS_STARTED)
        return [TLSRequested()]

    def tls_established(self, channel_binding: bytes | None = None) -> list[StreamEvent]:
        """The TLS handshake finished; a new stream header is expected next.

        ``channel_binding`` is the ``tls-server-end-point`` data, or None to offer no
        channel-bound mechanism.
        """
        if self.state is not State.TLS_STARTING:
            raise LocalProtocolError(f"tls_established in state {self.state.value}")
        self.secure = True
        self._channel_binding = channel_binding
        self._restart()
        self._transition(Trigger.TLS_ESTABLISHED)
        return []

    def _restart(self) -> None:
        self._parser.reset()
        # What the peer sent after the restart point belonged to the old stream and is
        # dropped, but a violation in it still ends the stream.
        self._pending = [item for item in self._pending if isinstance(item, XMLPolicyError)]
        self._header_sent = False

    # ----------------------------------------------------------------- SASL

    def _on_auth(self, element: Element) -> list[StreamEvent]:
        mechanism = element.get("mechanism", "")
        try:
            initial = _b64(element.text)
        except ValueError:
            return self._sasl_failed(SASLFailure("incorrect-encoding"))
        self._sasl = SASLServer(
            mechanism, offered=self._mechanisms(), channel_binding=self._channel_binding
        )
        outcome = self._sasl.begin(initial)
        if isinstance(outcome, SASLFailure):
            return self._sasl_failed(outcome)
        self._transition(Trigger.SASL_STARTED)
        return [CredentialsNeeded(outcome, mechanism)]

    def supply_credentials(
        self, record: dict[str, Any] | None, *, disabled: str = ""
    ) -> list[StreamEvent]:
        """Answer ``CredentialsNeeded`` with the account record (None: no such account).

        ``disabled`` says why the account may not log in (RFC 6120 §6.5.1
        ``account-disabled``). The negotiation still runs to its end: only a client that
        proves it knows the password learns the account's state; any other gets the
        ``not-authorized`` an unknown account or a wrong password gets.
        """
        if self.state is not State.SASL_LOOKUP or self._sasl is None:
            raise LocalProtocolError(f"supply_credentials in state {self.state.value}")
        self._disabled = disabled
        authzid = self._sasl.requested_authzid
        authzid_ok = True
        if authzid:
            # Only the account itself: nobody may act as another account.
            assert self.domain is not None
            assert self._sasl.username is not None
            try:
                authzid_ok = JID.parse(authzid) == JID.build(self._sasl.username, self.domain)
            except InvalidJID:
                authzid_ok = False
        step = self._sasl.continue_with(record, authzid_ok=authzid_ok)
        events = self._sasl_step(step)
        return events + self._drain()

    def _on_sasl_response(self, element: Element) -> list[StreamEvent]:
        assert self._sasl is not None
        try:
            data = _b64(element.text)
        except ValueError:
            return self._sasl_failed(SASLFailure("incorrect-encoding"))
        return self._sasl_step(self._sasl.respond(data))

    def _sasl_step(self, step: SASLStep) -> list[StreamEvent]:
        if isinstance(step, SASLChallenge):
            self._send_sasl("challenge", data=step.data)
            self._transition(Trigger.SASL_CHALLENGE_SENT)
            return []
        if isinstance(step, SASLFailure):
            return self._sasl_failed(step)
        if self._disabled:
            return self._sasl_failed(SASLFailure("account-disabled", self._disabled))
        assert self.domain is not None
        try:
            account = JID.build(step.username, self.domain)
        except InvalidJID:
            return self._sasl_failed(SASLFailure("not-authorized"))
        self._send_sasl("success", data=step.data)
        self._sasl = None
        self.jid = account
        self._restart()
        self._transition(Trigger.SASL_SUCCEEDED)
        return [Authenticated(account)]

    def _sasl_failed(self, failure: SASLFailure) -> list[StreamEvent]:
        username = self._sasl.username if self._sasl is not None else None
        self._sasl = None
        self._disabled = ""
        self._auth_attempts += 1
        self._send_sasl("failure", condition=failure.condition, text=failure.text)
        events: list[StreamEvent] = [AuthFailed(username, failure.condition)]
        if self._auth_attempts >= MAX_AUTH_ATTEMPTS:
            return events + self._fail(
                "policy-violation",
                "too many failed authentication attempts on this connection; "
                "check the password, then connect again",
            )
        self._transition(Trigger.SASL_FAILED)
        return events

    def _send_sasl(
        self, name: str, *, data: bytes | None = None, condition: str = "", text: str = ""
    ) -> None:
        element = Element(tag(ns.SASL, name))
        if data:
            element.text = base64.b64encode(data).decode()
        elif data is not None and name != "success":
            # RFC 6120 §6.4.2: an empty challenge is "="; an empty <success/> stays empty.
            element.text = "="
        if condition:
            SubElement(element, tag(ns.SASL, condition))
        if text:
            SubElement(element, tag(ns.SASL, "text")).text = text
        self._out += serialize(element, parent_ns=ns.CLIENT)

    # ------------------------------------------------------- registration

    def _on_preauth_iq(self, iq: Element) -> list[StreamEvent]:
        if self.domain is None or not self._options.registration(self.domain):
            raise _StreamError("not-authorized", "authenticate first")
        if self._options.tls_required and not self.secure:
            raise _StreamError("policy-violation", "STARTTLS is required on this server")
        query = _single_child(iq)
        registering = (
            query is not None
            and query.tag == tag(ns.REGISTER, "query")
            and iq.get("type") in ("get", "set")
        )
        preauth = (
            query is not None
            and query.tag[1:].partition("}")[0] in self._options.preauth_namespaces
            and iq.get("type") == "set"
        )
        if not (registering or preauth):
            raise _StreamError(
                "not-authorized", "only in-band registration is possible before login"
            )
        if not iq.get("id"):
            raise _StreamError("invalid-xml", "an <iq> needs an id")
        for attr in ("to", "from"):
            iq.attrib.pop(attr, None)
        return [PreAuthStanza(iq)]

    # ------------------------------------------------------------- binding

    def _on_bind_iq(self, iq: Element) -> list[StreamEvent]:
        child = _single_child(iq)
        if iq.get("type") != "set" or child is None or not iq.get("id"):
            self._reply(error_reply(iq, "not-authorized", "bind a resource first"))
            return []
        if child.tag == tag(ns.SESSION, "session"):
            # RFC 3921 session establishment is a no-op since RFC 6121; answer it for old clients.
            self._reply(iq_result(iq))
            return []
        if child.tag != tag(ns.BIND, "bind"):
            self._reply(error_reply(iq, "not-authorized", "bind a resource first"))
            return []
        resource_el = child.find(tag(ns.BIND, "resource"))
        requested = (resource_el.text or "").strip() if resource_el is not None else ""
        self._bind_iq = iq
        self._transition(Trigger.BIND_REQUESTED)
        return [BindRequested(requested or None)]

    def bind_resource(self, full_jid: JID) -> list[StreamEvent]:
        """Answer ``BindRequested``: the session is now ``full_jid``."""
        if self.state is not State.BINDING or self._bind_iq is None:
            raise LocalProtocolError(f"bind_resource in state {self.state.value}")
        payload = Element(tag(ns.BIND, "bind"))
        SubElement(payload, tag(ns.BIND, "jid")).text = str(full_jid)
        iq, self._bind_iq = self._bind_iq, None
        iq.attrib.pop("from", None)
        iq.attrib.pop("to", None)
        self._reply(iq_result(iq, payload))
        self.jid = full_jid
        self._transition(Trigger.BIND_DONE)
        return self._drain()

    def refuse_bind(self, condition: str, text: str = "") -> list[StreamEvent]:
        """Answer ``BindRequested`` with a stanza error; the client may try again."""
        if self.state is not State.BINDING or self._bind_iq is None:
            raise LocalProtocolError(f"refuse_bind in state {self.state.value}")
        iq, self._bind_iq = self._bind_iq, None
        self._reply(error_reply(iq, condition, text))
        self._transition(Trigger.BIND_REFUSED)
        return self._drain()

    # ------------------------------------------------------------- stanzas

    def _on_stanza(self, stanza: Element) -> list[StreamEvent]:
        assert self.jid is not None
        sender = stanza.get("from")
        if sender is not None:
            # RFC 6120 §8.1.2.1: a client may only claim its own full or bare JID.
            try:
                claimed = JID.parse(sender)
            except InvalidJID:
                raise _StreamError("invalid-from", "the 'from' address is not valid") from None
            if claimed != self.jid and claimed != self.jid.bare:
                raise _StreamError("invalid-from", "the 'from' address is not yours")
        stanza.set("from", str(self.jid))
        if stanza.tag == _IQ:
            kind = stanza.get("type")
            if kind not in ("get", "set", "result", "error") or not stanza.get("id"):
                self._reply(
                    error_reply(stanza, "bad-request", "an iq needs an id and a valid type")
                )
                return []
            if kind in ("get", "set") and len(stanza) != 1:
                self._reply(
                    error_reply(
                        stanza, "bad-request", "an iq get or set carries exactly one payload"
                    )
                )
                return []
        if self.sm is not None:
            self.sm.received()
        return [StanzaReceived(stanza)]

    def send_stanza(self, stanza: Element) -> None:
        """Queue a stanza (or an extension nonza) for the peer."""
        if self.state is State.CLOSED:
            return
        self._out += serialize(stanza, parent_ns=ns.CLIENT)
        if self.sm is not None and stanza.tag in _STANZAS:
            self.sm.sent(stanza)
            if len(self.sm.unacked) % SM_REQUEST_EVERY == 0:
                self._out += f"<r xmlns='{SM}'/>".encode()

    # --------------------------------------------------- stream management

    def _on_sm(self, element: Element) -> list[StreamEvent]:
        name = element.tag
        if name == _SM_RESUME:
            try:
                handled = int(element.get("h", ""))
            except ValueError:
                self._sm_failed("bad-request")
                return []
            # Whatever follows waits for the answer: it belongs to the resumed session.
            self._transition(Trigger.SM_RESUME_REQUESTED)
            return [SMResumeRequested(element.get("previd", ""), handled)]
        if name == _SM_ENABLE:
            if self.sm is not None:
                self._sm_failed("unexpected-request")
                return []
            # Counting starts with the answer; what follows waits so that it is counted.
            self._transition(Trigger.SM_ENABLE_REQUESTED)
            return [SMEnableRequested(element.get("resume") in ("true", "1"))]
        if self.sm is None:
            self._sm_failed("unexpected-request")
            return []
        if name == _SM_REQUEST:
            return [AckRequested(self.sm.inbound)]
        try:
            self.sm.acknowledge(int(element.get("h", "")))
        except ValueError:
            raise _StreamError(
                "undefined-condition", "acknowledged more stanzas than were sent"
            ) from None
        return []

    def _sm_failed(self, condition: str) -> None:
        self._out += f"<failed xmlns='{SM}'><{condition} xmlns='{ns.STANZAS}'/></failed>".encode()

    def enable_sm(self, resumption_id: str | None, max_seconds: int) -> list[StreamEvent]:
        """Answer ``SMEnableRequested``: counting starts now (resumable if an id is given)."""
        if self.state is not State.SM_ENABLING:
            raise LocalProtocolError(f"enable_sm in state {self.state.value}")
        self.sm = StreamManagement(resumption_id)
        self._transition(Trigger.SM_ENABLED)
        resume = (
            f" id='{_escape_attr(resumption_id)}' resume='true' max='{max_seconds}'"
            if resumption_id
            else ""
        )
        self._out += f"<enabled xmlns='{SM}'{resume}/>".encode()
        return self._drain()

    def request_ack(self) -> None:
        """Ask the client to acknowledge what it has received (XEP-0198 ``<r/>``)."""
        if self.sm is not None and self.state is not State.CLOSED:
            self._out += f"<r xmlns='{SM}'/>".encode()

    def send_ack(self, handled: int) -> None:
        """Answer ``AckRequested`` with the count it carried."""
        if self.state is not State.CLOSED:
            self._out += f"<a xmlns='{SM}' h='{handled}'/>".encode()

    def resume_sm(self, full_jid: JID, state: StreamManagement, handled: int) -> list[StreamEvent]:
        """Answer ``SMResumeRequested``: continue the parked session ``full_jid``.

        Stanzas the client had not acknowledged (per ``handled``) are sent again.
        """
        if self.state is not State.SM_RESUMING:
            raise LocalProtocolError(f"resume_sm in state {self.state.value}")
        try:
            state.acknowledge(handled)
        except ValueError:
            return self._fail("undefined-condition", "acknowledged more stanzas than were sent")
        self.jid = full_jid
        self.sm = state
        self._transition(Trigger.SM_RESUMED)
        self._out += f"<resumed xmlns='{SM}' h='{state.inbound}' previd='{_escape_attr(state.id or '')}'/>".encode()
        for stanza in state.unacked:
            self._out += serialize(stanza, parent_ns=ns.CLIENT)
        return self._drain()

    def refuse_resume(self) -> list[StreamEvent]:
        """Answer ``SMResumeRequested`` when there is no such session to resume."""
        if self.state is not State.SM_RESUMING:
            raise LocalProtocolError(f"refuse_resume in state {self.state.value}")
        self._sm_failed("item-not-found")
        self._transition(Trigger.SM_RESUME_REFUSED)
        return self._drain()

    def send_raw(self, data: bytes) -> None:
        """Queue bytes that are already serialised XML (a routed stanza's cached form)."""
        if self.state is not State.CLOSED:
            self._out += data

    def send_keepalive(self) -> None:
        """Queue a whitespace keepalive (RFC 6120 §4.6.1)."""
        if self.state is not State.CLOSED:
            self._out += b" "

    def _reply(self, stanza: Element | None) -> None:
        if stanza is not None:
            self.send_stanza(stanza)

    # -------------------------------------------------------------- closing

    def _on_peer_close(self) -> list[StreamEvent]:
        self._out += b"</stream:stream>"
        self._transition(Trigger.CLOSE)
        return [StreamClosed(None, by_peer=True)]

    def close(self, condition: str | None = None, text: str = "") -> list[StreamEvent]:
        """Close the stream, with a ``<stream:error>`` if ``condition`` is given."""
        # Through _fail even without an error: a stream still waiting for the peer's
        # header has not sent its own, and "</stream:stream>" alone is not XML.
        return self._fail(condition, text)

    def _fail(self, condition: str | None, text: str) -> list[StreamEvent]:
        if self.state is State.CLOSED:
            return []
        self._send_header(None)
        if condition:
            error = Element(tag(ns.STREAM, "error"))
            SubElement(error, tag(ns.STREAMS, condition))
            if text:
                SubElement(error, tag(ns.STREAMS, "text")).text = text
            self._out += serialize(error, parent_ns=ns.CLIENT, prefixes=_STREAM_PREFIX)
        return self._end(condition)

    def _end(self, condition: str | None) -> list[StreamEvent]:
        self._out += b"</stream:stream>"
        self._transition(Trigger.CLOSE)
        self._pending.clear()
        return [StreamClosed(condition, by_peer=False)]

    # --------------------------------------------------------------- output

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        out = bytes(self._out)
        self._out.clear()
        return out


def _b64(text: str | None) -> bytes:
    text = (text or "").strip()
    if text in ("", "="):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None


def _single_child(element: Element) -> Element | None:
    return element[0] if len(element) == 1 else None


def _escape_attr(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
    )
