"""The Ironwall client: an account on this device and its end-to-end encrypted session.

- `Account` (``account.py``): set up, unlock, and the lifecycle (create, log in on a new
  device, change the passphrase, recover, revoke, delete).
- `ClientSession` (``session.py``): the event API every user interface stands on — events
  (``events.py``) and commands.
- ``text.py``: showing text from the network safely; ``addresses.py``: checking what the
  user typed; ``errors.py``: the typed errors, each one line for the user.
"""

from ironwall.client.account import Account, list_accounts, require_account
from ironwall.client.session import ClientSession, EventStream

__all__ = ["Account", "ClientSession", "EventStream", "list_accounts", "require_account"]
