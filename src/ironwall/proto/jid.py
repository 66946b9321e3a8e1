"""JIDs as RFC 7622 defines them: parsing, PRECIS preparation, comparison.

A ``JID`` is immutable and always prepared: two JIDs that denote the same address
compare equal. Invalid input raises ``InvalidJID``, which the server turns into a
``jid-malformed`` stanza error.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import precis_i18n

__all__ = ["JID", "InvalidJID"]

_MAX_PART_BYTES = 1023

_username = precis_i18n.get_profile("UsernameCaseMapped")
_opaque = precis_i18n.get_profile("OpaqueString")


class InvalidJID(ValueError):
    """The text is not a valid JID (RFC 7622)."""


def _prepare_localpart(local: str) -> str:
    try:
        prepared: str = _username.enforce(local)
    except UnicodeError:
        raise InvalidJID("the localpart contains characters a JID may not use") from None
    # RFC 7622 §3.3.1: these characters are forbidden even though PRECIS allows them.
    if any(c in prepared for c in "\"&'/:<>@"):
        raise InvalidJID("the localpart contains a forbidden character")
    return prepared


def _prepare_domainpart(domain: str) -> str:
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


@dataclass(frozen=True, slots=True)
class JID:
    """A prepared JID: ``local@domain/resource`` with optional local and resource parts."""

    local: str | None
    domain: str
    resource: str | None

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
            _check_length(resource, "resourcepart")
            resource = _prepare_resourcepart(resource)
            _check_length(resource, "resourcepart")
        return cls(local, domain, resource)

    @property
    def bare(self) -> JID:
        """This JID without its resource."""
        if self.resource is None:
            return self
        return JID(self.local, self.domain, None)

    @property
    def is_bare(self) -> bool:
        """True if there is no resource."""
        return self.resource is None

    def with_resource(self, resource: str) -> JID:
        """The full JID for ``resource`` on this JID's account."""
        return JID.build(self.local, self.domain, resource)

    def __str__(self) -> str:
        text = self.domain if self.local is None else f"{self.local}@{self.domain}"
        return text if self.resource is None else f"{text}/{self.resource}"


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
