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

Sealing and opening a message take about 0.2 ms each on a busy CPU (about three times
that on an idle one) and may run on an event loop; the secret-key functions take about
half a second by design: use their async variants.
"""

from ironwall.e2e import _backtraces  # noqa: F401  (before anything calls pysequoia)
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
from ironwall.e2e.login import derive_login_password, derive_login_password_async
from ironwall.e2e.message import (
    FUTURE_TOLERANCE,
    MAX_BODY_BYTES,
    OpenedMessage,
    SealedMessage,
    open_message,
    seal_message,
)
from ironwall.e2e.passphrase import check_passphrase, new_recovery_code
from ironwall.e2e.replay import MemoryReplayCache, ReplayCache
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

__all__ = [
    "DEFAULT_VALIDITY",
    "FUTURE_TOLERANCE",
    "MAX_BODY_BYTES",
    "ContactTrust",
    "E2EError",
    "Identity",
    "InvalidKey",
    "KeyProblem",
    "KeyRevoked",
    "KeyUnusable",
    "KeysAnnounced",
    "MemoryReplayCache",
    "OpenedMessage",
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
    "new_recovery_code",
    "open_message",
    "open_secret_key",
    "open_secret_key_async",
    "seal_message",
    "seal_secret_key",
    "seal_secret_key_async",
]
