"""The XEP-0313 wire format: query forms, RSM paging, preferences, and result elements.

Pure: no storage, no sessions. ``mam.py`` runs queries and archives messages; this file
decides what a request means and how each answer is written. Every refusal is a
``MamError`` carrying the stanza error condition and a text for the client.

This module has no ``MODULE``: it is a library of the ``mam`` module.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto import ns
from ironwall.proto.jid import JID, InvalidJID
from ironwall.proto.stanza import tag
from ironwall.storage import JSONValue

__all__ = [
    "DATA_FORMS",
    "MAM",
    "PREF_DEFAULTS",
    "RSM",
    "MamError",
    "Prefs",
    "Query",
    "fields_form",
    "fin",
    "parse_prefs",
    "parse_query",
    "result_message",
    "stamp",
]

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
DATA_FORMS = "jabber:x:data"
PREF_DEFAULTS = ("always", "never", "roster")

_MAX_PREF_JIDS = 1000
_MAX_CURSOR = 128


class MamError(Exception):
    """A refused request: the stanza error ``condition`` and a text for the client."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


@dataclass(frozen=True)
class Query:
    """One archive query: filters, then one RSM page of at most ``max`` items."""

    with_jid: JID | None = None
    start: float | None = None
    end: float | None = None
    after: str | None = None
    #: The page ends before this id; "" (an empty ``<before/>``) asks for the last page.
    before: str | None = None
    max: int = 50
    #: XEP-0313 ``<flip-page/>``: the page's items newest first.
    flip: bool = False

    @property
    def backward(self) -> bool:
        """True if the page is counted back from ``before`` (or from the end)."""
        return self.before is not None


@dataclass(frozen=True)
class Prefs:
    """An account's archiving preferences (XEP-0313 §6), contacts as bare JIDs."""

    default: str = "always"
    always: frozenset[JID] = field(default_factory=frozenset)
    never: frozenset[JID] = field(default_factory=frozenset)

    def rule(self, contact: JID) -> str:
        """``always``, ``never`` or ``roster``: what decides about ``contact``."""
        bare = contact.bare
        if bare in self.never:
            return "never"
        if bare in self.always:
            return "always"
        return self.default

    def to_record(self) -> JSONValue:
        """A JSON value for the key-value store."""
        always: list[JSONValue] = [str(j) for j in sorted(self.always, key=str)]
        never: list[JSONValue] = [str(j) for j in sorted(self.never, key=str)]
        return {"default": self.default, "always": always, "never": never}

    @classmethod
    def from_record(cls, record: object) -> Prefs:
        """Inverse of ``to_record``; anything unreadable gives the defaults."""
        if not isinstance(record, dict):
            return cls()
        default = record.get("default")
        return cls(
            default=default if default in PREF_DEFAULTS else "always",
            always=_jids(record.get("always")),
            never=_jids(record.get("never")),
        )

    def to_element(self) -> Element:
        """The ``<prefs/>`` answer."""
        prefs = Element(tag(MAM, "prefs"), {"default": self.default})
        for name, jids in (("always", self.always), ("never", self.never)):
            group = SubElement(prefs, tag(MAM, name))
            for jid in sorted(jids, key=str):
                SubElement(group, tag(MAM, "jid")).text = str(jid)
        return prefs


def _jids(value: object) -> frozenset[JID]:
    found = set()
    for text in value if isinstance(value, list) else ():
        try:
            found.add(JID.parse(str(text)).bare)
        except InvalidJID:
            continue
    return frozenset(found)


def stamp(when: float) -> str:
    """A XEP-0082 UTC timestamp with milliseconds."""
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_time(text: str, name: str) -> float:
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise MamError("bad-request", f"'{name}' is not a XEP-0082 date and time") from None
    if moment.tzinfo is None:
        raise MamError("bad-request", f"'{name}' needs a time zone, e.g. a final Z")
    return moment.timestamp()


def _form_fields(form: Element) -> dict[str, str]:
    if form.get("type") != "submit":
        raise MamError("bad-request", "the data form must be of type 'submit'")
    fields: dict[str, str] = {}
    for element in form.findall(tag(DATA_FORMS, "field")):
        var = element.get("var") or ""
        values = [v.text or "" for v in element.findall(tag(DATA_FORMS, "value"))]
        if len(values) > 1:
            raise MamError("bad-request", f"the field '{var}' takes one value")
        value = values[0].strip() if values else ""
        if var == "FORM_TYPE":
            if value != MAM:
                raise MamError("bad-request", f"the form's FORM_TYPE must be {MAM}")
        elif var in ("with", "start", "end"):
            if value:
                fields[var] = value
        else:
            raise MamError("bad-request", f"the field '{var[:64]}' is not supported")
    return fields


def _cursor(element: Element | None) -> str | None:
    if element is None:
        return None
    text = (element.text or "").strip()
    if len(text) > _MAX_CURSOR:
        raise MamError("item-not-found", "no archived message has that id")
    return text


def parse_query(query: Element, *, max_page: int) -> Query:
    """The ``<query/>`` of an archive request; the page size is capped at ``max_page``."""
    form = query.find(tag(DATA_FORMS, "x"))
    fields = _form_fields(form) if form is not None else {}
    with_jid = None
    if "with" in fields:
        try:
            with_jid = JID.parse(fields["with"])
        except InvalidJID:
            raise MamError("jid-malformed", "'with' is not a valid JID") from None
    start = _parse_time(fields["start"], "start") if "start" in fields else None
    end = _parse_time(fields["end"], "end") if "end" in fields else None
    size = min(50, max_page)
    after = before = None
    rsm = query.find(tag(RSM, "set"))
    if rsm is not None:
        if rsm.find(tag(RSM, "index")) is not None:
            raise MamError("feature-not-implemented", "paging by index is not supported")
        if (limit := rsm.find(tag(RSM, "max"))) is not None:
            try:
                size = int((limit.text or "").strip())
            except ValueError:
                raise MamError("bad-request", "<max/> must be a number") from None
            if size < 0:
                raise MamError("bad-request", "<max/> must not be negative")
            size = min(size, max_page)
        after = _cursor(rsm.find(tag(RSM, "after")))
        before = _cursor(rsm.find(tag(RSM, "before")))
        if after == "":
            raise MamError("bad-request", "<after/> needs an id")
    return Query(
        with_jid=with_jid,
        start=start,
        end=end,
        after=after,
        before=before,
        max=size,
        flip=query.find(tag(MAM, "flip-page")) is not None,
    )


def parse_prefs(element: Element) -> Prefs:
    """A ``<prefs/>`` set request."""
    default = element.get("default")
    if default not in PREF_DEFAULTS:
        raise MamError("bad-request", "'default' must be always, never or roster")
    lists: dict[str, frozenset[JID]] = {}
    for name in ("always", "never"):
        jids = set()
        group = element.find(tag(MAM, name))
        for item in group.findall(tag(MAM, "jid")) if group is not None else ():
            try:
                jids.add(JID.parse((item.text or "").strip()).bare)
            except InvalidJID:
                raise MamError("jid-malformed", f"a JID in <{name}/> is not valid") from None
        if len(jids) > _MAX_PREF_JIDS:
            raise MamError("not-acceptable", f"at most {_MAX_PREF_JIDS} JIDs per list")
        lists[name] = frozenset(jids)
    return Prefs(default, lists["always"], lists["never"] - lists["always"])


def fields_form() -> Element:
    """The answer to a query for the form fields (XEP-0313 §4.1.5)."""
    query = Element(tag(MAM, "query"))
    form = SubElement(query, tag(DATA_FORMS, "x"), {"type": "form"})
    form_type = SubElement(form, tag(DATA_FORMS, "field"), {"var": "FORM_TYPE", "type": "hidden"})
    SubElement(form_type, tag(DATA_FORMS, "value")).text = MAM
    for var, kind in (("with", "jid-single"), ("start", "text-single"), ("end", "text-single")):
        SubElement(form, tag(DATA_FORMS, "field"), {"var": var, "type": kind})
    return query


def fin(ids: Iterable[str], *, complete: bool, count: int | None) -> Element:
    """The ``<fin/>`` that ends a query: RSM ``first``/``last`` of the page, ``count``."""
    element = Element(tag(MAM, "fin"), {"complete": "true" if complete else "false"})
    rsm = SubElement(element, tag(RSM, "set"))
    page = list(ids)
    if page:
        SubElement(rsm, tag(RSM, "first")).text = page[0]
        SubElement(rsm, tag(RSM, "last")).text = page[-1]
    if count is not None:
        SubElement(rsm, tag(RSM, "count")).text = str(count)
    return element


def result_message(
    *, owner: JID, to: JID, query_id: str | None, item_id: str, when: float, message: Element
) -> Element:
    """One ``<message><result><forwarded>`` carrying an archived message."""
    outer = Element(tag(ns.CLIENT, "message"), {"from": str(owner), "to": str(to)})
    attrs = {"id": item_id}
    if query_id is not None:
        attrs["queryid"] = query_id
    result = SubElement(outer, tag(MAM, "result"), attrs)
    forwarded = SubElement(result, tag("urn:xmpp:forward:0", "forwarded"))
    SubElement(forwarded, tag(ns.DELAY, "delay"), {"stamp": stamp(when)})
    forwarded.append(message)
    return outer
