"""Serialising ElementTree elements for an XMPP stream, and a small element builder.

Hand-written because ``xml.etree.ElementTree.tostring`` cannot leave out a namespace
the surrounding stream already declares (every stanza would repeat
``xmlns='jabber:client'``), invents ``ns0:`` prefixes for element names, and emits
characters XML 1.0 forbids, which would break the receiving stream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from xml.etree.ElementTree import Element

__all__ = ["element", "serialize"]

_XML_NS = "http://www.w3.org/XML/1998/namespace"
_XMLNS_NS = "http://www.w3.org/2000/xmlns/"
# Characters outside the XML 1.0 Char production (lone surrogates included).
_ILLEGAL_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_ILLEGAL = re.compile(f"[{_ILLEGAL_CHARS}]")
# "\r" and whitespace in attributes are escaped because a parser would normalise them.
_TEXT_SPECIAL = re.compile(f"[&<>\r{_ILLEGAL_CHARS}]")
_ATTR_SPECIAL = re.compile(f"[&<>'\"\t\n\r{_ILLEGAL_CHARS}]")
_NAME_START = (
    "A-Z_a-z\xc0-\xd6\xd8-\xf6\xf8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_NCNAME = re.compile(f"[{_NAME_START}][{_NAME_START}\\-.0-9\xb7\u0300-\u036f\u203f\u2040]*")
_SPLIT_CACHE_SIZE = 2048
_split_cache: dict[str, tuple[str | None, str]] = {}
_NO_PREFIXES: Mapping[str, str] = {}


def serialize(
    element: Element,
    parent_ns: str | None = None,
    *,
    prefixes: Mapping[str, str] | None = None,
) -> bytes:
    """Return the UTF-8 bytes of ``element`` (its tail excluded), without XML declaration.

    ``parent_ns`` is the default namespace in effect around the element: an element
    whose namespace equals its parent's gets no ``xmlns``, so with ``"jabber:client"`` a
    ``{jabber:client}message`` comes out as ``<message ...>``. ``prefixes`` maps
    namespaces to prefixes the surrounding context has already declared (the stream
    core passes ``{"http://etherx.jabber.org/streams": "stream"}`` to write
    ``<stream:features>``); elements and attributes in those namespaces use the prefix.
    Attributes in the ``xml`` namespace use ``xml:``; other namespaced attributes get a
    prefix declared on their element.

    Raises ValueError for a name that is not an XML name, for text, attribute values or
    namespaces holding characters XML 1.0 forbids, for ``xmlns`` attributes (the
    serializer makes all declarations) and for comments or processing instructions.
    """
    out: list[str] = []
    _write(out, element, parent_ns or None, prefixes or _NO_PREFIXES)
    return "".join(out).encode("utf-8")


def element(
    tag: str,
    attrs: Mapping[str, str] | None = None,
    *children: Element,
    text: str | None = None,
) -> Element:
    """Build an element: ``element("{jabber:client}message", {"to": jid}, body)``."""
    built = Element(tag, dict(attrs) if attrs else {})
    built.text = text
    built.extend(children)
    return built


def _write(
    out: list[str], node: Element, default_ns: str | None, prefixes: Mapping[str, str]
) -> None:
    tag = node.tag
    if not isinstance(tag, str):
        raise ValueError("comments and processing instructions cannot be serialised")
    ns, local = _split(tag)
    inner_ns = default_ns
    if ns is not None and ns in prefixes:
        name = f"{_prefix(prefixes[ns])}:{local}"
        out.append("<" + name)
    elif ns == default_ns:
        name = local
        out.append("<" + name)
    elif ns in (_XML_NS, _XMLNS_NS):
        raise ValueError("the xml and xmlns namespaces cannot hold elements")
    else:
        name = local
        out.append(f"<{name} xmlns='{_escape_attribute(ns or '')}'")
        inner_ns = ns
    if node.attrib:
        _write_attributes(out, node.attrib, prefixes)
    text = node.text
    if text or len(node):
        out.append(">")
        if text:
            out.append(_escape_text(text))
        for child in node:
            _write(out, child, inner_ns, prefixes)
            if child.tail:
                out.append(_escape_text(child.tail))
        out.append(f"</{name}>")
    else:
        out.append("/>")


def _write_attributes(
    out: list[str], attrib: Mapping[str, str], prefixes: Mapping[str, str]
) -> None:
    declared: dict[str, str] = {}
    for key, value in attrib.items():
        ns, local = _split(key)
        if ns is None:
            if local == "xmlns":
                raise ValueError("namespace declarations are made by the serializer")
            out.append(f" {local}='{_escape_attribute(value)}'")
            continue
        if ns == _XML_NS:
            prefix = "xml"
        elif ns == _XMLNS_NS:
            raise ValueError("namespace declarations are made by the serializer")
        elif ns in prefixes:
            prefix = _prefix(prefixes[ns])
        elif ns in declared:
            prefix = declared[ns]
        else:
            prefix = _fresh_prefix(declared, prefixes)
            declared[ns] = prefix
            out.append(f" xmlns:{prefix}='{_escape_attribute(ns)}'")
        out.append(f" {prefix}:{local}='{_escape_attribute(value)}'")


def _fresh_prefix(declared: Mapping[str, str], prefixes: Mapping[str, str]) -> str:
    taken = set(declared.values()) | set(prefixes.values())
    number = 0
    while f"ns{number}" in taken:
        number += 1
    return f"ns{number}"


def _split(name: str) -> tuple[str | None, str]:
    """Split a Clark-notation name into (namespace or None, local name), validated."""
    parts = _split_cache.get(name)
    if parts is not None:
        return parts
    if name.startswith("{"):
        ns, brace, local = name[1:].rpartition("}")
        if not brace:
            raise ValueError("malformed Clark-notation name")
        if _ILLEGAL.search(ns):
            raise ValueError("namespace holds a character XML 1.0 does not allow")
        parts = (ns or None, local)
    else:
        parts = (None, name)
    if not _NCNAME.fullmatch(parts[1]):
        raise ValueError("not a valid XML name")
    if len(_split_cache) >= _SPLIT_CACHE_SIZE:
        _split_cache.clear()
    _split_cache[name] = parts
    return parts


def _prefix(prefix: str) -> str:
    if prefix in ("xml", "xmlns") or not _NCNAME.fullmatch(prefix):
        raise ValueError("not a usable namespace prefix")
    return prefix


def _escape_text(text: str) -> str:
    if _TEXT_SPECIAL.search(text) is None:
        return text
    if _ILLEGAL.search(text):
        raise ValueError("text holds a character XML 1.0 does not allow")
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _escape_attribute(value: str) -> str:
    if _ATTR_SPECIAL.search(value) is None:
        return value
    if _ILLEGAL.search(value):
        raise ValueError("attribute value holds a character XML 1.0 does not allow")
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )
