"""The server: configuration, storage, modules and listeners wired together."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ironwall.proto.stream import StreamOptions
from ironwall.server import datadir
from ironwall.server.accounts import AccountError, Accounts
from ironwall.server.config import Config
from ironwall.server.connection import ClientConnection
from ironwall.server.control import ControlChannel, ControlError
from ironwall.server.events import ACCOUNT_DELETING
from ironwall.server.hooks import Hooks
from ironwall.server.limiter import AddressLimiter
from ironwall.server.login_limits import FailedLogins
from ironwall.server.module import Module
from ironwall.server.resumption import Resumption
from ironwall.server.router import Router
from ironwall.server.services import ServiceKey
from ironwall.server.tls import TLSMaterial, ensure_self_signed, load_tls
from ironwall.storage import StorageDriver, open_driver
from ironwall.xml import ParserLimits

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from ironwall.proto.jid import JID
    from ironwall.server.session import Session

__all__ = ["Server", "ServerError"]

log = logging.getLogger("ironwall.server")

ServiceT = TypeVar("ServiceT")


class ServerError(RuntimeError):
    """The server cannot start; the message says what to fix."""


class Server:
    """One Ironwall server process serving the configured domains."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.domains = frozenset(config.domains)
        self.hooks = Hooks()
        self.router = Router(self)
        self.resumption = Resumption(self)
        self.connections: set[ClientConnection] = set()
        self.modules: dict[str, Module] = {}
        self.limiter = AddressLimiter(max_connections=config.limits.max_connections_per_address)
        self.failed_logins = FailedLogins(
            per_account_address=config.limits.max_failed_logins_per_account_address,
            per_address=config.limits.max_failed_logins_per_address,
            per_account=config.limits.max_failed_logins_per_account,
            window=config.limits.failed_login_window,
        )
        self.control = ControlChannel(self)
        self.tls: TLSMaterial | None = None
        self.storage: StorageDriver = open_driver(config.database_url)
        self.accounts = Accounts(self.storage)
        self.stream_options: StreamOptions
        self._servers: list[asyncio.Server] = []
        self.addresses: list[tuple[str, int]] = []
        #: Services by protocol, found once the modules are loaded.
        self._services: dict[ServiceKey[Any], object] = {}

    def module(self, name: str) -> Module:
        """The running module called ``name`` (KeyError if not loaded)."""
        return self.modules[name]

    def service(self, key: ServiceKey[ServiceT]) -> ServiceT | None:
        """The first loaded module (in configuration order) that offers ``key``'s service."""
        if key not in self._services:
            self._services[key] = next(
                (m for m in self.modules.values() if isinstance(m, key.protocol)), None
            )
        return cast("ServiceT | None", self._services[key])

    @property
    def disco_features(self) -> list[str]:
        """Every feature the loaded modules declare for the server."""
        return sorted({f for m in self.modules.values() for f in m.disco_features})

    @property
    def account_features(self) -> list[str]:
        """Every feature the loaded modules declare for accounts."""
        return sorted({f for m in self.modules.values() for f in m.account_features})

    def _preauth_features(self, domain: str) -> list[Element]:
        return [f for m in self.modules.values() for f in m.preauth_features(domain)]

    def _stream_features(self) -> list[Element]:
        return [f for m in self.modules.values() for f in m.stream_features()]

    async def end_sessions(
        self, account: JID, condition: str, text: str, *, keep: Session | None = None
    ) -> int:
        """Close every stream of ``account`` but ``keep``'s, at once, with a stream error.

        Also the streams that authenticated and have not bound a resource yet, the logins
        to it still under way, and its sessions parked for resumption: after this, nothing
        that proved the account's credentials before the call can act. Returns how many
        were ended.
        """
        ended = 0
        for connection in list(self.connections):
            if connection.login_account != account.bare:
                continue
            if keep is not None and connection.session is keep:
                continue
            connection.close_from_server(condition, text)
            ended += 1
        return ended + await self.resumption.drop_account(account)

    async def delete_account(self, account: JID) -> None:
        """Delete ``account`` and everything stored for it (AccountError if there is none).

        Modules hooked to ``account-deleting`` act first (roster subscriptions are
        cancelled with the contacts); the caller ends the account's sessions after it
        has answered whoever asked.
        """
        async with self.accounts.guard(account):
            if not await self.accounts.exists(account):
                raise AccountError(f"the account {account} does not exist", "item-not-found")
            await self.hooks.fire(ACCOUNT_DELETING, account)
            await self.accounts.delete(account)

    async def start(self) -> list[tuple[str, int]]:
        """Open storage, start modules and listeners; return the bound addresses."""
        config = self.config
        datadir.make_private(config.data_dir)
        for change in datadir.tighten(config.data_dir):
            log.warning("%s", change)
        cert, key = config.certificate, config.private_key
        if cert is None or key is None:
            with datadir.private_umask():
                cert, key = ensure_self_signed(config.data_dir, config.domains)
        try:
            self.tls = load_tls(cert, key)
        except ValueError as exc:
            raise ServerError(str(exc)) from None
        await self.storage.open()
        try:
            await self._start_modules_and_listeners()
        except BaseException:
            # Whatever failed, leave nothing running: an open storage thread alone keeps
            # the process from exiting.
            await self.stop()
            raise
        where = ", ".join(f"{h}:{p}" for h, p in self.addresses)
        log.info(
            "Ironwall listening on %s for %s (data in %s)",
            where,
            ", ".join(config.domains),
            config.data_dir,
        )
        return self.addresses

    async def _start_modules_and_listeners(self) -> None:
        config = self.config
        for name in config.modules:
            try:
                module_file = importlib.import_module(f"ironwall.server.modules.{name}")
            except ModuleNotFoundError:
                raise ServerError(f"unknown module '{name}' in the configuration") from None
            module: Module = module_file.MODULE(self)
            self.modules[name] = module
        self._services.clear()
        for name, module in self.modules.items():
            for key in module.needs:
                if self.service(key) is None:
                    raise ServerError(
                        f"module '{name}' needs a module offering the {key.name} service "
                        f"(add '{key.name}' to 'modules' in the configuration)"
                    )
        for module in self.modules.values():
            await module.start()
        try:
            await self.control.start()
        except ControlError as exc:
            raise ServerError(str(exc)) from None
        self.stream_options = StreamOptions(
            domains=config.domains,
            tls_available=True,
            tls_required=config.tls_required,
            registration=config.registration_open,
            limits=ParserLimits(
                max_stanza_bytes=config.limits.max_stanza_bytes, max_depth=config.limits.max_depth
            ),
            extension_nonzas=[n for m in self.modules.values() for n in m.extension_nonzas],
            stream_features=self._stream_features,
            preauth_namespaces=[n for m in self.modules.values() for n in m.preauth_namespaces],
            preauth_features=self._preauth_features,
        )
        for listener in config.listeners:
            try:
                server = await asyncio.get_running_loop().create_server(
                    lambda: ClientConnection(self), listener.host, listener.port, backlog=1024
                )
            except OSError as exc:
                raise ServerError(
                    f"cannot listen on {listener.host}:{listener.port}: {exc.strerror}"
                ) from None
            self._servers.append(server)
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                self.addresses.append((host, port))

    async def stop(self) -> None:
        """Close listeners and connections, stop modules, close storage."""
        for server in self._servers:
            server.close()
        await self.control.stop()
        for connection in list(self.connections):
            await connection.shutdown()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        for _ in range(100):
            if not self.connections:
                break
            await asyncio.sleep(0.01)
        try:
            await self.resumption.stop()
            for module in reversed(list(self.modules.values())):
                try:
                    await module.stop()
                except Exception:
                    log.exception("module %s failed to stop", module.name)
        finally:
            await self.storage.close()
        log.info("Ironwall stopped")
