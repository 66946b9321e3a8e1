"""JIDs as RFC 7622 defines them: parsing, PRECIS preparation, comparison.

A ``JID`` is immutable and always prepared: two JIDs that denote the same address
compare equal. Invalid input raises ``InvalidJID``, which the server turns into a
``jid-malformed`` stanza error.
"""

from __future__ import annotations

import functools
import ipaddress
import re

import precis_i18n

__all__ = ["JID", "InvalidJID"]

_MAX_PART_BYTES = 1023

_username = precis_i18n.get_profile("UsernameCaseMapped")
# Text that PRECIS leaves exactly as it is, so it need not run (it is the costly part of
# a login): lower-case ASCII letters, digits and ".-_" in a localpart (UsernameCaseMapped
# maps nothing in them and allows them all), and visible ASCII in a resourcepart
# (OpaqueString maps nothing in it and allows it all).
_PLAIN_LOCALPART = re.compile(r"[a-z0-9._-]+")
_PLAIN_RESOURCEPART = re.compile(r"[!-~]+")
_opaque = precis_i18n.get_profile("OpaqueString")


class InvalidJID(ValueError):
    """The text is not a valid JID (RFC 7622)."""


def _prepare_localpart(local: str) -> str:
    if _PLAIN_LOCALPART.fullmatch(local):
        return local
    try:
        prepared: str = _username.enforce(local)
    except UnicodeError:
        raise InvalidJID("the localpart contains characters a JID may not use") from None
    # RFC 7622 §3.3.1: these characters are forbidden even though PRECIS allows them.
    if any(c in prepared for c in "\"&'/:<>@"):
        raise InvalidJID("the localpart contains a forbidden character")
    return prepared


@functools.lru_cache(maxsize=1024)
def _prepare_domainpart(domain: str) -> str:
    # Cached: a server sees few domains, and every login and JID names one.
    # RFC 7622 §3.2: one final dot (a DNS root label) is dropped; "example.." stays invalid.
    domain = domain[:-1] if domain.endswith(".") and len(domain) > 1 else domain
    if domain.startswith("[") and domain.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(domain[1:-1]).compressed}]"
        except ValueError:
            raise InvalidJID("the domainpart is not a valid IPv6 address") from None
    prepared = domain.lower()
    try:
        labels = [_opaque.enforce(label) if label else "" for label in prepared.split(".")]
    except UnicodeError:
        raise InvalidJID("the domainpart contains characters a JID may not use") from None
    if any(not label for label in labels):
        raise InvalidJID("the domainpart has an empty label")
    # Checked after preparation: OpaqueString maps other spaces (U+00A0) to " ".
    prepared = ".".join(labels)
    for char in prepared:
        if char in " \t\r\n@/\\:\"'<>&" or ord(char) < 0x20:
            raise InvalidJID("the domainpart contains a forbidden character")
    return prepared


def _prepare_resourcepart(resource: str) -> str:
    if _PLAIN_RESOURCEPART.fullmatch(resource):
        return resource
    try:
        prepared: str = _opaque.enforce(resource)
    except UnicodeError:
        raise InvalidJID("the resourcepart contains characters a JID may not use") from None
    return prepared


def _check_length(part: str, name: str) -> None:
    try:
        size = len(part.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates: what undecodable bytes become in command-line arguments.
        raise InvalidJID(f"the {name} is not valid Unicode") from None
    if size == 0:
        raise InvalidJID(f"the {name} is empty")
    if size > _MAX_PART_BYTES:
        raise InvalidJID(f"the {name} is longer than {_MAX_PART_BYTES} bytes")


class JID:
    """A prepared JID: ``local@domain/resource`` with optional local and resource parts.

    Immutable. Its hash, text and bare form are computed once, because a server looks
    JIDs up in dictionaries and writes them into stanzas for every stanza it routes.
    """

    __slots__ = ("_bare", "_hash", "_text", "domain", "local", "resource")

    local: str | None
    domain: str
    resource: str | None
    _hash: int
    _text: str
    _bare: JID | None

    def __init__(self, local: str | None, domain: str, resource: str | None = None) -> None:
        """Join parts that are already prepared (``build`` and ``parse`` prepare them)."""
        init = object.__setattr__
        init(self, "local", local)
        init(self, "domain", domain)
        init(self, "resource", resource)
        init(self, "_hash", hash((local, domain, resource)))
        text = domain if local is None else f"{local}@{domain}"
        init(self, "_text", text if resource is None else f"{text}/{resource}")
        init(self, "_bare", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a JID cannot be changed")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a JID cannot be changed")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, JID):
            return NotImplemented
        return self._hash == other._hash and self._text == other._text

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"JID(local={self.local!r}, domain={self.domain!r}, resource={self.resource!r})"

    def __reduce__(self) -> tuple[type[JID], tuple[str | None, str, str | None]]:
        return JID, (self.local, self.domain, self.resource)

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse and prepare ``text``; raise ``InvalidJID`` if it is not a valid JID."""
        return _parse_cached(text)

    @classmethod
    def build(cls, local: str | None, domain: str, resource: str | None = None) -> JID:
        """Prepare the three parts and join them into a JID."""
        if local is not None:
            _check_length(local, "localpart")
            local = _prepare_localpart(local)
            _check_length(local, "localpart")
        _check_length(domain, "domainpart")
        domain = _prepare_domainpart(domain)
        _check_length(domain, "domainpart")
        if resource is not None:
            resource = _prepare_checked_resource(resource)
        return cls(local, domain, resource)

    @property
    def bare(self) -> JID:
        """This JID without its resource."""
        if self.resource is None:
            return self
        bare = self._bare
        if bare is None:
            bare = JID(self.local, self.domain, None)
            object.__setattr__(self, "_bare", bare)
        return bare

    @property
    def is_bare(self) -> bool:
        """True if there is no resource."""
        return self.resource is None

    def with_resource(self, resource: str) -> JID:
        """The full JID for ``resource`` on this JID's account."""
        # Local and domain parts are prepared already; only the resource is new.
        return JID(self.local, self.domain, _prepare_checked_resource(resource))

    def __str__(self) -> str:
        return self._text


def _prepare_checked_resource(resource: str) -> str:
    _check_length(resource, "resourcepart")
    prepared = _prepare_resourcepart(resource)
    _check_length(prepared, "resourcepart")
    return prepared


@functools.lru_cache(maxsize=65536)
def _parse_cached(text: str) -> JID:
    # RFC 7622 §3.1: split at the first '/', then at the last '@' before it.
    head, slash, resource = text.partition("/")
    local, at, domain = head.rpartition("@")
    if slash and not resource:
        raise InvalidJID("the resourcepart is empty")
    if at and not local:
        raise InvalidJID("the localpart is empty")
    return JID.build(local if at else None, domain, resource if slash else None)
