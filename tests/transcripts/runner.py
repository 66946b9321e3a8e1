"""Play an XML transcript of a client-server conversation against the real server.

The idea is Prosody's scansion: a protocol test reads as a conversation, "Alice sends
this, Bob receives that". A transcript is one XML file::

    <transcript title="Alice says hello">
      <client name="alice" resource="phone"/>
      <client name="bob" ignore="presence"/>
      <contacts a="alice" b="bob"/>
      <connect name="alice"/>
      <connect name="bob"/>
      <send from="alice">
        <message to="${bob}" type="chat" id="m1"><body>hello</body></message>
      </send>
      <expect to="bob">
        <message from="${alice.full}" type="chat" id="m1">
          <body>hello</body>
          <stanza-id xmlns="urn:xmpp:sid:0" by="${bob}" id="{$sid}"/>
        </message>
      </expect>
      <expect-none to="alice" for="0.3"/>
    </transcript>

Declarations (anywhere, usually first):

``<client name user? resource? password? create? ignore?/>``
    A connection the transcript drives, as account ``user@localhost`` (``user`` defaults
    to ``name``; several clients may share one user, as devices). The runner creates
    the account unless ``create="false"`` (for in-band registration). ``ignore`` lists
    kinds of top-level elements by local name (``"presence"``, ``"presence r"``) that
    this client may receive without the transcript expecting them (below).

Steps, played in order; each is bounded in time:

``<contacts a b/>``
    Make the two clients' users mutual contacts (roster ``both``), server-side.
``<connect name until?/>``
    Connect over TCP with STARTTLS (the test CA), then log in with SCRAM-SHA-256 and
    bind the declared resource. ``until="tls"`` stops after STARTTLS (to register
    in-band), ``until="auth"`` after the login (to resume an XEP-0198 session).
``<disconnect name drop?/>``
    Close the stream with ``</stream:stream>`` and wait until the server closed the
    connection, so the server has ended the session before the next step;
    ``drop="true"`` just drops the TCP connection, as a lost network does.
``<send from>`` + one element
    Send it as is (any top-level element: stanzas, XEP-0198 ``<enable/>``, ``<r/>``).
``<expect to timeout?>`` + one element
    The client's next received element must match within ``timeout`` seconds (5).
``<expect-none to for?/>``
    Nothing (but ignored kinds) arrives for that client within ``for`` seconds (0.3).

Elements without a namespace are in the namespace of their parent, and a stanza's
parent is ``jabber:client``, so stanzas are written without ``xmlns``.

Placeholders, in attribute values and text of sent and expected elements:
``${alice}`` is client alice's bare JID, ``${alice.full}`` its full JID (the one the
server bound), ``${domain}`` the server's domain, and ``{$name}`` a value captured by an
earlier expectation.

Matching: an expected element matches a received one when the qualified names are the
same, every expected attribute is there with the same value, the text is the same
(whitespace around it aside; no expected text matches any), and the expected children
match received children in order, each by the first later child of that name that
matches (so received attributes and children the expectation does not mention are
allowed). Two values are special when they are an attribute's or text's whole value:
``{any}`` matches any value (an attribute must still be present), ``{$name}`` binds
``name`` to the value the first time and must equal it afterwards.

Order is strict per client: each expectation takes the client's next received
element. One that does not match fails the transcript, unless its kind is in the
client's ``ignore`` list: then it is skipped and the next one is tried. What a client
receives after its last expectation is not checked; say so with ``<expect-none/>``.

A failure raises ``TranscriptFailure`` naming the file and line of the step, with the
expected XML and what arrived instead (or that nothing did).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from ironwall.server.app import Server
from support.raw import RawClient, ServerClosed
from support.server import server_port
from support.users import PASSWORD, add_users, befriend

__all__ = ["Step", "Transcript", "TranscriptFailure", "load", "match", "play", "to_xml"]

#: Default bound on each expectation's wait, in seconds.
TIMEOUT = 5.0
#: Default length of an ``<expect-none/>``, in seconds.
QUIET = 0.3
CLIENT_NS = "jabber:client"
_BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_DOMAIN = "localhost"
_PLACEHOLDER = re.compile(r"\$\{([\w.-]+)\}|\{\$(\w+)\}")
_CAPTURE = re.compile(r"\{\$(\w+)\}")
_ANY = "{any}"
#: Attributes each transcript element may have: a typo must not silently change a test.
_ATTRIBUTES = {
    "client": {"name", "user", "resource", "password", "create", "ignore"},
    "contacts": {"a", "b"},
    "connect": {"name", "until"},
    "disconnect": {"name", "drop"},
    "send": {"from"},
    "expect": {"to", "timeout"},
    "expect-none": {"to", "for"},
}
_WITH_STANZA = {"send", "expect"}


class TranscriptFailure(AssertionError):
    """The server did not behave as a transcript says, or the transcript is malformed."""


@dataclass(frozen=True)
class Step:
    """One element of a transcript and the line it starts on."""

    element: Element
    line: int

    @property
    def kind(self) -> str:
        """The step's element name (``send``, ``expect``, ...)."""
        return self.element.tag

    @property
    def stanza(self) -> Element:
        """The one element inside a ``send`` or ``expect``."""
        return self.element[0]


@dataclass(frozen=True)
class Transcript:
    """A parsed transcript file."""

    path: Path
    title: str
    steps: tuple[Step, ...]


class _LineParser:
    """Builds the element tree of a file and notes the line each of the root's children
    starts on (ElementTree's own parser does not tell where elements are)."""

    def __init__(self) -> None:
        self._expat = expat.ParserCreate(namespace_separator="}")
        self._expat.StartElementHandler = self._start
        self._expat.EndElementHandler = self._end
        self._builder = TreeBuilder()
        self._expat.CharacterDataHandler = self._builder.data
        self._depth = 0
        self.lines: list[int] = []

    def parse(self, data: bytes) -> Element:
        self._expat.Parse(data, True)
        return self._builder.close()

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if self._depth == 2:
            self.lines.append(self._expat.CurrentLineNumber)
        self._builder.start(_clark(name), {_clark(key): value for key, value in attrs.items()})

    def _end(self, name: str) -> None:
        self._depth -= 1
        self._builder.end(_clark(name))


def _clark(name: str) -> str:
    """expat's ``namespace}local`` as ElementTree's ``{namespace}local``."""
    return "{" + name if "}" in name else name


def load(path: Path) -> Transcript:
    """Parse and check a transcript file (see the module docstring)."""
    parser = _LineParser()
    try:
        root = parser.parse(path.read_bytes())
    except expat.ExpatError as exc:
        raise TranscriptFailure(f"{path}: not well-formed XML: {exc}") from None
    if root.tag != "transcript" or set(root.attrib) - {"title"}:
        raise TranscriptFailure(f"{path}: the root element must be <transcript title?>")
    steps = []
    for element, line in zip(root, parser.lines, strict=True):
        where = f"{path}:{line}"
        allowed = _ATTRIBUTES.get(element.tag)
        if allowed is None:
            raise TranscriptFailure(f"{where}: unknown step <{element.tag}>")
        if unknown := set(element.attrib) - allowed:
            raise TranscriptFailure(f"{where}: <{element.tag}> has no attribute {sorted(unknown)}")
        if element.tag in _WITH_STANZA:
            if len(element) != 1:
                raise TranscriptFailure(f"{where}: <{element.tag}> holds exactly one element")
            _qualify(element[0], CLIENT_NS)
        elif len(element):
            raise TranscriptFailure(f"{where}: <{element.tag}> holds no elements")
        steps.append(Step(element, line))
    return Transcript(path, root.get("title", path.stem), tuple(steps))


def _qualify(element: Element, parent_ns: str) -> None:
    """Put unqualified elements in their parent's namespace; drop indentation."""
    if not element.tag.startswith("{"):
        element.tag = f"{{{parent_ns}}}{element.tag}"
    if element.text is not None and not element.text.strip():
        element.text = None
    element.tail = None
    for child in element:
        _qualify(child, _namespace(element.tag))


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0]


def to_xml(element: Element, parent_ns: str = CLIENT_NS) -> str:
    """``element`` as XML with a default ``xmlns`` where the namespace changes.

    Both for sending (what a client would write) and for failure messages, where the
    prefixes ``ElementTree`` invents (``ns0:``) would be hard to read.
    """
    namespace, _, name = element.tag[1:].partition("}")
    parts = [f"<{name}"]
    if namespace != parent_ns:
        parts.append(f" xmlns={quoteattr(namespace)}")
    for key, value in element.attrib.items():
        key = key.replace(f"{{{_XML_NS}}}", "xml:")
        parts.append(f" {key}={quoteattr(value)}")
    inner = escape(element.text or "") + "".join(to_xml(child, namespace) for child in element)
    parts.append(f">{inner}</{name}>" if inner else "/>")
    return "".join(parts)


def match(expected: Element, received: Element, bindings: dict[str, str]) -> bool:
    """True if ``received`` matches ``expected`` (module docstring); captures go to ``bindings``.

    ``bindings`` is changed only when the whole element matches.
    """
    trial = dict(bindings)
    if not _match(expected, received, trial):
        return False
    bindings.update(trial)
    return True


def _match(expected: Element, received: Element, bindings: dict[str, str]) -> bool:
    if expected.tag != received.tag:
        return False
    for key, value in expected.attrib.items():
        if key not in received.attrib or not _value(value, received.attrib[key], bindings):
            return False
    if expected.text is not None and not _value(
        expected.text.strip(), (received.text or "").strip(), bindings
    ):
        return False
    candidates: Iterator[Element] = iter(received)
    for child in expected:
        for candidate in candidates:
            trial = dict(bindings)
            if _match(child, candidate, trial):
                bindings.update(trial)
                break
        else:
            return False
    return True


def _value(expected: str, received: str, bindings: dict[str, str]) -> bool:
    if expected == _ANY:
        return True
    if capture := _CAPTURE.fullmatch(expected):
        return bindings.setdefault(capture.group(1), received) == received
    return expected == received


@dataclass
class _Client:
    """A declared client and its connection, if connected."""

    name: str
    user: str
    resource: str | None
    password: str
    ignore: frozenset[str]
    connection: RawClient | None = None
    jid: str | None = None

    @property
    def bare(self) -> str:
        return f"{self.user}@{_DOMAIN}"


@dataclass
class _Player:
    """Plays one transcript's steps against a running server."""

    transcript: Transcript
    server: Server
    timeout: float
    clients: dict[str, _Client] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)

    async def play(self) -> None:
        try:
            for step in self.transcript.steps:
                await self._play(step)
        finally:
            for client in self.clients.values():
                if client.connection is not None:
                    await client.connection.close()

    def _fail(self, step: Step, message: str) -> TranscriptFailure:
        return TranscriptFailure(
            f"{self.transcript.path}:{step.line}: <{step.kind}> in "
            f"{self.transcript.title!r}: {message}"
        )

    async def _play(self, step: Step) -> None:
        attrs = step.element.attrib
        if step.kind == "client":
            await self._declare(step)
        elif step.kind == "contacts":
            a, b = self._client(step, attrs.get("a")), self._client(step, attrs.get("b"))
            await befriend(self.server, a.bare, b.bare)
        elif step.kind == "connect":
            await self._connect(step, self._client(step, attrs.get("name")))
        elif step.kind == "disconnect":
            await self._disconnect(step, self._client(step, attrs.get("name")))
        elif step.kind == "send":
            connection = self._connection(step, attrs.get("from"))
            stanza = self._substitute(step, step.stanza, captures=True)
            await connection.send(to_xml(stanza).encode())
        elif step.kind == "expect":
            await self._expect(step, self._client(step, attrs.get("to")))
        else:
            await self._expect_none(step, self._client(step, attrs.get("to")))

    async def _declare(self, step: Step) -> None:
        attrs = step.element.attrib
        name = attrs.get("name")
        if not name or name in self.clients:
            raise self._fail(step, "a client needs a name of its own")
        client = _Client(
            name=name,
            user=attrs.get("user", name),
            resource=attrs.get("resource"),
            password=attrs.get("password", PASSWORD),
            ignore=frozenset(attrs.get("ignore", "").split()),
        )
        known_users = {other.user for other in self.clients.values()}
        if attrs.get("create", "true") == "true" and client.user not in known_users:
            await add_users(self.server, client.user, password=client.password)
        self.clients[name] = client

    async def _connect(self, step: Step, client: _Client) -> None:
        if client.connection is not None:
            raise self._fail(step, f"{client.name} is already connected")
        until = step.element.get("until", "bind")
        if until not in ("tls", "auth", "bind"):
            raise self._fail(step, f'until is "tls", "auth" or "bind", not {until!r}')
        connection = await RawClient.connect(server_port(self.server))
        client.connection = connection
        await connection.starttls()
        await connection.open_stream()
        if until == "tls":
            return
        outcome = await connection.authenticate(client.user, client.password)
        if outcome != "success":
            raise self._fail(step, f"{client.name} could not log in: {outcome}")
        if until == "auth":
            return
        reply = await connection.bind(client.resource)
        client.jid = reply.findtext(f"{{{_BIND_NS}}}bind/{{{_BIND_NS}}}jid")
        if reply.get("type") != "result" or client.jid is None:
            raise self._fail(step, f"{client.name} could not bind: {to_xml(reply)}")

    async def _disconnect(self, step: Step, client: _Client) -> None:
        connection = self._connection(step, client.name)
        if step.element.get("drop", "false") != "true":
            await connection.send(b"</stream:stream>")
            try:
                await connection.wait_closed(self.timeout)
            except TimeoutError:
                raise self._fail(step, "the server did not close the connection") from None
        await connection.close()
        client.connection = None
        client.jid = None

    async def _expect(self, step: Step, client: _Client) -> None:
        connection = self._connection(step, client.name)
        expected = self._substitute(step, step.stanza, captures=False)
        wait = float(step.element.get("timeout", self.timeout))
        deadline = time.monotonic() + wait
        skipped: list[Element] = []
        while True:
            try:
                received = await connection.next_element(max(0.0, deadline - time.monotonic()))
            except (TimeoutError, ServerClosed) as exc:
                why = (
                    "the server closed the stream"
                    if isinstance(exc, ServerClosed)
                    else (f"nothing arrived within {wait:g} s")
                )
                raise self._fail(step, self._report(expected, why, skipped)) from None
            if match(expected, received, self.bindings):
                return
            if _local(received.tag) not in client.ignore:
                raise self._fail(
                    step, self._report(expected, f"received:\n  {to_xml(received)}", skipped)
                )
            skipped.append(received)

    async def _expect_none(self, step: Step, client: _Client) -> None:
        connection = self._connection(step, client.name)
        deadline = time.monotonic() + float(step.element.get("for", QUIET))
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                received = await connection.next_element(remaining)
            except TimeoutError:
                return
            except ServerClosed:
                raise self._fail(
                    step, "expected nothing, but the server closed the stream"
                ) from None
            if _local(received.tag) not in client.ignore:
                raise self._fail(step, f"expected nothing, received:\n  {to_xml(received)}")

    def _report(self, expected: Element, why: str, skipped: list[Element]) -> str:
        lines = [f"expected, for {len(skipped) + 1}. element or later:" if skipped else "expected:"]
        lines.append(f"  {to_xml(expected)}")
        lines.append(why)
        lines += [f"  skipped (ignored kind): {to_xml(element)}" for element in skipped]
        return "\n".join(lines)

    def _client(self, step: Step, name: str | None) -> _Client:
        if name not in self.clients:
            raise self._fail(step, f"no client named {name!r} was declared")
        return self.clients[name]

    def _connection(self, step: Step, name: str | None) -> RawClient:
        client = self._client(step, name)
        if client.connection is None:
            raise self._fail(step, f"{client.name} is not connected")
        return client.connection

    def _substitute(self, step: Step, element: Element, *, captures: bool) -> Element:
        """A copy of ``element`` with placeholders replaced.

        Captures (``{$name}``) are replaced only in sent elements: in an expected one a
        whole-value capture is matched by ``match``, which binds it on first use.
        """
        copy = Element(element.tag)
        for key, value in element.attrib.items():
            copy.set(key, self._text(step, value, captures))
        if element.text is not None:
            copy.text = self._text(step, element.text, captures)
        copy.extend(self._substitute(step, child, captures=captures) for child in element)
        return copy

    def _text(self, step: Step, value: str, captures: bool) -> str:
        def replace(placeholder: re.Match[str]) -> str:
            jid, capture = placeholder.groups()
            if capture is not None:
                if not captures:
                    return placeholder.group(0)
                if capture not in self.bindings:
                    raise self._fail(step, f"{{${capture}}} was not captured before")
                return self.bindings[capture]
            return self._jid(step, jid)

        return _PLACEHOLDER.sub(replace, value)

    def _jid(self, step: Step, placeholder: str) -> str:
        if placeholder == "domain":
            return _DOMAIN
        name, _, part = placeholder.partition(".")
        client = self._client(step, name)
        if part == "":
            return client.bare
        if part != "full":
            raise self._fail(step, f"${{{placeholder}}}: say ${{{name}}} or ${{{name}.full}}")
        if client.jid is not None:
            return client.jid
        if client.resource is None:
            raise self._fail(step, f"${{{placeholder}}}: {name} has no resource bound yet")
        return f"{client.bare}/{client.resource}"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


async def play(path: Path, server: Server, *, timeout: float = TIMEOUT) -> None:
    """Play the transcript at ``path`` against ``server``; TranscriptFailure if it differs."""
    await _Player(load(path), server, timeout).play()
