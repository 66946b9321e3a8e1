"""The local control channel: ``ironwall admin`` acting on the running server.

A Unix domain socket ``control.sock`` in the data directory, created owner-only inside
the owner-only directory: whoever can open it is the server's own user (or root), and
that is the whole authentication. Each request is one line of JSON, each answer one
line of JSON:

    {"command": "passwd", "jid": "alice@example.org", "password": "..."}
    {"command": "deluser", "jid": "alice@example.org"}
    {"command": "unblock", "address": "192.0.2.7"}    or    {"command": "unblock", "jid": "..."}
    -> {"ok": true, "message": "..."}    or    {"ok": false, "error": "..."}

Requests are never logged (a ``passwd`` carries a password); the actions are.
Both ends live here, so the protocol is in one file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ironwall.proto.jid import JID
from ironwall.server.accounts import CREDENTIALS_CHANGED, REMOVED, AccountError, account_jid
from ironwall.server.datadir import private_umask

if TYPE_CHECKING:
    from ironwall.server.app import Server

__all__ = [
    "SOCKET_NAME",
    "ControlChannel",
    "ControlError",
    "ServerNotRunning",
    "StaleSocket",
    "request",
    "socket_path",
]

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
#: The longest request line; a password change is far below it.
MAX_REQUEST = 1 << 16
#: How long a control connection may stay quiet before the server hangs up.
IDLE_TIMEOUT = 30.0
#: How long ``ironwall admin`` waits for the server's answer.
ANSWER_TIMEOUT = 60.0
# sockaddr_un holds 108 bytes on Linux, the terminating NUL included.
_MAX_PATH = 107


class ControlError(Exception):
    """The control channel could not be used; the message says why and what to do."""


class ServerNotRunning(ControlError):
    """No server is running on the data directory (no socket, or a stale one)."""


class StaleSocket(ServerNotRunning):
    """The socket is there but no server answers: the last one did not stop cleanly."""


def socket_path(data_dir: Path) -> Path:
    """Where the server of ``data_dir`` listens for control requests."""
    return data_dir / SOCKET_NAME


# ------------------------------------------------------------------ the server end


class ControlChannel:
    """The server's end: listens on the socket and runs the requests."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self.path = socket_path(server.config.data_dir).absolute()
        self._listener: asyncio.AbstractServer | None = None
        self._inode: int | None = None
        #: Seconds a control connection may stay quiet before the server hangs up.
        self.idle_timeout = IDLE_TIMEOUT

    async def start(self) -> None:
        """Listen; ControlError if the path cannot be a socket or another server has it."""
        path = self.path
        if len(os.fsencode(path)) > _MAX_PATH:
            raise ControlError(
                f"the control socket path {path} is longer than the {_MAX_PATH} bytes a Unix "
                "socket path may have; use a data directory with a shorter path"
            )
        await self._remove_stale()
        with private_umask():
            self._listener = await asyncio.start_unix_server(
                self._serve, path=str(path), limit=MAX_REQUEST
            )
        # Already owner-only from its creation; said once more for file systems that ignore
        # the umask for sockets.
        path.chmod(0o600)
        self._inode = path.stat().st_ino

    async def _remove_stale(self) -> None:
        path = self.path
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{path} exists and is not a socket; move it out of the way")
        try:
            _reader, writer = await asyncio.open_unix_connection(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            log.warning(
                "removed the stale control socket %s (the server did not stop cleanly)", path
            )
            path.unlink(missing_ok=True)
            return
        writer.close()
        raise ControlError(
            f"another Ironwall server is running with the data directory {path.parent} "
            "(its control socket answers); stop it first"
        )

    async def stop(self) -> None:
        """Stop listening and remove the socket (unless another process replaced it)."""
        if self._listener is None:
            return
        self._listener.close()
        await self._listener.wait_closed()
        self._listener = None
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break
                except asyncio.LimitOverrunError:
                    await _write(writer, _error(f"a request is at most {MAX_REQUEST} bytes"))
                    break
                except TimeoutError:
                    idle = f"no request for {self.idle_timeout:g} s; closing the connection"
                    await _write(writer, _error(idle))
                    break
                await _write(writer, await self._answer(line))
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error("a request is one JSON object on one line")
        if not isinstance(request, dict):
            return _error("a request is one JSON object on one line")
        command = request.get("command")
        actions = {"passwd": self._passwd, "deluser": self._deluser, "unblock": self._unblock}
        action = actions.get(command) if isinstance(command, str) else None
        if action is None:
            return _error(f"unknown command; this server knows: {', '.join(sorted(actions))}")
        try:
            return {"ok": True, "message": await action(request)}
        except AccountError as exc:
            return _error(str(exc))
        except Exception:
            # The request is not logged: it may hold a password.
            log.exception("control command %s failed", command)
            return _error(f"the server failed to run '{command}'; its log says why")

    def _account(self, request: dict[str, Any]) -> JID:
        text = request.get("jid")
        if not isinstance(text, str):
            raise AccountError("the request names no account ('jid')", "bad-request")
        jid = account_jid(text)
        if jid.domain not in self._server.domains:
            raise AccountError(f"{jid.domain} is not a domain of this server", "item-not-found")
        return jid

    async def _passwd(self, request: dict[str, Any]) -> str:
        jid = self._account(request)
        password = request.get("password")
        if not isinstance(password, str):
            raise AccountError("the request holds no new password", "bad-request")
        accounts = self._server.accounts
        async with accounts.guard(jid):
            await accounts.set_password(jid, password)
            ended = await self._server.end_sessions(jid, "reset", CREDENTIALS_CHANGED)
        log.info("password of %s changed by the administrator; %d sessions ended", jid, ended)
        return f"password of {jid} changed; {_sessions(ended)} ended"

    async def _deluser(self, request: dict[str, Any]) -> str:
        jid = self._account(request)
        await self._server.delete_account(jid)
        ended = await self._server.end_sessions(jid, "not-authorized", REMOVED)
        log.info("account %s deleted by the administrator; %d sessions ended", jid, ended)
        return f"deleted {jid}; {_sessions(ended)} ended"

    async def _unblock(self, request: dict[str, Any]) -> str:
        limits = self._server.failed_logins
        address = request.get("address")
        if isinstance(address, str):
            try:
                address = str(ipaddress.ip_address(address))
            except ValueError:
                raise AccountError(f"'{address}' is not an IP address", "bad-request") from None
            cleared = limits.clear_address(address)
            what = address
        else:
            jid = self._account(request)
            cleared = limits.clear_account(str(jid))
            what = str(jid)
        log.info("failed-login limits of %s cleared by the administrator", what)
        if not cleared:
            return f"{what} had no recent failed logins; nothing to clear"
        return f"cleared {cleared} failed login{'s' if cleared != 1 else ''} of {what}"


def _sessions(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


def _error(text: str) -> dict[str, Any]:
    return {"ok": False, "error": text}


async def _write(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    writer.write(json.dumps(reply).encode() + b"\n")
    await writer.drain()


# ------------------------------------------------------------------ the admin end


async def request(data_dir: Path, payload: dict[str, Any]) -> str:
    """Send one request to the server running on ``data_dir``; return its message.

    ServerNotRunning if no server listens there (no socket, or a stale one), ControlError
    if the channel cannot be used or the server refused the request.
    """
    path = socket_path(data_dir)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        raise ServerNotRunning(
            f"no server is running on {data_dir} (it has no control socket {path.name})"
        ) from None
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"{path} is not a socket; move it out of the way")
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REQUEST)
            try:
                writer.write(json.dumps(payload).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except (ConnectionRefusedError, FileNotFoundError):
        raise StaleSocket(
            f"the control socket {path} is stale: no server answers on it (the server did not "
            "stop cleanly; it removes the socket when it starts again)"
        ) from None
    except PermissionError:
        raise ControlError(
            f"cannot open the control socket {path}: permission denied; run this as the user "
            "the server runs as"
        ) from None
    except TimeoutError:
        raise ControlError(
            f"the server did not answer on {path} within {ANSWER_TIMEOUT:g} s"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG or "too long" in str(exc):
            raise ControlError(f"the control socket path {path} is too long for a socket") from None
        raise ControlError(f"cannot use the control socket {path}: {exc.strerror}") from None
    try:
        reply = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        reply = None
    if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
        raise ControlError(f"the server sent no valid answer on {path}")
    if not reply["ok"]:
        raise ControlError(str(reply.get("error", "the server refused the request")))
    return str(reply.get("message", ""))
