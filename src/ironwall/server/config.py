"""Server configuration: embedded defaults, a TOML file, command-line overrides.

With no file at all the server serves ``localhost`` from ``./ironwall-data`` with a
self-signed certificate, on 127.0.0.1:5222, registration open (only on ``localhost``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["STRANGER_POLICIES", "Config", "ConfigError", "Limits", "Listener", "load_config"]

#: What an account does with messages and subscription requests from strangers.
STRANGER_POLICIES = ("allow", "limit", "refuse")

DEFAULT_MODULES = (
    "disco",
    "ping",
    "version",
    "register",
    "invites",
    "roster",
    "strangers",
    "presence",
    "message",
    "offline",
    "pep",
    "private",
    "carbons",
    "mam",
    "csi",
    "blocking",
    "revocation",
)


class ConfigError(ValueError):
    """The configuration is invalid; the message says which setting and why."""


@dataclass(frozen=True)
class Listener:
    """A client-to-server listening socket."""

    host: str = "127.0.0.1"
    port: int = 5222


@dataclass(frozen=True)
class Limits:
    """Resource limits; every one of them answers with a clear error when hit."""

    max_stanza_bytes: int = 262144
    max_depth: int = 32
    auth_timeout: float = 30.0
    keepalive_interval: float = 60.0
    max_connections_per_address: int = 100
    #: Failed logins from one address over all accounts (password spraying), per window.
    max_failed_logins_per_address: int = 30
    failed_login_window: float = 300.0
    max_offline_messages: int = 1000
    # What one account may make the server store, and what strangers (senders not in the
    # recipient's roster) may send and store; see spec/server.md, "Strangers and quotas".
    #: XEP-0160: bytes of offline messages per account (with max_offline_messages).
    max_offline_bytes: int = 16 * 1024 * 1024
    #: The part of an account's offline storage (messages and bytes) one sender may fill.
    offline_share_per_sender: float = 0.5
    #: The part all strangers together may fill, so that contacts always find room.
    offline_share_strangers: float = 0.1
    #: The part one stranger may fill.
    offline_share_per_stranger: float = 0.02
    #: XEP-0313: bytes of archived messages per account; above it messages are delivered
    #: but not archived.
    max_archive_bytes: int = 256 * 1024 * 1024
    #: The part of max_archive_bytes that strangers' messages may take together.
    archive_share_strangers: float = 0.05
    #: Messages and subscription requests from one stranger to one account per window.
    max_stranger_messages_per_sender: int = 10
    #: The same from all strangers together to one account.
    max_stranger_messages_per_recipient: int = 100
    stranger_message_window: float = 60.0
    #: XEP-0077: accounts registered in-band (without an invite) per address per window.
    max_registrations_per_address: int = 5
    #: The same from all addresses together.
    max_registrations: int = 100
    registration_window: float = 3600.0

    max_resources_per_account: int = 10
    resumption_timeout: float = 300.0
    #: XEP-0313: the most archived messages one query page returns.
    mam_max_page: int = 100
    #: XEP-0313: archived messages older than this many days are deleted; 0 keeps them.
    mam_retention_days: int = 365
    #: XEP-0191: JIDs one account may block.
    max_blocklist_items: int = 1000
    #: XEP-0352: presence updates held for an inactive client before they are sent anyway.
    csi_max_held: int = 500

    # Accounts and logins (``login_limits.py``, ``register.py``, ``revocation.py``).
    #: Failed logins to one account from one address per window: a user who mistypes
    #: locks out only themself, only from there.
    max_failed_logins_per_account_address: int = 5
    #: Failed logins to one account from all addresses together (distributed guessing).
    max_failed_logins_per_account: int = 50
    #: XEP-0077: seconds after its login in which a session may change the password
    #: without giving the old one (0: the old one is always needed).
    password_change_window: float = 300.0

    # PEP (XEP-0163) and private XML storage (XEP-0049): each limit has its own error.
    #: Serialised size of one PEP item's payload, in bytes.
    pep_max_item_bytes: int = 131072
    #: Items one PEP node may hold; what ``pubsub#max_items = max`` means.
    pep_max_items_per_node: int = 256
    #: PEP items over all the nodes of one account.
    pep_max_items_per_account: int = 1000
    #: PEP nodes one account may have.
    pep_max_nodes_per_account: int = 200
    #: Explicit (XEP-0060 ``<subscribe/>``) subscriptions on one PEP node.
    pep_max_subscriptions_per_node: int = 1000
    #: Serialised size of one private XML element, in bytes.
    private_max_element_bytes: int = 65536
    #: Distinct private XML elements (namespace + name) per account.
    private_max_elements: int = 100


@dataclass(frozen=True)
class Config:
    """Everything the server needs to start."""

    domains: tuple[str, ...] = ("localhost",)
    data_dir: Path = Path("ironwall-data")
    listeners: tuple[Listener, ...] = (Listener(),)
    certificate: Path | None = None
    private_key: Path | None = None
    tls_required: bool = True
    #: True (open), False (closed), "invite" (only with an invite), None (open on localhost).
    registration: bool | str | None = None
    #: What accounts do with messages from strangers unless they chose: see STRANGER_POLICIES.
    strangers_policy: str = "limit"
    storage: str | None = None
    modules: tuple[str, ...] = DEFAULT_MODULES
    limits: Limits = field(default_factory=Limits)
    log_level: str = "info"

    @property
    def database_url(self) -> str:
        """Where the storage driver keeps its data."""
        return self.storage or f"sqlite:///{(self.data_dir / 'ironwall.db').resolve()}"

    def registration_open(self, domain: str) -> bool:
        """True if in-band registration is possible on ``domain`` (openly or by invite)."""
        return self.registration_mode(domain) != "closed"

    def registration_mode(self, domain: str) -> str:
        """ "open", "invite" or "closed"; by default open on ``localhost`` only."""
        if self.registration is None:
            return "open" if domain == "localhost" else "closed"
        if self.registration == "invite":
            return "invite"
        return "open" if self.registration is True else "closed"


def _expect(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"setting '{name}' has the wrong type ({type(value).__name__})")
    return value


def _registration(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if value == "invite":
        return "invite"
    raise ConfigError("setting 'registration' must be true, false or \"invite\"")


def _one_of(value: Any, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        listed = ", ".join(f'"{choice}"' for choice in choices)
        raise ConfigError(f"setting '{name}' must be one of {listed}")
    return str(value)


def _check_limits(limits: Limits) -> Limits:
    for entry in dataclasses.fields(Limits):
        value = getattr(limits, entry.name)
        if "_share" in entry.name and not 0 <= value <= 1:
            raise ConfigError(
                f"limit '{entry.name}' is a part of a quota: give a number from 0 to 1"
            )
        if entry.name.startswith(("pep_", "private_")) and value < 1:
            raise ConfigError(f"limit '{entry.name}' must be at least 1")
    return limits


def load_config(path: Path | None, **overrides: Any) -> Config:
    """Read ``path`` (TOML) if given, then apply non-None command-line overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    known = {f.name for f in dataclasses.fields(Config)}
    for key, value in raw.items():
        key = key.replace("-", "_")
        if key not in known and key != "listen":
            raise ConfigError(f"unknown setting '{key}' in {path}")
        if key == "domains":
            values["domains"] = tuple(
                _expect(d, str, "domains") for d in _expect(value, list, "domains")
            )
        elif key == "listen":
            listeners = []
            for entry in _expect(value, list, "listen"):
                entry = _expect(entry, dict, "listen")
                listeners.append(
                    Listener(
                        host=_expect(entry.get("host", "127.0.0.1"), str, "listen.host"),
                        port=_expect(entry.get("port", 5222), int, "listen.port"),
                    )
                )
            values["listeners"] = tuple(listeners)
        elif key in ("data_dir", "certificate", "private_key"):
            values[key] = Path(_expect(value, str, key))
        elif key == "tls_required":
            values[key] = _expect(value, bool, key)
        elif key == "registration":
            values[key] = _registration(value)
        elif key == "strangers_policy":
            values[key] = _one_of(value, STRANGER_POLICIES, key)
        elif key in ("storage", "log_level"):
            values[key] = _expect(value, str, key)
        elif key == "modules":
            values["modules"] = tuple(
                _expect(m, str, "modules") for m in _expect(value, list, "modules")
            )
        elif key == "limits":
            limit_fields = {f.name: f.type for f in dataclasses.fields(Limits)}
            parsed = {}
            for lkey, lvalue in _expect(value, dict, "limits").items():
                lkey = lkey.replace("-", "_")
                if lkey not in limit_fields:
                    raise ConfigError(f"unknown limit '{lkey}' in {path}")
                kind = (int, float) if limit_fields[lkey] == "float" else int
                parsed[lkey] = _expect(lvalue, kind, f"limits.{lkey}")
            values["limits"] = _check_limits(Limits(**parsed))
    data_dir = overrides.pop("data_dir", None)
    domain = overrides.pop("domain", None)
    host = overrides.pop("host", None)
    port = overrides.pop("port", None)
    if overrides:
        raise TypeError(f"unknown overrides: {sorted(overrides)}")
    if data_dir is not None:
        values["data_dir"] = Path(data_dir)
    if domain is not None:
        values["domains"] = (domain,)
    if host is not None or port is not None:
        base = values.get("listeners", (Listener(),))[0]
        values["listeners"] = (
            Listener(
                host=host if host is not None else base.host,
                port=port if port is not None else base.port,
            ),
        )
    config = Config(**values)
    if not config.domains:
        raise ConfigError("at least one domain must be configured")
    if (config.certificate is None) != (config.private_key is None):
        raise ConfigError(
            "set both 'certificate' and 'private_key', or neither (for a self-signed one)"
        )
    for listener in config.listeners:
        if not 0 <= listener.port <= 65535:
            raise ConfigError(f"port {listener.port} is out of range")
    return config
