"""An account on this device: set up, unlocked, and taken through its lifecycle.

``Account`` is what lives on the device: the device file (server address, the cached
sealed key) and the encrypted local state. ``Account.open(passphrase)`` unlocks the
identity once and yields a connected `ClientSession`. The lifecycle — create, log in on a
new device, change the passphrase, recover with the recovery code, revoke, delete — is
here too; each step leaves every other device of the account able to log in with the
passphrase in force.

Unlocking tries the sealed key cached on this device first. If the passphrase does not
open it, it may have been changed on another device: the client then derives the login
password from what was typed, logs in, and unlocks the server's copy of the sealed key.
The device keeps no password: logins use the SCRAM salted password kept in the encrypted
state (``ironwall.client.scram``), or a password derived anew from the passphrase.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ironwall.client import ox
from ironwall.client.addresses import account_address
from ironwall.client.device import DeviceFile
from ironwall.client.errors import (
    AccountDisabled,
    ClientError,
    LoginRefused,
    ServerUnreachable,
    UnknownAccount,
    WrongPassphraseError,
)
from ironwall.client.scram import SaltedPassword
from ironwall.client.server_account import (
    change_password,
    delete_account,
    register_revocation_verifier,
    revoke_account,
)
from ironwall.client.session import ClientSession
from ironwall.client.state import STATE_FILE, LocalState
from ironwall.client.xmpp import Connection, ServerAddress, connect
from ironwall.e2e import (
    Identity,
    WeakPassphrase,
    WrongPassphrase,
    change_passphrase_async,
    check_passphrase,
    derive_login_password_async,
    is_recovery_code,
    new_recovery_code,
    open_secret_key_async,
    revocation_token,
    revocation_verifier,
    seal_secret_key_async,
)

__all__ = ["Account", "Progress", "list_accounts", "require_account"]

#: Called with a short sentence while a slow step runs ("Sealing your key ...").
Progress = Callable[[str], None]


def _quiet(_text: str) -> None:
    """The default progress reporter: says nothing."""


def list_accounts(home: Path) -> list[str]:
    """The accounts set up on this device."""
    if not home.exists():
        return []
    return sorted(
        p.name for p in home.iterdir() if (p / "device.json").exists() or (p / STATE_FILE).exists()
    )


def require_account(home: Path, jid: str | None) -> Account:
    """The account to use: the one named, or the only one on this device."""
    if jid is None:
        accounts = list_accounts(home)
        if len(accounts) != 1:
            raise UnknownAccount(
                "no account on this device: create one with 'ironwall account create JID'"
                if not accounts
                else f"several accounts on this device ({', '.join(accounts)}): pick one with --account JID"
            )
        jid = accounts[0]
    account = Account(jid, home)
    if not account.exists:
        raise UnknownAccount(
            f"{account.jid} is not set up on this device: run 'ironwall account login "
            f"{account.jid}' (or 'account create' for a new account)"
        )
    return account


class Account:
    """One XMPP account on this device."""

    def __init__(self, jid: str, home: Path, *, insecure_fast_kdf_for_tests: bool = False) -> None:
        self.jid = account_address(jid)
        self.home = home
        self.directory = home / self.jid
        # Test suites only: makes every Argon2id here nearly free (see ironwall.e2e).
        self.fast_kdf = insecure_fast_kdf_for_tests
        self._pending_address: ServerAddress | None = None

    # ---------------------------------------------------------------- device

    @property
    def device(self) -> DeviceFile | None:
        """The device file, if the account is set up here."""
        return DeviceFile.load(self.directory, self.jid)

    @property
    def exists(self) -> bool:
        """Whether this device holds the account."""
        return self.device is not None

    @property
    def address(self) -> ServerAddress:
        """Where this device connects for the account."""
        device = self.device
        if device is not None:
            return device.address
        return self._pending_address or ServerAddress()

    def remember_address(self, address: ServerAddress) -> None:
        """Use ``address`` for this account (kept once the account is set up here)."""
        device = self.device
        if device is None:
            self._pending_address = address
            return
        device.set_address(address)
        device.save()

    def _require_device(self) -> DeviceFile:
        device = self.device
        if device is None:
            raise UnknownAccount(f"{self.jid} is not set up on this device")
        if device.revoked_at:
            raise AccountDisabled(
                f"{self.jid} was revoked on {device.revoked_at[:10]}: it cannot be used any "
                "more; create a new account"
            )
        return device

    def _new_device(self, sealed_key: bytes, login_kind: str) -> DeviceFile:
        device = DeviceFile(self.directory, self.jid, login_kind=login_kind, sealed_key=sealed_key)
        device.set_address(self.address)
        return device

    def forget(self) -> None:
        """Delete everything this device holds for the account."""
        DeviceFile(self.directory, self.jid).forget()

    async def _derive(self, passphrase: str) -> str:
        return await derive_login_password_async(
            passphrase, self.jid, insecure_fast_kdf_for_tests=self.fast_kdf
        )

    def _check_new_passphrase(self, passphrase: str) -> None:
        try:
            check_passphrase(passphrase, user_inputs=[self.jid, self.jid.split("@")[0]])
        except WeakPassphrase as exc:
            raise ClientError(f"that passphrase is too weak: {exc}") from None

    # ------------------------------------------------------------- set up

    async def create(
        self,
        passphrase: str,
        *,
        existing_password: str | None = None,
        invite: str | None = None,
        identity: Identity | None = None,
        progress: Progress = _quiet,
    ) -> tuple[str, str]:
        """Register (or use the existing account), make and publish the keys.

        Returns the fingerprint and a recovery code to show the user once. Nothing is
        written on this device unless every step succeeded. ``invite`` is the token of an
        invite link (`parse_invite`), for servers that register only invited accounts.
        ``identity`` is a key to use instead of a new one (one made for this JID).
        """
        if self.exists:
            raise ClientError(f"{self.jid} is already set up on this device")
        self._check_new_passphrase(passphrase)
        if identity is None:
            progress("Making your key...")
            identity = Identity.generate(self.jid)
        elif identity.jid != self.jid:
            raise ClientError(f"that key is for {identity.jid}, not {self.jid}")
        code = new_recovery_code()
        progress("Sealing it with your passphrase (slow on purpose, so it resists guessing)...")
        blob = await seal_secret_key_async(
            identity, passphrase, recovery_code=code, insecure_fast_kdf_for_tests=self.fast_kdf
        )
        password = existing_password or await self._derive(passphrase)
        progress("Logging in..." if existing_password else "Registering the account...")
        async with connect(
            self.jid,
            self.address,
            password=password,
            register=existing_password is None,
            invite=invite,
        ) as conn:
            progress("Publishing your public key...")
            await ox.publish_public_key(conn, identity.public_key)
            await ox.store_sealed_key(conn, blob)
            registered = await register_revocation_verifier(conn, revocation_verifier(identity))
            salted = conn.salted_password
        self._settle(
            identity, blob, "given" if existing_password else "derived", salted, registered
        )
        return identity.fingerprint, code

    async def login(
        self, passphrase: str, *, password: str | None = None, progress: Progress = _quiet
    ) -> str:
        """Set the account up on this device from its server; return the fingerprint."""
        if self.exists:
            raise ClientError(
                f"{self.jid} is already set up on this device: just use it (every command "
                "asks for the passphrase)"
            )
        progress("Logging in...")
        login = password or await self._derive(passphrase)
        try:
            async with connect(self.jid, self.address, password=login) as conn:
                blob = await ox.fetch_sealed_key(conn)
                salted = conn.salted_password
        except LoginRefused:
            raise LoginRefused(
                "the server refused the login: wrong passphrase (or, for an account made "
                "with --existing, wrong --password-file), or no such account"
            ) from None
        if blob is None:
            raise ClientError(
                f"{self.jid} has no Ironwall key on its server; create one with "
                "'ironwall account create --existing'"
            )
        progress("Unlocking your key...")
        identity = await self._open_blob(blob, passphrase)
        self._settle(identity, blob, "given" if password else "derived", salted, False)
        return identity.fingerprint

    def _settle(
        self,
        identity: Identity,
        blob: bytes,
        login_kind: str,
        salted: SaltedPassword | None,
        registered: bool,
    ) -> None:
        device = self._new_device(blob, login_kind)
        device.save()
        state = LocalState(self.directory / STATE_FILE, identity)
        try:
            state.set("scram", salted.to_json() if salted else None)
            if registered:
                state.set("revocation_registered", "1")
        finally:
            state.close()

    async def _open_blob(self, blob: bytes, secret: str) -> Identity:
        try:
            return await open_secret_key_async(blob, secret)
        except WrongPassphrase:
            raise WrongPassphraseError(
                "wrong recovery code" if is_recovery_code(secret) else "wrong passphrase"
            ) from None

    # -------------------------------------------------------------- unlock

    async def unlock(
        self, secret: str, *, password: str | None = None
    ) -> tuple[Identity, LocalState, str | None]:
        """The identity, the opened local state and the login password to use (None: the
        cached salted password), for the passphrase or recovery code ``secret``."""
        device = self._require_device()
        identity: Identity | None = None
        if device.sealed_key is not None:
            with contextlib.suppress(WrongPassphrase):
                identity = await open_secret_key_async(device.sealed_key, secret)
        if identity is not None:
            state = LocalState(self.directory / STATE_FILE, identity)
            if password is None and state.get("scram") is None and device.login_kind == "derived":
                password = None if is_recovery_code(secret) else await self._derive(secret)
            return identity, state, password
        return await self._unlock_from_server(device, secret, password)

    async def _unlock_from_server(
        self, device: DeviceFile, secret: str, password: str | None
    ) -> tuple[Identity, LocalState, str | None]:
        """The passphrase does not open the key cached here: perhaps it changed elsewhere."""
        if password is None:
            if device.login_kind != "derived" or is_recovery_code(secret):
                raise WrongPassphraseError(
                    "wrong recovery code" if is_recovery_code(secret) else "wrong passphrase"
                )
            password = await self._derive(secret)
        try:
            async with connect(self.jid, device.address, password=password) as conn:
                blob = await ox.fetch_sealed_key(conn)
                salted = conn.salted_password
        except LoginRefused:
            raise WrongPassphraseError("wrong passphrase") from None
        except ServerUnreachable:
            raise WrongPassphraseError(
                "wrong passphrase, or it was changed on another device: with the server "
                "reachable, the new one works here too"
            ) from None
        if blob is None:
            raise ClientError(f"{self.jid} has no Ironwall key on its server any more")
        identity = await self._open_blob(blob, secret)
        device.sealed_key = blob
        device.save()
        state = LocalState(self.directory / STATE_FILE, identity)
        state.set("scram", salted.to_json() if salted else None)
        return identity, state, None

    @contextlib.asynccontextmanager
    async def open(
        self,
        passphrase: str,
        *,
        password: str | None = None,
        available: bool = False,
        offline_ok: bool = False,
    ) -> AsyncIterator[ClientSession]:
        """Unlock, connect, and yield the session; close both when the block ends.

        Only an ``available`` session announces presence, reads the archive and receives
        messages live. With ``offline_ok`` an unreachable server is not an error: the
        session starts offline and keeps trying (events say so).
        """
        identity, state, login = await self.unlock(passphrase, password=password)
        session = ClientSession(self, identity, state, password=login, available=available)
        try:
            try:
                await session.start(offline_ok=offline_ok)
            except LoginRefused:
                # The salted password cached here is out of date (the password was
                # changed on another device): derive the password from the passphrase.
                device = self._require_device()
                if login is not None or device.login_kind != "derived":
                    raise
                await session.close()
                state.set("scram", None)
                login = await self._derive(passphrase)
                session = ClientSession(self, identity, state, password=login, available=available)
                try:
                    await session.start(offline_ok=offline_ok)
                except LoginRefused:
                    raise LoginRefused(
                        "the server refused the login: if the passphrase was changed on another "
                        "device, use the new one"
                    ) from None
            yield session
        finally:
            await session.close()
            state.close()

    # ------------------------------------------------------------ lifecycle

    @contextlib.asynccontextmanager
    async def _connected(
        self, secret: str, password: str | None = None
    ) -> AsyncIterator[tuple[Identity, LocalState, Connection]]:
        """A fresh login (so the server allows a password change) with the unlocked key."""
        identity, state, login = await self.unlock(secret, password=password)
        try:
            salted = SaltedPassword.from_json(state.get("scram") or "")
            try:
                async with connect(self.jid, self.address, password=login, salted=salted) as conn:
                    yield identity, state, conn
            except LoginRefused:
                raise LoginRefused(
                    "the server refused the login; if the account's password was reset, run "
                    "this again with --password-file FILE"
                ) from None
        finally:
            state.close()

    async def change_passphrase(self, old: str, new: str) -> None:
        """Re-seal the key under ``new``; a derived account password follows it."""
        self._check_new_passphrase(new)
        device = self._require_device()
        async with self._connected(old) as (_identity, state, conn):
            blob = await ox.fetch_sealed_key(conn) or device.sealed_key
            assert blob is not None
            try:
                resealed = await change_passphrase_async(
                    blob, old, new, insecure_fast_kdf_for_tests=self.fast_kdf
                )
            except WrongPassphrase:
                raise WrongPassphraseError("wrong passphrase; nothing was changed") from None
            await self._replace_secrets(conn, device, state, resealed, new)

    async def recover(
        self, recovery_code: str, new_passphrase: str, *, password: str | None = None
    ) -> str:
        """Unlock with the recovery code and seal the key under a new passphrase.

        Returns a new recovery code (the used one stops working). Other devices log in
        with the new passphrase afterwards.
        """
        self._check_new_passphrase(new_passphrase)
        if not is_recovery_code(recovery_code):
            raise WrongPassphraseError(
                "that is not a recovery code (24 characters in six groups, XXXX-XXXX-...)"
            )
        device = self._require_device()
        code = new_recovery_code()
        async with self._connected(recovery_code, password) as (_identity, state, conn):
            blob = await ox.fetch_sealed_key(conn) or device.sealed_key
            assert blob is not None
            try:
                resealed = await change_passphrase_async(
                    blob,
                    recovery_code,
                    new_passphrase,
                    new_recovery_code=code,
                    insecure_fast_kdf_for_tests=self.fast_kdf,
                )
            except WrongPassphrase:
                raise WrongPassphraseError("wrong recovery code; nothing was changed") from None
            await self._replace_secrets(conn, device, state, resealed, new_passphrase)
        return code

    async def _replace_secrets(
        self,
        conn: Connection,
        device: DeviceFile,
        state: LocalState,
        resealed: bytes,
        new_passphrase: str,
    ) -> None:
        await ox.store_sealed_key(conn, resealed)
        device.sealed_key = resealed
        device.save()
        if device.login_kind == "derived":
            # This session has just logged in, so the server takes the change without the
            # old password (spec/server.md, password changes); it ends our other sessions.
            login = await self._derive(new_passphrase)
            await change_password(conn, self.jid, login)
            state.set("scram", None)
            # Log in once with the new password, so this device keeps its salted form and
            # needs neither the password nor the passphrase's slow derivation to log in.
            async with connect(self.jid, self.address, password=login) as fresh:
                if fresh.salted_password is not None:
                    state.set("scram", fresh.salted_password.to_json())

    async def revoke(self, passphrase: str) -> bool:
        """The account is compromised: publish a self-signed revocation of the key, then have
        the server lock the account for good. Returns whether the server could lock it."""
        device = self._require_device()
        async with self._connected(passphrase) as (identity, _state, conn):
            # Published first: once locked, the account can publish nothing any more.
            await ox.publish_public_key(conn, identity.revoke().public_key)
            locked = await revoke_account(conn, revocation_token(identity))
            if not locked:
                # A server without Ironwall's extension: a password nobody knows is the
                # best this client can do.
                await change_password(conn, self.jid, secrets.token_urlsafe(32))
        device.revoked_at = dt.datetime.now(dt.UTC).isoformat()
        device.save()
        return locked

    async def delete(self, passphrase: str) -> None:
        """Remove the account from the server, then from this device."""
        async with self._connected(passphrase) as (_identity, _state, conn):
            await delete_account(conn)
        self.forget()
