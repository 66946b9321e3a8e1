"""Drive go-sendxmpp (Debian package) as an XMPP peer: send, listen, OX keys.

Behaviour of go-sendxmpp 0.5.6 that this module relies on or works around:

- TLS is verified for real: Go reads the trust store from ``SSL_CERT_FILE``, so it
  is pointed at the test CA instead of passing ``-n`` (skip verification).
- The message is read from stdin and one trailing newline is stripped, so ``send``
  appends one: the body that arrives is exactly the text given.
- ``-l`` prints each message on stdout as ``<UTC time>Z [OX] <bare jid>: <body>``
  (``[OX] `` only for decrypted OX messages) followed by a newline; a body with
  newlines spills onto the following lines.
- ``-d`` writes every stanza it receives (not those it sends) to stderr and leaves
  stdout alone: the listener always runs with ``-d`` and counts itself ready when
  the server echoes its initial presence back (RFC 6121 §4.2.2).
- Errors go to stderr in Go's log format (``2006/01/02 15:04:05 text``), except that
  a failed OX send (recipient has no key, ...) prints ``ox: error ...`` on stdout and
  exits 0: a send or key generation that prints anything at all is a failure.
- Once the server closes the stream, ``-l`` prints ``EOF`` in a busy loop forever:
  the listener is killed at the first ``EOF``.
- OX keys live under ``$HOME/.local/share/go-sendxmpp`` (``XDG_DATA_HOME`` is
  ignored): ``oxprivkeys/<base64 of the bare JID>`` holds the base64 of the binary
  secret key, ``oxpubkeys/<FPR>`` caches contacts' keys. Every account gets its own HOME.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pysequoia

from .procs import LinePump, PeerError, redact, run, stop_process
from .xmpp_server import XmppServer

__all__ = [
    "GoSendxmpp",
    "GoSendxmppFactory",
    "Listener",
    "ReceivedMessage",
    "go_sendxmpp_version",
    "missing",
    "parse_messages",
]

BINARY = "go-sendxmpp"
_HEADER = re.compile(
    r"^(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (?P<ox>\[OX\] )?(?P<sender>\S+?): (?P<body>.*)$"
)
_GO_LOG = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (?P<text>.*)$")
_BOUND_JID = re.compile(r"<jid>([^<]+)</jid>")


def missing() -> str | None:
    """Say what is not installed for go-sendxmpp, or None when it is there."""
    if shutil.which(BINARY) is None:
        return f"{BINARY} not found: run scripts/install-peers.sh (Debian package go-sendxmpp)"
    return None


@functools.cache
def go_sendxmpp_version() -> str:
    """Return what ``go-sendxmpp --version`` prints first, e.g. ``go-sendxmpp 0.5.7-dev``."""
    return run([BINARY, "--version"], timeout=10.0).stdout.strip().splitlines()[0]


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as printed by ``go-sendxmpp -l``."""

    stamp: str
    sender: str
    body: str
    ox: bool


def parse_messages(lines: Iterable[str]) -> list[ReceivedMessage]:
    """Parse ``go-sendxmpp -l`` stdout lines; lines without a header continue the last body."""
    found: list[ReceivedMessage] = []
    for line in lines:
        head = _HEADER.match(line)
        if head:
            found.append(
                ReceivedMessage(
                    stamp=head["stamp"],
                    sender=head["sender"],
                    body=head["body"],
                    ox=head["ox"] is not None,
                )
            )
        elif found:
            last = found[-1]
            found[-1] = ReceivedMessage(last.stamp, last.sender, f"{last.body}\n{line}", last.ox)
    return found


class Listener:
    """A running ``go-sendxmpp -l [--ox] -d``; stop it before its server."""

    def __init__(self, argv: Sequence[str], *, env: dict[str, str], secrets: Sequence[str]) -> None:
        self._secrets = tuple(secrets)
        self.disconnected = False
        self._proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._stdout = LinePump(self._proc.stdout, max_lines=10_000)
        self._stderr = LinePump(self._proc.stderr, max_lines=2_000, on_line=self._watch)

    def _watch(self, line: str) -> None:
        logged = _GO_LOG.match(line)
        if logged and logged["text"] == "EOF" and not self.disconnected:
            self.disconnected = True
            self._proc.terminate()

    @property
    def running(self) -> bool:
        """True while the go-sendxmpp process is alive."""
        return self._proc.poll() is None

    def wait_ready(self, timeout: float) -> str:
        """Wait until the listener is online (its own presence came back); return its full JID."""

        def online(lines: list[str]) -> bool:
            text = "".join(lines)
            bound = _BOUND_JID.search(text)
            if bound is None:
                return False
            echo = rf"<presence\b[^>]*\bfrom=['\"]{re.escape(bound.group(1))}['\"]"
            return re.search(echo, text) is not None

        if not self._stderr.wait(online, timeout):
            raise PeerError(
                f"go-sendxmpp -l did not come online within {timeout:g} s; {self._state()}"
            )
        bound = _BOUND_JID.search("".join(self._stderr.lines()))
        assert bound is not None
        return bound.group(1)

    def messages(self, timeout: float = 0.0) -> list[ReceivedMessage]:
        """Return every message received so far, after waiting ``timeout`` s for more."""
        if timeout > 0:
            self._stdout.wait(lambda _lines: False, timeout)
        return parse_messages(self._stdout.lines())

    def wait_for(
        self, text: str, timeout: float, *, sender: str | None = None, ox: bool | None = None
    ) -> ReceivedMessage:
        """Wait up to ``timeout`` s for a message whose body is exactly ``text``; return it."""

        def wanted(message: ReceivedMessage) -> bool:
            return (
                message.body == text
                and (sender is None or message.sender == sender)
                and (ox is None or message.ox == ox)
            )

        self._stdout.wait(lambda lines: any(map(wanted, parse_messages(lines))), timeout)
        for message in parse_messages(self._stdout.lines()):
            if wanted(message):
                return message
        raise PeerError(f"no message {text!r} within {timeout:g} s; {self._state()}")

    def errors(self) -> list[str]:
        """Return go-sendxmpp's own log lines (e.g. failed decryption), without the stanzas."""
        return [m["text"] for m in map(_GO_LOG.match, self._stderr.lines()) if m]

    def received_xml(self) -> str:
        """Return the stanzas the listener received (its ``-d`` output), for inspection."""
        return "\n".join(line for line in self._stderr.lines() if not _GO_LOG.match(line))

    def _state(self) -> str:
        code = self._proc.poll()
        status = "running" if code is None else f"exited with {code}"
        if self.disconnected:
            status += ", server closed the stream"
        seen = [f"{m.sender}{' [OX]' if m.ox else ''}: {m.body!r}" for m in self.messages()]
        return redact(
            f"listener {status}; messages seen: {seen}; go-sendxmpp errors: {self.errors()[-10:]}",
            self._secrets,
        )

    def stop(self) -> None:
        """Stop the listener (SIGTERM, SIGKILL after 5 s) and its reader threads."""
        stop_process(self._proc, grace=5.0)
        self._stdout.join(2.0)
        self._stderr.join(2.0)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


class GoSendxmpp:
    """One XMPP account driven through go-sendxmpp, isolated in its own HOME under ``workdir``."""

    def __init__(
        self,
        jid: str,
        password: str,
        *,
        host: str,
        port: int,
        ca_pem_path: Path,
        workdir: Path,
        timeout: float = 20.0,
    ) -> None:
        self.jid = jid
        self._password = password
        self._passphrase: str | None = None
        self._address = f"{host}:{port}"
        self.timeout = timeout
        self.home = workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self._config = workdir / "sendxmpprc"
        self._config.touch(mode=0o600)
        self._config.write_text(f"username: {jid}\npassword: {password}\n", encoding="utf-8")
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "SSL_CERT_FILE": str(ca_pem_path),
            "LANG": "C.UTF-8",
        }
        self._listeners: list[Listener] = []

    @classmethod
    def for_account(
        cls, server: XmppServer, user: str, workdir: Path, *, timeout: float = 20.0
    ) -> Self:
        """Build the peer for one of ``server``'s accounts."""
        return cls(
            server.jid(user),
            server.users[user],
            host=server.host,
            port=server.port,
            ca_pem_path=server.ca_pem_path,
            workdir=workdir,
            timeout=timeout,
        )

    @property
    def ox_private_key_path(self) -> Path:
        """Where go-sendxmpp keeps this account's OX secret key (base64 of the binary key)."""
        name = base64.b64encode(self.jid.encode()).decode()
        return self.home / ".local" / "share" / "go-sendxmpp" / "oxprivkeys" / name

    def _argv(self, *extra: str, ox: bool = False) -> list[str]:
        argv = [BINARY, "-f", str(self._config), "-j", self._address, "--timeout", "10", *extra]
        if ox and self._passphrase:
            argv += ["--ox-passphrase", self._passphrase]
        return argv

    def _secrets(self) -> list[str]:
        return [s for s in (self._password, self._passphrase) if s]

    def _run(self, argv: list[str], *, stdin: str | None = None) -> None:
        done = run(
            argv, timeout=self.timeout, env=self._env, input_text=stdin, secrets=self._secrets()
        )
        # Success is silent; failures may still exit 0 and print to either stream.
        said = (done.stdout + done.stderr).strip()
        if said:
            raise PeerError(
                redact(f"{BINARY} as {self.jid} reported: {said[-2000:]}", self._secrets())
            )

    def send(self, to_jid: str, text: str, *, ox: bool = False) -> None:
        """Send ``text`` to ``to_jid``, OX-encrypted if ``ox``; raise PeerError on any failure."""
        self._run(self._argv(*(["--ox"] if ox else []), to_jid, ox=ox), stdin=text + "\n")

    def start_listening(self, *, ox: bool = False, ready_timeout: float = 15.0) -> Listener:
        """Start ``go-sendxmpp -l`` (``--ox`` to decrypt) and return once it is online."""
        listener = Listener(
            self._argv("-d", "-l", *(["--ox"] if ox else []), ox=ox),
            env=self._env,
            secrets=self._secrets(),
        )
        self._listeners.append(listener)
        try:
            listener.wait_ready(ready_timeout)
        except BaseException:
            listener.stop()
            raise
        return listener

    def ox_generate_key(self, passphrase: str | None = None) -> str:
        """Generate and publish an x25519 OX key; return its v4 fingerprint (upper-case hex).

        A ``passphrase`` locks the secret key and is used by later OX sends and listens.
        Running this again replaces the key and the published key list.
        """
        self._passphrase = passphrase
        key_file = self.ox_private_key_path
        key_file.unlink(missing_ok=True)
        self._run(self._argv("--ox-genprivkey-x25519", ox=True))
        if not key_file.is_file():
            raise PeerError(f"{BINARY} wrote no OX key for {self.jid} at {key_file}")
        secret = pysequoia.Tsk.from_bytes(base64.b64decode(key_file.read_text(encoding="ascii")))
        return str(secret.extract_certificate().fingerprint).upper()

    def stop(self) -> None:
        """Stop every listener this account started."""
        while self._listeners:
            self._listeners.pop().stop()


GoSendxmppFactory = Callable[[XmppServer, str], GoSendxmpp]
"""What the ``go_sendxmpp`` fixture returns: ``make(server, "alice") -> GoSendxmpp``."""
