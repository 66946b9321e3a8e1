"""The harness itself: real TLS checks, loopback-only servers, nothing left running."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest
import trustme

from .gosendxmpp import GoSendxmpp
from .peers import SERVER_FACTORIES, require_peer
from .procs import PeerError
from .xmpp_server import ServerHandle, XmppServer

pytestmark = pytest.mark.interop


def _proc_address(hex_addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    raw = bytes.fromhex(hex_addr)
    # /proc/net/tcp{,6} print each 32-bit word in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def _listening_sockets(pid: int) -> set[tuple[str, int]]:
    """Return (address, port) of every TCP socket process ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text(encoding="ascii").splitlines()[1:]:
            cols = row.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and inode in inodes:
                addr, port = local.split(":")
                found.add((str(_proc_address(addr)), int(port, 16)))
    return found


def test_server_listens_on_loopback_only(
    xmpp_server_handle: ServerHandle, xmpp_server: XmppServer
) -> None:
    pid = getattr(xmpp_server_handle, "pid", None)
    if pid is None:
        pytest.skip(f"{xmpp_server.kind} handle exposes no pid")
    sockets = _listening_sockets(pid)
    assert (xmpp_server.host, xmpp_server.port) in sockets
    assert all(ipaddress.ip_address(addr).is_loopback for addr, _port in sockets), sockets


def test_tls_certificate_is_verified(xmpp_server: XmppServer, tmp_path: Path) -> None:
    require_peer("go-sendxmpp")
    stranger_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger_ca))
    alice = GoSendxmpp(
        xmpp_server.jid("alice"),
        xmpp_server.users["alice"],
        host=xmpp_server.host,
        port=xmpp_server.port,
        ca_pem_path=stranger_ca,
        workdir=tmp_path / "alice",
    )

    with pytest.raises(PeerError, match="certificate signed by unknown authority"):
        alice.send(xmpp_server.jid("bob"), "never delivered")


def test_wrong_password_is_refused(xmpp_server: XmppServer, tmp_path: Path) -> None:
    require_peer("go-sendxmpp")
    alice = GoSendxmpp(
        xmpp_server.jid("alice"),
        "not-" + xmpp_server.users["alice"],
        host=xmpp_server.host,
        port=xmpp_server.port,
        ca_pem_path=xmpp_server.ca_pem_path,
        workdir=tmp_path / "alice",
    )

    with pytest.raises(PeerError) as caught:
        alice.send(xmpp_server.jid("bob"), "never delivered")
    assert "not-" + xmpp_server.users["alice"] not in str(caught.value)


@pytest.mark.parametrize("kind", list(SERVER_FACTORIES))
def test_stop_leaves_nothing_running(kind: str, tmp_path: Path) -> None:
    require_peer(kind)
    handle = SERVER_FACTORIES[kind](tmp_path, {"dave": "dave-password"})
    server = handle.server
    pid = getattr(handle, "pid", None)

    handle.stop()
    handle.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=2.0).close()
    if pid is not None:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
