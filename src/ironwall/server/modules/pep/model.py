"""The XEP-0060 publish-subscribe model as PEP uses it: node configuration, forms, errors, access.

Pure: no storage, no sessions. ``pep.py`` holds the protocol handlers; this file decides
what a configuration form means, which reader an access model admits, and how each
refusal is worded on the wire (the errors XEP-0060 specifies, with the
``pubsub#errors`` application condition after the defined one, RFC 6120 §8.3.2).

This module has no ``MODULE``: it is a library of the ``pep`` module, not a server module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element, SubElement

from ironwall.proto.stanza import error_reply, tag

if TYPE_CHECKING:
    from ironwall.server.config import Limits

__all__ = [
    "ACCESS_MODELS",
    "DATA_FORMS",
    "NODE_CONFIG_FORM",
    "PUBLISH_OPTIONS_FORM",
    "PUBSUB",
    "PUBSUB_ERRORS",
    "PUBSUB_EVENT",
    "PUBSUB_OWNER",
    "NodeConfig",
    "PepLimits",
    "PubsubError",
    "access_denial",
    "parse_form",
]

PUBSUB = "http://jabber.org/protocol/pubsub"
PUBSUB_OWNER = PUBSUB + "#owner"
PUBSUB_EVENT = PUBSUB + "#event"
PUBSUB_ERRORS = PUBSUB + "#errors"
DATA_FORMS = "jabber:x:data"
NODE_CONFIG_FORM = PUBSUB + "#node_config"
PUBLISH_OPTIONS_FORM = PUBSUB + "#publish-options"

#: ``whitelist`` means owner only: there is no way to add anyone to the list.
ACCESS_MODELS = ("open", "presence", "roster", "whitelist")
_SEND_LAST = ("never", "on_sub", "on_sub_and_presence")
_MAX_TEXT = 1024
_MAX_GROUPS = 64


class PubsubError(Exception):
    """A refusal: a stanza error condition, optionally a ``pubsub#errors`` condition, a text."""

    def __init__(
        self,
        condition: str,
        app: str | None = None,
        text: str = "",
        *,
        feature: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.app = app
        self.text = text
        self.feature = feature
        #: Where XEP-0060 pairs a condition with another type than RFC 6120 does.
        self.error_type = error_type

    def reply(self, stanza: Element) -> Element | None:
        """The error answer to ``stanza`` (None if it must not be answered)."""
        reply = error_reply(stanza, self.condition, self.text)
        if reply is not None and self.error_type is not None:
            reply[-1].set("type", self.error_type)
        if reply is not None and self.app is not None:
            app = SubElement(reply[-1], tag(PUBSUB_ERRORS, self.app))
            if self.feature is not None:
                app.set("feature", self.feature)
        return reply


@dataclass(frozen=True)
class PepLimits:
    """How much one account may keep in PEP; each limit has its own clear error."""

    #: Serialised size of one item's payload, in bytes.
    max_item_bytes: int
    #: Items one node may hold; what ``pubsub#max_items = max`` means.
    max_items_per_node: int
    #: Items over all the nodes of one account.
    max_items_per_account: int
    max_nodes_per_account: int
    #: Explicit (XEP-0060 ``<subscribe/>``) subscriptions on one node.
    max_subscriptions_per_node: int

    @classmethod
    def from_config(cls, limits: Limits) -> PepLimits:
        """The ``pep_*`` limits of the server's configuration."""
        return cls(
            max_item_bytes=limits.pep_max_item_bytes,
            max_items_per_node=limits.pep_max_items_per_node,
            max_items_per_account=limits.pep_max_items_per_account,
            max_nodes_per_account=limits.pep_max_nodes_per_account,
            max_subscriptions_per_node=limits.pep_max_subscriptions_per_node,
        )


@dataclass(frozen=True)
class _Field:
    attr: str
    kind: str
    label: str
    options: tuple[str, ...] = ()


#: The ``pubsub#node_config`` fields we implement; any other field is refused by name.
_FIELDS: dict[str, _Field] = {
    "pubsub#title": _Field("title", "text-single", "A friendly name for the node"),
    "pubsub#type": _Field("payload_type", "text-single", "The type of payload data at this node"),
    "pubsub#access_model": _Field(
        "access_model", "list-single", "Who may read and subscribe", ACCESS_MODELS
    ),
    "pubsub#roster_groups_allowed": _Field(
        "roster_groups_allowed", "list-multi", "Roster groups allowed to read (access model roster)"
    ),
    "pubsub#publish_model": _Field(
        "publish_model", "list-single", "Who may publish", ("publishers",)
    ),
    "pubsub#persist_items": _Field("persist_items", "boolean", "Persist items to storage"),
    "pubsub#max_items": _Field(
        "max_items", "text-single", "Max # of items to persist ('max' for the limit)"
    ),
    "pubsub#deliver_notifications": _Field(
        "deliver_notifications", "boolean", "Deliver event notifications"
    ),
    "pubsub#deliver_payloads": _Field(
        "deliver_payloads", "boolean", "Deliver payloads with event notifications"
    ),
    "pubsub#notify_retract": _Field(
        "notify_retract", "boolean", "Notify subscribers when items are removed"
    ),
    "pubsub#notify_delete": _Field(
        "notify_delete", "boolean", "Notify subscribers when the node is deleted"
    ),
    "pubsub#notification_type": _Field(
        "notification_type", "list-single", "Message type of notifications", ("headline",)
    ),
    "pubsub#send_last_published_item": _Field(
        "send_last_published_item",
        "list-single",
        "When to send the last published item",
        _SEND_LAST,
    ),
}


@dataclass(frozen=True)
class NodeConfig:
    """One node's configuration; the defaults are XEP-0163's "smart defaults"."""

    title: str = ""
    payload_type: str = ""
    access_model: str = "presence"
    roster_groups_allowed: tuple[str, ...] = ()
    publish_model: str = "publishers"
    persist_items: bool = True
    #: A number, or "max" for the server's per-node limit.
    max_items: int | str = 1
    deliver_notifications: bool = True
    deliver_payloads: bool = True
    notify_retract: bool = True
    notify_delete: bool = True
    notification_type: str = "headline"
    send_last_published_item: str = "on_sub_and_presence"

    def max_item_count(self, limits: PepLimits) -> int:
        """``pubsub#max_items`` as a number ("max" is the server's per-node limit)."""
        if isinstance(self.max_items, int):
            return self.max_items
        return limits.max_items_per_node

    def item_limit(self, limits: PepLimits) -> int:
        """How many items the node keeps (0 when it persists none)."""
        return self.max_item_count(limits) if self.persist_items else 0

    # ------------------------------------------------------------ forms

    @classmethod
    def from_publish_options(
        cls, options: Mapping[str, Sequence[str]], limits: PepLimits
    ) -> NodeConfig:
        """XEP-0060 §7.1.5: an auto-created node has the defaults except what the options say."""
        for var in options:
            if var not in _FIELDS:
                raise PubsubError(
                    "conflict", "precondition-not-met", f"unsupported publish option '{var}'"[:300]
                )
        return cls().updated(options, limits)

    def updated(self, fields: Mapping[str, Sequence[str]], limits: PepLimits) -> NodeConfig:
        """This configuration with a submitted form's fields applied (PubsubError if invalid)."""
        changes = {}
        for var, values in fields.items():
            spec = _FIELDS.get(var)
            if spec is None:
                raise PubsubError(
                    "not-acceptable", None, f"unsupported node configuration field '{var}'"[:300]
                )
            changes[spec.attr] = _parse_value(var, spec, values, limits)
        return dataclasses.replace(self, **changes)

    def unmet_preconditions(
        self, fields: Mapping[str, Sequence[str]], limits: PepLimits
    ) -> str | None:
        """XEP-0060 §7.1.5: None if the node matches every publish option, else why not."""
        for var, values in fields.items():
            spec = _FIELDS.get(var)
            if spec is None:
                return f"unsupported publish option '{var}'"[:300]
            wanted = _parse_value(var, spec, values, limits)
            current = getattr(self, spec.attr)
            if spec.attr == "max_items":
                # "max" and the number it stands for are the same precondition.
                wanted_count = wanted if isinstance(wanted, int) else limits.max_items_per_node
                same = wanted_count == self.max_item_count(limits)
            elif spec.kind == "list-multi":
                same = sorted(wanted) == sorted(current)
            else:
                same = wanted == current
            if not same:
                return f"the node has {var} = {_show(current)}, not {_show(wanted)}"[:300]
        return None

    def to_form(self) -> Element:
        """The ``pubsub#node_config`` data form holding this configuration."""
        form = Element(tag(DATA_FORMS, "x"), {"type": "form"})
        hidden = SubElement(form, tag(DATA_FORMS, "field"), {"var": "FORM_TYPE", "type": "hidden"})
        SubElement(hidden, tag(DATA_FORMS, "value")).text = NODE_CONFIG_FORM
        for var, spec in _FIELDS.items():
            field = SubElement(
                form, tag(DATA_FORMS, "field"), {"var": var, "type": spec.kind, "label": spec.label}
            )
            for option in spec.options:
                SubElement(
                    SubElement(field, tag(DATA_FORMS, "option")), tag(DATA_FORMS, "value")
                ).text = option
            value = getattr(self, spec.attr)
            for text in _form_values(value):
                SubElement(field, tag(DATA_FORMS, "value")).text = text
        return form

    # ------------------------------------------------------------ storage

    def to_record(self) -> dict[str, Any]:
        """JSON-safe form for storage."""
        record = dataclasses.asdict(self)
        record["roster_groups_allowed"] = list(self.roster_groups_allowed)
        return record

    @classmethod
    def from_record(cls, record: object) -> NodeConfig:
        """Inverse of ``to_record``; unknown or malformed keys fall back to the defaults."""
        if not isinstance(record, dict):
            return cls()
        default = cls()
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = record.get(f.name)
            current = getattr(default, f.name)
            if f.name == "max_items":
                valid = value == "max" or (type(value) is int and value > 0)
            elif f.name == "roster_groups_allowed" and isinstance(value, list):
                valid = all(isinstance(v, str) for v in value)
                value = tuple(value)
            else:
                valid = type(value) is type(current)
            if valid:
                values[f.name] = value
        return cls(**values)


def _parse_value(var: str, spec: _Field, values: Sequence[str], limits: PepLimits) -> Any:
    if spec.kind == "list-multi":
        if len(values) > _MAX_GROUPS or any(len(v) > _MAX_TEXT for v in values):
            raise PubsubError("not-acceptable", None, f"too many or too long values for '{var}'")
        return tuple(values)
    if len(values) != 1:
        raise PubsubError("not-acceptable", None, f"'{var}' needs exactly one value")
    value = values[0].strip()
    if spec.kind == "boolean":
        if value in ("1", "true"):
            return True
        if value in ("0", "false"):
            return False
        raise PubsubError("not-acceptable", None, f"'{var}' is a boolean (true or false)")
    if spec.attr == "access_model" and value not in spec.options:
        raise PubsubError(
            "not-acceptable",
            "unsupported-access-model",
            f"access models are {', '.join(ACCESS_MODELS)}",
        )
    if spec.kind == "list-single" and value not in spec.options:
        raise PubsubError(
            "not-acceptable", None, f"'{var}' must be one of: {', '.join(spec.options)}"
        )
    if spec.attr == "max_items":
        return _parse_max_items(value, limits)
    if len(value) > _MAX_TEXT:
        raise PubsubError("not-acceptable", None, f"'{var}' is longer than {_MAX_TEXT} characters")
    return value


def _parse_max_items(value: str, limits: PepLimits) -> int | str:
    if value == "max":
        return value
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise PubsubError("not-acceptable", None, "pubsub#max_items is a positive number or 'max'")
    if number > limits.max_items_per_node:
        raise PubsubError(
            "not-acceptable",
            None,
            f"pubsub#max_items is at most {limits.max_items_per_node} on this server",
        )
    return number


def _form_values(value: object) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, tuple):
        return [str(v) for v in value]
    if value == "":
        return []
    return [str(value)]


def _show(value: object) -> str:
    return ",".join(_form_values(value)) or "''"


def parse_form(form: Element | None, form_type: str) -> dict[str, list[str]] | None:
    """The fields of a submitted ``jabber:x:data`` form (without FORM_TYPE); None for a cancel.

    A missing form is an empty one. A FORM_TYPE other than ``form_type`` or a form that
    is not a submission is a ``bad-request``.
    """
    if form is None:
        return {}
    kind = form.get("type")
    if kind == "cancel":
        return None
    if kind != "submit":
        raise PubsubError("bad-request", None, "the data form must be of type 'submit'")
    fields: dict[str, list[str]] = {}
    for field in form.findall(tag(DATA_FORMS, "field")):
        var = field.get("var")
        if not var:
            continue
        values = [v.text or "" for v in field.findall(tag(DATA_FORMS, "value"))]
        if var == "FORM_TYPE":
            if values and values[0].strip() != form_type:
                raise PubsubError("bad-request", None, f"the form's FORM_TYPE must be {form_type}")
            continue
        fields[var] = values
    return fields


def access_denial(
    config: NodeConfig, subscription: str | None, groups: Sequence[str]
) -> PubsubError | None:
    """Why someone other than the owner may not read the node, as XEP-0060 §6.5.9 words it.

    ``subscription`` and ``groups`` come from the owner's roster item for the reader
    (None when the reader is not in the roster). None means the reader is admitted.
    """
    model = config.access_model
    shares_presence = subscription in ("from", "both")
    if model == "open":
        return None
    if model == "presence":
        if shares_presence:
            return None
        return PubsubError(
            "not-authorized",
            "presence-subscription-required",
            "only contacts subscribed to the owner's presence",
        )
    if model == "roster":
        if shares_presence and set(groups) & set(config.roster_groups_allowed):
            return None
        return PubsubError(
            "not-authorized", "not-in-roster-group", "only contacts in the allowed roster groups"
        )
    return PubsubError("not-allowed", "closed-node", "only the owner may read this node")
