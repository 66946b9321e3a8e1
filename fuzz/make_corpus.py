"""Write the seed corpora under fuzz/corpus/<target>/: real inputs for every harness.

    .venv/bin/python fuzz/make_corpus.py            # rewrite the seeds from fixed material
    .venv/bin/python fuzz/make_corpus.py --capture  # also record a real slixmpp session

Seeds are real: the bytes a client sends in a whole session, messages of a real SCRAM
exchange (scramp's client), the spec vectors' sealed messages, keys and sealed key. The
``--capture`` run starts the Ironwall server on loopback, logs a real slixmpp client in
and records what the server's stream core received, chunk by chunk; that recording is
kept in fuzz/corpus/stream/slixmpp-session and reused on later runs. Everything else is
made in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
from pathlib import Path

import scramp
from fuzz_common import CORPUS_DIR, REPO_DIR, SEPARATOR, vector_message, vectors

PASSWORD = "correct horse battery"  # noqa: S105 - the test account's
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
CB = bytes(range(32))
HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' "
    b"xml:lang='en'>"
)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
BIND = (
    b"<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    b"<resource>phone</resource></bind></iq>"
)
SESSION = b"<iq type='set' id='sess-1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"
STANZAS = [
    b"<presence><priority>5</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
    b"node='https://ironwall.example' ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>",
    b"<iq type='get' id='roster-1'><query xmlns='jabber:iq:roster'/></iq>",
    b"<message to='bob@localhost' type='chat' id='m1' xml:lang='fr'>"
    b"<body>Bonjour &amp; &lt;salut&gt; \xc3\xa9t\xc3\xa9 \xe2\x98\x83</body>"
    b"<openpgp xmlns='urn:xmpp:openpgp:0'>hQEMA0x1</openpgp>"
    b"<encryption xmlns='urn:xmpp:eme:0' namespace='urn:xmpp:openpgp:0'/>"
    b"<store xmlns='urn:xmpp:hints'/></message>",
    b"<iq type='get' id='ping-1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
]
END = b"</stream:stream>"
# Option bytes of fuzz_stream.py and fuzz_sasl.py.
TLS_OPTIONAL, REGISTRATION, REFUSE_BIND, CSI = 1, 4, 8, 32
S_TLS, S_BINDING, S_NO_ACCOUNT, S_AUTHZID_REFUSED, S_REAL_CLIENT, S_OTHER_CHANNEL = (
    1,
    2,
    4,
    8,
    16,
    64,
)


def _auth(mechanism: str, payload: bytes) -> bytes:
    data = base64.b64encode(payload).decode() or "="
    return f"<auth xmlns='{SASL}' mechanism='{mechanism}'>{data}</auth>".encode()


def _response(payload: bytes) -> bytes:
    return f"<response xmlns='{SASL}'>{base64.b64encode(payload).decode()}</response>".encode()


def _plain(password: str = PASSWORD) -> bytes:
    return _auth("PLAIN", f"\x00alice\x00{password}".encode())


def _scram_messages(mechanism: str, binding: bytes | None) -> tuple[bytes, bytes]:
    """A real scramp client's first and final messages against a real scramp server."""
    cb = None if binding is None else ("tls-server-end-point", binding)
    # Fixed nonces and salt, so that the seeds come out the same on every run.
    client = scramp.ScramClient(
        [mechanism], "alice", PASSWORD, channel_binding=cb, c_nonce="rOprNGfwEbeRWgbNEkqO"
    )
    family = mechanism.removesuffix("-PLUS")
    info = scramp.ScramMechanism(family).make_auth_info(
        PASSWORD, iteration_count=4096, salt=b"fixed salt 16 b."
    )
    server = scramp.ScramMechanism(mechanism).make_server(
        lambda _name: info, channel_binding=cb, s_nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    )
    first = client.get_client_first()
    server.set_client_first(first)
    client.set_server_first(server.get_server_first())
    final = client.get_client_final()
    server.set_client_final(final)
    return first.encode(), final.encode()


def _session(
    auth: list[bytes], *, tls: bool = True, binds: int = 1, extra: tuple[bytes, ...] = ()
) -> list[bytes]:
    chunks = [HEADER]
    if tls:
        chunks += [STARTTLS, HEADER]
    return [*chunks, *auth, HEADER, *[BIND] * binds, SESSION, *STANZAS, *extra, END]


def stream_seeds(captured: list[bytes] | None) -> dict[str, bytes]:
    """Whole client sessions for fuzz_stream.py: option byte, then chunks."""
    first, final = _scram_messages("SCRAM-SHA-256", None)
    plus_first, plus_final = _scram_messages("SCRAM-SHA-256-PLUS", CB)
    register = (
        b"<iq type='get' id='reg1'><query xmlns='jabber:iq:register'/></iq>",
        b"<iq type='set' id='reg2'><query xmlns='jabber:iq:register'>"
        b"<username>carol</username><password>s3cret pass phrase</password></query></iq>",
    )
    sm = (
        b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>",
        b"<message to='alice@localhost'><body>to myself</body></message>",
        b"<r xmlns='urn:xmpp:sm:3'/>",
        b"<a xmlns='urn:xmpp:sm:3' h='1'/>",
    )
    resume = [
        HEADER,
        STARTTLS,
        HEADER,
        _plain(),
        HEADER,
        b"<resume xmlns='urn:xmpp:sm:3' previd='parked' h='1'/>",
        *STANZAS,
        b"<r xmlns='urn:xmpp:sm:3'/>",
        b"<a xmlns='urn:xmpp:sm:3' h='2'/>",
        END,
    ]
    csi = (b"<inactive xmlns='urn:xmpp:csi:0'/>", b"<active xmlns='urn:xmpp:csi:0'/>")
    sessions: dict[str, tuple[int, list[bytes]]] = {
        "plain-session": (0, _session([_plain()])),
        "plain-session-without-tls": (TLS_OPTIONAL, _session([_plain()], tls=False)),
        "scram-sha-256-session": (0, _session([_auth("SCRAM-SHA-256", first), _response(final)])),
        "scram-plus-session": (
            0,
            _session([_auth("SCRAM-SHA-256-PLUS", plus_first), _response(plus_final)]),
        ),
        "wrong-passwords": (0, _session([_plain("wrong")] * 3)),
        "aborted-scram": (
            0,
            _session([_auth("SCRAM-SHA-1", first), b"<abort xmlns='" + SASL.encode() + b"'/>"]),
        ),
        "registration": (TLS_OPTIONAL | REGISTRATION, [HEADER, *register, END]),
        "refused-bind": (REFUSE_BIND, _session([_plain()], binds=2)),
        "stream-management": (0, _session([_plain()], extra=sm)),
        "stream-resumption": (0, resume),
        "client-state-indication": (CSI, _session([_plain()], extra=csi)),
    }
    seeds = {
        name: bytes([option]) + SEPARATOR.join(chunks)
        for name, (option, chunks) in sessions.items()
    }
    # The same session in one piece (STARTTLS command injection) and byte by byte.
    seeds["plain-session-one-chunk"] = b"\x00" + b"".join(sessions["plain-session"][1])
    whole = b"".join(sessions["plain-session-without-tls"][1][:3])
    seeds["header-byte-by-byte"] = bytes([TLS_OPTIONAL]) + SEPARATOR.join(
        whole[i : i + 1] for i in range(len(whole))
    )
    if captured:
        seeds["slixmpp-session"] = b"\x00" + SEPARATOR.join(captured)
        # The same client bytes with PLAIN instead of SCRAM, whose nonce cannot be replayed.
        plain = [_plain() if chunk.startswith(b"<auth") else chunk for chunk in captured]
        plain = [chunk for chunk in plain if not chunk.startswith(b"<response")]
        seeds["slixmpp-session-plain"] = b"\x00" + SEPARATOR.join(plain)
    return seeds


def xml_seeds(stream: dict[str, bytes]) -> dict[str, bytes]:
    """fuzz_xml.py reads stream bytes: 0xFF splits chunks, 0xFE restarts the stream."""
    seeds = {name: data[1:] for name, data in stream.items()}
    seeds["restarts"] = b"\xfe".join([HEADER + STARTTLS, HEADER + _plain(), HEADER + BIND + END])
    seeds["namespaces-and-prefixes"] = (
        HEADER + b"<message xmlns:x='urn:x' x:a='1' xml:lang='de'><x:y xmlns='urn:z'>"
        b"t<b/>tail</x:y><body>a\r\nb&#13;&#x9;</body></message>"
    )
    seeds["signcrypt-document"] = _signcrypt_plaintext()
    return seeds


def _signcrypt_plaintext() -> bytes:
    from ironwall.e2e.signcrypt import Signcrypt, build_signcrypt, parse_stamp

    content = Signcrypt(
        ("bob@example.org", "carol@example.org"),
        parse_stamp("2026-11-26T12:00:00Z"),
        "Hello Bob! ünïcode ☃ <&>\r\n",
        "b7a1e0c4-5d2f-4c1b-9a43-0f7e2d1c9b88",
    )
    return build_signcrypt(content, rpad="x7Gq")


def sasl_seeds() -> dict[str, bytes]:
    """Option byte, mechanism, initial response, responses (0xFF between fields)."""
    first, final = _scram_messages("SCRAM-SHA-256", None)
    first1, final1 = _scram_messages("SCRAM-SHA-1", None)
    plus_first, plus_final = _scram_messages("SCRAM-SHA-256-PLUS", CB)

    def seed(options: int, mechanism: str, *fields: bytes) -> bytes:
        return bytes([options]) + SEPARATOR.join([mechanism.encode(), *fields])

    tls_cb = S_TLS | S_BINDING
    return {
        "scram-sha-256": seed(S_TLS, "SCRAM-SHA-256", first, final),
        "scram-sha-1": seed(0, "SCRAM-SHA-1", first1, final1),
        "scram-plus": seed(tls_cb, "SCRAM-SHA-256-PLUS", plus_first, plus_final),
        "plain": seed(S_TLS, "PLAIN", f"\x00alice\x00{PASSWORD}".encode()),
        "plain-authzid": seed(S_TLS, "PLAIN", f"alice@localhost\x00alice\x00{PASSWORD}".encode()),
        "real-client-scram-plus": seed(tls_cb | S_REAL_CLIENT, "SCRAM-SHA-256-PLUS", b"", b"x"),
        "real-client-across-another-channel": seed(
            tls_cb | S_REAL_CLIENT | S_OTHER_CHANNEL, "SCRAM-SHA-256-PLUS", b""
        ),
        "real-client-scram-sha-1": seed(S_REAL_CLIENT, "SCRAM-SHA-1", b"alice\x00wrong"),
        "real-client-unknown": seed(S_TLS | S_REAL_CLIENT | S_NO_ACCOUNT, "SCRAM-SHA-256", b""),
        "authzid-refused": seed(S_TLS | S_AUTHZID_REFUSED, "SCRAM-SHA-256", b"n,a=bob,n=alice,r=x"),
    }


def e2e_open_seeds() -> dict[str, bytes]:
    """Option byte (configuration, binary mode), then each vector's OpenPGP message."""
    from fuzz_e2e_open import TEXT_MODE, option_for

    seeds = {}
    for vector in vectors()["messages"]:
        config = (
            vector["reader"],
            vector["outer_from"],
            vector["outer_to"],
            tuple(vector["sender_keys"]),
        )
        name = "".join(c if c.isalnum() else "-" for c in vector["name"])
        seeds[name] = bytes([option_for(config)]) + vector_message(vector["name"])
        if vector is vectors()["messages"][0]:
            text = vector["text"].encode()
            seeds["as-text-" + name] = bytes([option_for(config) | TEXT_MODE]) + text
    return seeds


def misc_seeds() -> dict[str, dict[str, bytes]]:
    """Seeds of the small targets: JIDs, signcrypt content, sealed keys, public keys."""
    jids = [
        "alice@example.org",
        "Alice@Example.ORG/Phone",
        "juliet@[::1]/balcony",
        "example.org.",
        "\u00e9l\u00e8ve@\u00e9cole.example/\u2603 snow",
        "a@b/c/d@e",
        "@example.org",
        "x" * 1024 + "@example.org",
    ]
    blob = base64.b64decode(vectors()["sealed_keys"][0]["blob"])
    keys = {
        jid.split("@")[0]: base64.b64decode(entry["public_key"])
        for jid, entry in vectors()["identities"].items()
    }
    keys["alice-armored"] = _armored(keys["alice"])
    return {
        "jid": {f"jid-{n}": jid.encode() for n, jid in enumerate(jids)},
        "signcrypt": {
            "alice-to-bob-and-carol": _signcrypt_plaintext(),
            "go-sendxmpp-style": (
                b"<signcrypt xmlns='urn:xmpp:openpgp:0'><to jid='alice@example.org'/>"
                b"<time stamp='2026-11-26T12:00:00.123456+01:00'/><rpad>abc</rpad><payload>"
                b"<body xmlns='jabber:client'>Hello from go-sendxmpp</body></payload></signcrypt>"
            ),
        },
        "secretkey": {
            "passphrase": b"\x00" + blob,
            "recovery-code": b"\x01" + blob,
            "wrong-passphrase": b"\x02" + blob,
        },
        "pubkey": keys,
    }


def _armored(data: bytes) -> bytes:
    body = base64.encodebytes(data).decode()
    return f"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{body}-----END PGP PUBLIC KEY BLOCK-----\n".encode()


async def _capture_slixmpp(workdir: Path) -> list[bytes]:
    """Log a real slixmpp client in to the real server on loopback; what the stream got."""
    sys.path.insert(0, str(REPO_DIR / "tests"))
    import slixmpp

    from ironwall.proto.events import StreamEvent
    from ironwall.proto.stream import ServerStream
    from support.client import XMPPClient
    from support.server import running_server, server_port
    from support.users import add_users

    # Per stream: slixmpp may first try direct TLS on another connection, which fails.
    streams: dict[int, list[bytes]] = {}
    receive = ServerStream.receive_data

    def recording(self: ServerStream, data: bytes) -> list[StreamEvent]:
        streams.setdefault(id(self), []).append(data)
        return receive(self, data)

    ServerStream.receive_data = recording  # type: ignore[method-assign]
    try:
        async with running_server(workdir) as server:
            await add_users(server, "alice", "bob")
            client = XMPPClient("alice@localhost/phone", PASSWORD)
            await client.start(server_port(server))
            client.send_message(
                mto=slixmpp.JID("bob@localhost"), mbody="Hello Bob! ☃ <&>", mtype="chat"
            )
            client.disconnect()
            await asyncio.wait_for(client.disconnected_event.wait(), 10)
    finally:
        ServerStream.receive_data = receive  # type: ignore[method-assign]
    (chunks,) = [chunks for chunks in streams.values() if chunks[0].startswith(b"<")]
    return chunks


def _write(target: str, seeds: dict[str, bytes]) -> None:
    folder = CORPUS_DIR / target
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    print(f"{target}: {len(seeds)} seeds")


def main() -> None:
    """Write every target's seeds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", action="store_true", help="record a real slixmpp session")
    args = parser.parse_args()
    recorded = CORPUS_DIR / "stream" / "slixmpp-session"
    captured: list[bytes] | None = None
    if args.capture:
        import tempfile

        with tempfile.TemporaryDirectory() as workdir:
            captured = asyncio.run(_capture_slixmpp(Path(workdir)))
    elif recorded.exists():
        captured = recorded.read_bytes()[1:].split(SEPARATOR)
    stream = stream_seeds(captured)
    _write("stream", stream)
    _write("xml", xml_seeds(stream))
    _write("sasl", sasl_seeds())
    _write("e2e_open", e2e_open_seeds())
    for target, seeds in misc_seeds().items():
        _write(target, seeds)


if __name__ == "__main__":
    main()
