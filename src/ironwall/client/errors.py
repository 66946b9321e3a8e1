"""Errors the client reports to its user: one line saying what happened and what to do."""

from __future__ import annotations

__all__ = [
    "AccountDisabled",
    "AccountExists",
    "ClientError",
    "ConnectFailed",
    "ContactHasNoKey",
    "InvalidAddress",
    "InvalidMessage",
    "LoginRefused",
    "SendingBlocked",
    "ServerUnreachable",
    "UnknownAccount",
    "UntrustedCertificate",
    "WrongPassphraseError",
]


class ClientError(Exception):
    """A failure the user can act on; ``str()`` is the whole message."""


class ConnectFailed(ClientError):
    """The stream could not be set up or was closed by the server."""


class ServerUnreachable(ConnectFailed):
    """No connection to the server right now (network, server down, timeout): try later."""


class UntrustedCertificate(ConnectFailed):
    """The server's TLS certificate does not verify."""


class LoginRefused(ConnectFailed):
    """The server refused the credentials."""


class AccountDisabled(ConnectFailed):
    """The server refuses the account itself (revoked by its owner, or disabled)."""


class AccountExists(ClientError):
    """Registration failed because the account already exists."""


class UnknownAccount(ClientError):
    """This device holds no state for the account, and none was given."""


class WrongPassphraseError(ClientError):
    """The passphrase (or recovery code) opens neither the key here nor the server's."""


class InvalidAddress(ClientError):
    """A JID typed by the user is not a valid address of the kind needed."""


class InvalidMessage(ClientError):
    """A message the user wrote cannot be sent as it is (too long, characters XMPP forbids)."""


class ContactHasNoKey(ClientError):
    """The contact published no encryption key and plaintext was not allowed for it."""


class SendingBlocked(ClientError):
    """The contact's key changed and was not acknowledged, or was revoked: sending is stopped."""
