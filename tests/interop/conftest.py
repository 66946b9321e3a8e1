"""Fixtures of the interop suite: third-party XMPP servers and go-sendxmpp peers.

- ``xmpp_server``: a running server (``XmppServer``), parametrised over every entry
  of ``peers.SERVER_FACTORIES``, one per session and kind, with accounts
  ``alice``, ``bob`` and ``carol`` (random passwords in ``xmpp_server.users``).
- ``xmpp_server_handle``: the same server's handle (``.server``, ``.stop()``, ``.pid``).
- ``go_sendxmpp``: a factory ``go_sendxmpp(server, "alice") -> GoSendxmpp``; every
  listener it started is stopped when the test ends (before any server stops).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from .gosendxmpp import GoSendxmpp, GoSendxmppFactory, go_sendxmpp_version
from .peers import SERVER_FACTORIES, debian_version, require_peer
from .xmpp_server import ServerHandle, XmppServer

ACCOUNTS = ("alice", "bob", "carol")

_used_peers: dict[str, str] = {}


@pytest.fixture(scope="session", params=list(SERVER_FACTORIES))
def xmpp_server_handle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerHandle]:
    """Start one server of the requested kind for the whole session; stop it afterwards."""
    kind: str = request.param
    require_peer(kind)
    users = {name: secrets.token_urlsafe(12) for name in ACCOUNTS}
    handle = SERVER_FACTORIES[kind](tmp_path_factory.mktemp(kind), users)
    _used_peers[kind] = handle.server.software
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def xmpp_server(xmpp_server_handle: ServerHandle) -> XmppServer:
    """The running server as tests see it: domain, host, port, CA, log path, accounts."""
    return xmpp_server_handle.server


@pytest.fixture
def go_sendxmpp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoSendxmppFactory]:
    """Return a factory of go-sendxmpp peers, each in its own HOME; stop them at teardown."""
    require_peer("go-sendxmpp")
    made: list[GoSendxmpp] = []

    def make(server: XmppServer, user: str) -> GoSendxmpp:
        workdir = tmp_path_factory.mktemp(f"go-sendxmpp-{server.kind}-{user}")
        peer = GoSendxmpp.for_account(server, user, workdir)
        made.append(peer)
        return peer

    if "go-sendxmpp" not in _used_peers:
        debian = debian_version("go-sendxmpp")
        _used_peers["go-sendxmpp"] = go_sendxmpp_version() + (
            f" (Debian {debian})" if debian else ""
        )
    try:
        yield make
    finally:
        for peer in made:
            peer.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every interop test in one worker (pytest-xdist ``loadgroup``): the third-party
    servers are started once per worker, and two ejabberd nodes would share epmd names."""
    for item in items:
        if "interop" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group("interop"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand the peers it used to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["interop_peers"] = dict(_used_peers)


def pytest_testnodedown(node: object, error: object) -> None:
    """In the pytest-xdist controller: collect what each worker used."""
    _used_peers.update(getattr(node, "workeroutput", {}).get("interop_peers", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Record in the test log which third-party versions the interop tests ran against."""
    if _used_peers:
        versions = ", ".join(f"{kind}: {software}" for kind, software in _used_peers.items())
        terminalreporter.write_line(f"interop peers used — {versions}")
