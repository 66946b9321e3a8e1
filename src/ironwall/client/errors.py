"""Errors the client reports to its user: one line saying what happened and what to do."""

from __future__ import annotations

__all__ = [
    "AccountExists",
    "ClientError",
    "ConnectFailed",
    "ContactHasNoKey",
    "SendingBlocked",
    "UnknownAccount",
]


class ClientError(Exception):
    """A failure the user can act on; ``str()`` is the whole message."""


class ConnectFailed(ClientError):
    """The server could not be reached, or its certificate is not trusted, or login failed."""


class AccountExists(ClientError):
    """Registration failed because the account already exists."""


class UnknownAccount(ClientError):
    """This device holds no state for the account, and none was given."""


class ContactHasNoKey(ClientError):
    """The contact published no encryption key and plaintext was not allowed for it."""


class SendingBlocked(ClientError):
    """The contact's key changed (verified contact) or was revoked: sending is stopped."""
