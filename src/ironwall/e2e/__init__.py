"""End-to-end encryption: the only place in Ironwall where crypto lives.

A small API in the spirit of Fernet and age; the normative format is spec/e2e.md.

- Keys: `Identity` (one's own secret key) and `PublicKey` (anyone's), opaque objects;
  `format_fingerprint` for showing fingerprints.
- Messages: `seal_message` and `open_message` (XEP-0373/0374 `<signcrypt>`); a message that
  must not be trusted raises `UntrustedMessage` carrying a `Reason`.
- The sealed secret key: `seal_secret_key`, `open_secret_key`, `change_passphrase` (and
  `*_async` variants for event loops), `check_passphrase`, `new_recovery_code`; the
  account password derived from the passphrase, `derive_login_password`.
- Trust: `ContactTrust` and the events it applies; the `ReplayCache` protocol.
- The device: `open_local_database` (the client's state, encrypted at rest with a key
  derived from the identity), `seal_private_record` / `open_private_record` (data one's
  own devices share through the server), and the account's `revocation_token`.

Sealing and opening a message take about 0.2 ms each on a busy CPU (about three times
that on an idle one) and may run on an event loop; the secret-key functions take about
half a second by design: use their async variants.
"""

from ironwall.e2e import _backtraces  # noqa: F401  (before anything calls pysequoia)
from ironwall.e2e.derived import revocation_token, revocation_verifier
from ironwall.e2e.errors import (
    E2EError,
    InvalidKey,
    KeyProblem,
    KeyUnusable,
    Reason,
    SealedKeyError,
    UntrustedMessage,
    WeakPassphrase,
    WrongPassphrase,
)
from ironwall.e2e.keys import DEFAULT_VALIDITY, Identity, PublicKey, format_fingerprint
from ironwall.e2e.local_db import LocalStateError, open_local_database
from ironwall.e2e.login import derive_login_password, derive_login_password_async
from ironwall.e2e.message import (
    FUTURE_TOLERANCE,
    MAX_BODY_BYTES,
    OpenedMessage,
    SealedMessage,
    open_message,
    seal_message,
)
from ironwall.e2e.passphrase import (
    PassphraseStrength,
    check_passphrase,
    new_recovery_code,
    passphrase_strength,
)
from ironwall.e2e.passphrase import parse_recovery_code as _parse_recovery_code
from ironwall.e2e.private_record import InvalidRecord, open_private_record, seal_private_record
from ironwall.e2e.replay import REPLAY_WINDOW, MemoryReplayCache, ReplayCache
from ironwall.e2e.secretkey import (
    change_passphrase,
    change_passphrase_async,
    open_secret_key,
    open_secret_key_async,
    seal_secret_key,
    seal_secret_key_async,
)
from ironwall.e2e.trust import (
    ContactTrust,
    KeyRevoked,
    KeysAnnounced,
    TrustError,
    TrustEvent,
    TrustState,
    UserAcceptedChange,
    UserVerified,
)


def is_recovery_code(text: str) -> bool:
    """Whether `text` has the form of a recovery code (so it opens the recovery slot)."""
    return _parse_recovery_code(text) is not None


__all__ = [
    "DEFAULT_VALIDITY",
    "FUTURE_TOLERANCE",
    "MAX_BODY_BYTES",
    "REPLAY_WINDOW",
    "ContactTrust",
    "E2EError",
    "Identity",
    "InvalidKey",
    "InvalidRecord",
    "KeyProblem",
    "KeyRevoked",
    "KeyUnusable",
    "KeysAnnounced",
    "LocalStateError",
    "MemoryReplayCache",
    "OpenedMessage",
    "PassphraseStrength",
    "PublicKey",
    "Reason",
    "ReplayCache",
    "SealedKeyError",
    "SealedMessage",
    "TrustError",
    "TrustEvent",
    "TrustState",
    "UntrustedMessage",
    "UserAcceptedChange",
    "UserVerified",
    "WeakPassphrase",
    "WrongPassphrase",
    "change_passphrase",
    "change_passphrase_async",
    "check_passphrase",
    "derive_login_password",
    "derive_login_password_async",
    "format_fingerprint",
    "is_recovery_code",
    "new_recovery_code",
    "open_local_database",
    "open_message",
    "open_private_record",
    "open_secret_key",
    "open_secret_key_async",
    "passphrase_strength",
    "revocation_token",
    "revocation_verifier",
    "seal_message",
    "seal_private_record",
    "seal_secret_key",
    "seal_secret_key_async",
]
