"""Requests about the account itself: password (XEP-0077), removal, and server-side revocation.

Revocation uses Ironwall's ``urn:ironwall:account:0`` extension (spec/server.md): the
client registers SHA-256 of a token only its key derives, and later proves possession of
the key by sending the token; the server then locks the account for good and closes every
session. Servers without the extension (Prosody, ejabberd) answer ``feature-not-implemented``
or ``service-unavailable``, which the caller reports.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from ironwall.client.errors import ClientError
from ironwall.client.xmpp import Connection, IqFailed

__all__ = [
    "REVOCATION_NS",
    "STRANGER_POLICIES",
    "change_password",
    "delete_account",
    "register_revocation_verifier",
    "revoke_account",
    "strangers_policy",
]

REVOCATION_NS = "urn:ironwall:account:0"
_REGISTER = "jabber:iq:register"
#: Answers that mean "this server does not have the extension".
UNSUPPORTED = frozenset({"feature-not-implemented", "service-unavailable", "bad-request"})


async def change_password(
    conn: Connection, jid: str, password: str, *, old_password: str | None = None
) -> None:
    """Set the account password (XEP-0077 §3.3).

    A session that has just logged in may change it outright; otherwise the server asks
    for the old password in a form, which is sent if ``old_password`` is known.
    """
    user, _, domain = jid.partition("@")
    query = (
        f"<query xmlns='{_REGISTER}'><username>{escape(user)}</username>"
        f"<password>{escape(password)}</password></query>"
    )
    try:
        await conn.request(f"<iq type='set' to={quoteattr(domain)}>{query}</iq>")
        return
    except IqFailed as exc:
        if exc.condition != "not-authorized" or old_password is None:
            raise ClientError(
                f"the server refused the password change ({exc.condition}); nothing was changed"
            ) from None
    form = (
        f"<query xmlns='{_REGISTER}'><x xmlns='jabber:x:data' type='submit'>"
        "<field type='hidden' var='FORM_TYPE'><value>jabber:iq:register:changepassword</value></field>"
        f"<field var='username'><value>{escape(user)}</value></field>"
        f"<field var='old_password'><value>{escape(old_password)}</value></field>"
        f"<field var='password'><value>{escape(password)}</value></field></x></query>"
    )
    try:
        await conn.request(f"<iq type='set' to={quoteattr(domain)}>{form}</iq>")
    except IqFailed as exc:
        raise ClientError(
            f"the server refused the password change ({exc.condition}); nothing was changed"
        ) from None


async def delete_account(conn: Connection) -> None:
    """Remove the account from its server (XEP-0077 §3.2)."""
    try:
        await conn.request(f"<iq type='set'><query xmlns='{_REGISTER}'><remove/></query></iq>")
    except IqFailed as exc:
        # The server may close the stream before its answer arrives.
        if exc.condition != "remote-server-timeout":
            raise ClientError(
                f"the server refused to delete the account ({exc.condition})"
            ) from None


async def register_revocation_verifier(conn: Connection, verifier: str) -> bool:
    """Give the server the verifier of this account's revocation token, once.

    Returns False if the server does not support server-side revocation, or already holds
    another verifier (one an earlier key of the account registered: only that key can
    revoke the account then; the server's admin can lock it too).
    """
    try:
        await conn.request(
            f"<iq type='set'><revocation xmlns='{REVOCATION_NS}'>"
            f"<verifier>{escape(verifier)}</verifier></revocation></iq>"
        )
    except IqFailed as exc:
        if exc.condition in UNSUPPORTED:
            return False
        if exc.condition == "conflict":
            return False
        raise ClientError(f"the server refused the revocation verifier ({exc.condition})") from None
    return True


async def revoke_account(conn: Connection, token: str) -> bool:
    """Ask the server to lock the account for good; False if it cannot (no extension)."""
    try:
        await conn.request(
            f"<iq type='set'><revoke xmlns='{REVOCATION_NS}'><token>{escape(token)}</token>"
            "</revoke></iq>"
        )
    except IqFailed as exc:
        if exc.condition in UNSUPPORTED:
            return False
        if exc.condition == "remote-server-timeout":
            # The server closes every session of the account right after its answer.
            return True
        raise ClientError(f"the server refused to lock the account ({exc.condition})") from None
    return True


STRANGERS_NS = "urn:ironwall:strangers:0"
STRANGER_POLICIES = ("allow", "limit", "refuse")


async def strangers_policy(conn: Connection, policy: str | None = None) -> str | None:
    """Set (or with None read) what the server does with messages from non-contacts.

    ``allow``, ``limit`` (rate limits; the usual default) or ``refuse`` (Ironwall's
    ``urn:ironwall:strangers:0``). Returns the policy in force, or None if the server
    does not offer the choice.
    """
    if policy is not None and policy not in STRANGER_POLICIES:
        raise ClientError(f"'{policy}' is not one of {', '.join(STRANGER_POLICIES)}")
    kind, attribute = ("set", f" policy={quoteattr(policy)}") if policy else ("get", "")
    try:
        answer = await conn.request(
            f"<iq type='{kind}'><strangers xmlns='{STRANGERS_NS}'{attribute}/></iq>"
        )
    except IqFailed as exc:
        if exc.condition in UNSUPPORTED:
            return None
        raise ClientError(f"the server refused the setting ({exc.condition})") from None
    if policy is not None:
        return policy
    element = answer.find(f"{{{STRANGERS_NS}}}strangers")
    return None if element is None else element.get("policy")
