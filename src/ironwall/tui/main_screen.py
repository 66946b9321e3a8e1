"""The main screen: contacts on the left, the open conversation on the right.

It renders the session's events and calls its commands; every badge and mark comes from
what the session checked. Sending to a contact without a key asks first, and a changed or
revoked key stops sending until the user has decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Label, Static

from ironwall.client import ClientSession
from ironwall.client.errors import ClientError
from ironwall.client.events import (
    ChatState,
    ChatStateChanged,
    ConnectionChanged,
    ConnectionState,
    ContactChanged,
    ContactHasNoKey,
    Event,
    KeyChanged,
    KeyPinned,
    KeyRevoked,
    MessageReceived,
    MessageSent,
    MessageUpdated,
    PresenceChanged,
    SubscriptionRequested,
    SyncFinished,
)
from ironwall.client.text import visible
from ironwall.client.xmpp import IqFailed
from ironwall.e2e import E2EError, TrustState
from ironwall.tui.compose_box import ComposeBox
from ironwall.tui.contact_list import ContactList
from ironwall.tui.dialogs import (
    AddContactDialog,
    ConfirmDialog,
    KeyChangedDialog,
    KeyRevokedDialog,
    MessageDetails,
    PlaintextDialog,
    RequestDialog,
    SearchDialog,
)
from ironwall.tui.help_screen import HelpScreen
from ironwall.tui.message_list import FIRST_PAGE, OLDER_PAGE, MessageList
from ironwall.tui.verify_screen import VerifyScreen
from ironwall.tui.words import connection_text, trust_badge

__all__ = ["LAST_PEER_KEY", "MainScreen"]

#: Where the chat remembers the open conversation (in the encrypted local state).
LAST_PEER_KEY = "chat.last_peer"
#: After this long without a keystroke, "typing" becomes "paused" (XEP-0085 suggests 30 s;
#: shorter reads better).
_PAUSE_AFTER = 5.0
#: Batch contact-list redraws and read markers during a burst of events.
_DEBOUNCE = 0.1


class MainScreen(Screen[None]):
    """Contacts, the conversation, the compose box and the connection state."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "add_contact", "Add contact"),
        Binding("ctrl+t", "verify", "Verify"),
        Binding("ctrl+s", "search", "Search"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "app.quit", "Quit"),
        Binding("alt+up,ctrl+pageup", "switch(-1)", "Previous conversation", show=False),
        Binding("alt+down,ctrl+pagedown", "switch(1)", "Next conversation", show=False),
        Binding("f4", "plaintext_off", "Encrypted only", show=False),
        Binding("f8", "remove_contact", "Remove contact", show=False),
    ]
    #: The compose box has the focus whenever the screen is shown (and after dialogs).
    AUTO_FOCUS = "ComposeBox"
    DEFAULT_CSS = """
    MainScreen #body { height: 1fr; }
    MainScreen #sidebar { width: 26; border-right: solid $primary-darken-2; }
    MainScreen .heading { text-style: bold; padding: 0 1; background: $primary-darken-2; width: 100%; }
    MainScreen ContactList { height: 1fr; border: none; }
    MainScreen #chat { width: 1fr; }
    MainScreen #peer { height: auto; padding: 0 1; background: $primary-darken-2; }
    MainScreen MessageList { height: 1fr; border: none; }
    MainScreen #notice { height: auto; padding: 0 1; display: none; }
    MainScreen #notice.shown { display: block; }
    MainScreen #typing { height: 1; padding: 0 1; color: $text-muted; }
    MainScreen ComposeBox { height: 4; border: round $primary; }
    MainScreen #status-bar { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, session: ClientSession) -> None:
        super().__init__()
        self.session = session
        self.peer: str | None = None
        self.typing: set[str] = set()
        self._connection = ConnectionChanged(session.connection_state)
        self._contacts_timer: Timer | None = None
        self._status_timer: Timer | None = None
        self._read_timer: Timer | None = None
        self._pause_timer: Timer | None = None
        self._composing = False
        #: Set once the screen is taken down (the app quitting): later events are dropped.
        self._unmounted = False
        #: The changed keys the user was already asked about, per contact.
        self._asked_about: dict[str, tuple[str, ...]] = {}
        #: Events that came before the screen was mounted, shown once it is.
        self._early: list[Event] | None = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Label("Contacts", classes="heading")
                yield ContactList(id="contacts")
            with Vertical(id="chat"):
                yield Static("", id="peer")
                yield MessageList(id="messages")
                yield Static("", id="notice")
                yield Static("", id="typing")
                yield ComposeBox(id="compose")
        yield Static("", id="status-bar")
        yield Footer()

    def on_mount(self) -> None:
        """Open where the user left off: the last conversation, its compose box focused."""
        if self._gone:
            return
        self._redraw_contacts()
        self._redraw_status()
        contacts = [c.jid for c in self.session.contacts()]
        last = self.session.state.get(LAST_PEER_KEY)
        if last in contacts:
            self.open_conversation(last)
        elif contacts:
            self.open_conversation(contacts[0])
        else:
            self._redraw_peer()
        self.query_one(ComposeBox).focus()
        early, self._early = self._early or [], None
        for event in early:
            self.handle(event)

    # ---------------------------------------------------------- widgets

    @property
    def messages(self) -> MessageList:
        """The conversation."""
        return self.query_one(MessageList)

    @property
    def contact_list(self) -> ContactList:
        """The contact list."""
        return self.query_one(ContactList)

    def on_unmount(self) -> None:
        """The app is quitting: nothing more to show."""
        self._unmounted = True

    @property
    def _gone(self) -> bool:
        """Nothing more to show: the screen is down, or the session closed (the user quit
        between the unlock and this screen's mount; its history is closed with it)."""
        return self._unmounted or self.session.is_closing()

    def _redraw_contacts(self) -> None:
        self._contacts_timer = None
        if self._gone:
            return
        contact_list = self.contact_list
        contact_list.current = self.peer
        contact_list.show(self.session.contacts(), self.session.pending_requests(), self.typing)

    def _contacts_changed(self) -> None:
        if self._contacts_timer is None:
            self._contacts_timer = self.set_timer(_DEBOUNCE, self._redraw_contacts)

    def _status_changed(self) -> None:
        # The unread count is a query over the whole history: once per burst, not per message.
        if self._status_timer is None:
            self._status_timer = self.set_timer(_DEBOUNCE, self._redraw_status_later)

    def _redraw_status_later(self) -> None:
        self._status_timer = None
        if not self._gone:
            self._redraw_status()

    def _redraw_status(self) -> None:
        text = connection_text(self._connection)
        text.append(f"   {visible(self.session.jid)}", style="dim")
        unread = sum(self.session.unread_counts().values())
        if unread:
            text.append(f"   {unread} unread", style="bold yellow")
        self.query_one("#status-bar", Static).update(text)

    def _redraw_peer(self) -> None:
        header = self.query_one("#peer", Static)
        notice = self.query_one("#notice", Static)
        if self.peer is None:
            header.update(Text("No conversation open"))
            notice.update(
                Text("No contacts yet: press Ctrl+N to add one by their address.", "bold")
            )
            notice.add_class("shown")
            return
        contact = self.session.contact(self.peer)
        text = Text()
        text.append("● " if contact.online else "○ ", "green" if contact.online else "dim")
        text.append(visible(contact.jid), "bold")
        text.append("  ")
        text.append_text(trust_badge(contact))
        if contact.trust is TrustState.UNVERIFIED:
            text.append("  Ctrl+T to verify", "dim")
        header.update(text)
        warning = self._notice_for(contact.trust, contact.plaintext_allowed)
        notice.update(warning)
        notice.set_class(bool(warning.plain), "shown")

    def _notice_for(self, trust: TrustState, plaintext_allowed: bool) -> Text:
        jid = visible(self.peer or "")
        if trust is TrustState.CHANGED:
            return Text(
                f"⚠ {jid}'s key changed: nothing is sent until you compare fingerprints "
                "(Ctrl+T) or accept the new key.",
                "bold white on red",
            )
        if trust is TrustState.REVOKED:
            return Text(
                f"✖ {jid} revoked their key: their account was compromised. Reach them "
                "another way; they need a new account.",
                "bold white on red",
            )
        if trust is TrustState.NONE and plaintext_allowed:
            return Text(
                f"⚠ Messages to {jid} are sent NOT ENCRYPTED (your choice; F4 stops it).",
                "bold white on red",
            )
        if trust is TrustState.NONE:
            return Text(
                f"{jid} has no encryption key (yet): messages cannot be encrypted to them.",
                "bold yellow",
            )
        return Text()

    # ---------------------------------------------------- conversations

    def open_conversation(self, jid: str) -> None:
        """Show the conversation with ``jid`` (its newest page) and mark it read."""
        if self.peer is not None and self.peer != jid and self._composing:
            self._stop_composing(ChatState.ACTIVE)
        self.peer = jid
        self.session.state.set(LAST_PEER_KEY, jid)
        page = self.session.history(jid, limit=FIRST_PAGE + 1)
        more = len(page) > FIRST_PAGE
        self.messages.show(page[1:] if more else page, more_before=more)
        self.query_one("#typing", Static).update(self._typing_text())
        self._redraw_peer()
        self._mark_read()
        self._redraw_contacts()

    def action_switch(self, step: int) -> None:
        """Open the previous or next conversation in the list."""
        jids = [c.jid for c in self.session.contacts()]
        if not jids:
            return
        index = jids.index(self.peer) if self.peer in jids else -step
        self.open_conversation(jids[(index + step) % len(jids)])

    @on(ContactList.Chosen)
    def _chosen(self, event: ContactList.Chosen) -> None:
        if event.request:
            self._answer_request(event.jid)
        else:
            self.open_conversation(event.jid)
            self.query_one(ComposeBox).focus()

    @on(MessageList.NeedOlder)
    def _older(self) -> None:
        shown = self.messages.messages
        if self.peer is None or not shown:
            return
        page = self.session.history(self.peer, limit=OLDER_PAGE + 1, before_id=shown[0].id)
        more = len(page) > OLDER_PAGE
        self.messages.prepend(page[1:] if more else page, more_before=more)

    @on(MessageList.Inspect)
    def _inspect(self, event: MessageList.Inspect) -> None:
        self.app.push_screen(MessageDetails(event.message))

    def _mark_read(self) -> None:
        self._read_timer = None
        if self._gone:
            return
        looking = self.app.screen is self and getattr(self.app, "has_terminal_focus", True)
        if self.peer is not None and looking and self.session.unread_counts().get(self.peer):
            self.session.mark_read(self.peer)
            self._redraw_status()
            self._contacts_changed()

    def _read_soon(self) -> None:
        if self._read_timer is None:
            self._read_timer = self.set_timer(_DEBOUNCE, self._mark_read)

    def on_screen_resume(self) -> None:
        """Back from a dialog: what arrived meanwhile in the open conversation is read."""
        self._read_soon()

    # ----------------------------------------------------------- events

    def handle(self, event: Event) -> None:
        """Show one session event."""
        if self._gone:
            return
        if self._early is not None:
            self._early.append(event)
            return
        try:
            self._show(event)
        except NoMatches:
            # The app is quitting: its widgets go before the screen hears of it.
            if self.is_mounted and self.children:
                raise

    def _show(self, event: Event) -> None:
        if isinstance(event, ConnectionChanged):
            self._connection = event
            self._redraw_status()
            if event.state in (ConnectionState.ONLINE, ConnectionState.RESUMED):
                self._contacts_changed()
        elif isinstance(event, MessageReceived | MessageSent):
            message = event.message
            if message.peer == self.peer:
                self.messages.add(message)
                if isinstance(event, MessageReceived):
                    if message.peer in self.typing:
                        # Only then: every update of the line costs the screen a new layout.
                        self.typing.discard(message.peer)
                        self.query_one("#typing", Static).update(self._typing_text())
                    self._read_soon()
            if isinstance(event, MessageReceived) and message.unread:
                notify = getattr(self.app, "new_message", None)
                if notify is not None:
                    notify(message, shown=message.peer == self.peer)
            self._contacts_changed()
            self._status_changed()
        elif isinstance(event, MessageUpdated):
            if event.message.peer == self.peer:
                self.messages.update(event.message)
            self._contacts_changed()
        elif isinstance(event, PresenceChanged | ContactChanged | KeyPinned | ContactHasNoKey):
            self._contacts_changed()
            if event.jid == self.peer:
                self._redraw_peer()
            elif self.peer is None and isinstance(event, ContactChanged) and event.contact:
                self.open_conversation(event.jid)
        elif isinstance(event, SubscriptionRequested):
            self._contacts_changed()
            self.app.notify(
                f"{visible(event.jid)} wants to be your contact: choose them in the list.",
                title="Contact request",
                markup=False,
            )
        elif isinstance(event, KeyChanged):
            self._contacts_changed()
            if event.jid == self.peer:
                self._redraw_peer()
            # The same change can be announced twice (the key list's notification, then a
            # refresh): ask once; trying to send asks again.
            if self._asked_about.get(event.jid) != event.new:
                self._asked_about[event.jid] = event.new
                self._key_changed(event.jid, was_verified=event.was_verified)
        elif isinstance(event, KeyRevoked):
            self._contacts_changed()
            if event.jid == self.peer:
                self._redraw_peer()
            self.app.push_screen(KeyRevokedDialog(event.jid))
        elif isinstance(event, ChatStateChanged):
            if event.state is ChatState.COMPOSING:
                self.typing.add(event.jid)
            else:
                self.typing.discard(event.jid)
            if event.jid == self.peer:
                self.query_one("#typing", Static).update(self._typing_text())
            self._contacts_changed()
        elif isinstance(event, SyncFinished) and event.count:
            self.app.notify(f"{event.count} message(s) from your archive.", title="Synced")

    def _typing_text(self) -> Text:
        if self.peer in self.typing:
            return Text(f"{visible(self.peer or '')} is typing…", "italic")
        return Text("")

    # ------------------------------------------------------------ keys

    @work(group="keys")
    async def _key_changed(self, jid: str, *, was_verified: bool) -> None:
        if any(isinstance(s, KeyChangedDialog) and s.jid == jid for s in self.app.screen_stack):
            return
        answer = await self.app.push_screen_wait(KeyChangedDialog(jid, was_verified=was_verified))
        if answer == "verify":
            await self._verify(jid)
        elif answer == "accept":
            self._run(lambda: self.session.accept_key(jid))
            self.app.notify(
                "New key accepted (unverified): compare fingerprints when you can.",
                markup=False,
            )

    def action_verify(self) -> None:
        """Open the verification screen for the open conversation's contact."""
        if self.peer is not None:
            self.run_worker(self._verify(self.peer), group="keys")

    async def _verify(self, jid: str) -> None:
        try:
            await self.session.refresh_keys(jid)
        except (ClientError, IqFailed, E2EError) as exc:
            self.app.notify(
                str(exc), title="Could not read the key", severity="error", markup=False
            )
        contact = self.session.contact(jid)
        if not contact.fingerprints:
            self.app.notify(
                f"{visible(jid)} has no key to verify.", severity="warning", markup=False
            )
            return
        screen = VerifyScreen(
            self.session.jid, self.session.identity.fingerprint, jid, contact.fingerprints
        )
        if await self.app.push_screen_wait(screen):
            try:
                await self.session.verify(jid)
            except ClientError as exc:
                self.app.notify(str(exc), severity="error", markup=False)
                return
            self.app.notify(
                f"{visible(jid)} is verified, on all your devices.", title="Verified", markup=False
            )
        self._redraw_peer()

    def action_plaintext_off(self) -> None:
        """Stop sending unencrypted to the open conversation's contact."""
        if self.peer is not None and self.session.contact(self.peer).plaintext_allowed:
            self.session.allow_plaintext(self.peer, False)
            self.app.notify("Only encrypted messages will be sent.", markup=False)
            self._redraw_peer()

    # -------------------------------------------------------- contacts

    def action_add_contact(self) -> None:
        """Ask for an address and add it."""
        self.run_worker(self._add_contact(), group="contacts")

    async def _add_contact(self) -> None:
        jid = await self.app.push_screen_wait(AddContactDialog())
        if jid is None:
            return
        try:
            await self.session.add_contact(jid)
        except (ClientError, IqFailed, E2EError) as exc:
            self.app.notify(str(exc), title="Not added", severity="error", markup=False)
            return
        self.app.notify(
            f"Asked {visible(jid)} to approve you.", title="Contact added", markup=False
        )
        self.open_conversation(jid)
        self.query_one(ComposeBox).focus()

    @work(group="contacts")
    async def _answer_request(self, jid: str) -> None:
        answer = await self.app.push_screen_wait(RequestDialog(jid))
        try:
            if answer == "accept":
                await self.session.accept_contact(jid)
                self.open_conversation(jid)
            elif answer == "deny":
                self.session.deny_contact(jid)
        except (ClientError, IqFailed, E2EError) as exc:
            self.app.notify(str(exc), severity="error", markup=False)
        self._redraw_contacts()

    def action_remove_contact(self) -> None:
        """Remove the open conversation's contact (after asking)."""
        if self.peer is not None:
            self.run_worker(self._remove(self.peer), group="contacts")

    async def _remove(self, jid: str) -> None:
        question = f"Remove {visible(jid)} from your contacts? The history stays on this device."
        if await self.app.push_screen_wait(ConfirmDialog(question, "Remove")) != "yes":
            return
        try:
            await self.session.remove_contact(jid)
        except (ClientError, IqFailed) as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        self.peer = None
        self.session.state.set(LAST_PEER_KEY, None)
        self.messages.show([], more_before=False)
        self._redraw_peer()
        self._redraw_contacts()

    # --------------------------------------------------------- sending

    @on(ComposeBox.Submitted)
    def _submitted(self, event: ComposeBox.Submitted) -> None:
        if self.peer is None:
            self.app.notify("Add a contact first (Ctrl+N).", markup=False)
            return
        if event.text.strip():
            self._send(self.peer, event.text)

    @work(group="send")
    async def _send(self, jid: str, body: str) -> None:
        contact = self.session.contact(jid)
        if contact.trust is TrustState.CHANGED:
            self._key_changed(jid, was_verified=False)
            return
        if contact.trust is TrustState.REVOKED:
            self.app.push_screen(KeyRevokedDialog(jid))
            return
        if contact.trust is TrustState.NONE and not contact.plaintext_allowed:
            with_key = await self._refreshed(jid)
            if not with_key:
                if await self.app.push_screen_wait(PlaintextDialog(jid)) != "plaintext":
                    return
                self.session.allow_plaintext(jid, True)
        try:
            message = await self.session.send(jid, body)
        except (ClientError, E2EError) as exc:
            self.app.notify(str(exc), title="Not sent", severity="error", markup=False)
            return
        compose = self.query_one(ComposeBox)
        if compose.text == body:
            compose.clear()
        self._stop_composing(ChatState.ACTIVE)
        if message.peer == self.peer:
            self.messages.add(message)

    async def _refreshed(self, jid: str) -> bool:
        """Read the contact's keys once more before asking about plaintext."""
        try:
            trust = await self.session.refresh_keys(jid)
        except (ClientError, IqFailed, E2EError):
            return False
        return trust.state is not TrustState.NONE

    @on(ComposeBox.Changed)
    def _typed(self, event: ComposeBox.Changed) -> None:
        if self.peer is None:
            return
        if not event.text_area.text:
            self._stop_composing(ChatState.ACTIVE)
            return
        if not self._composing:
            self._composing = True
            self.session.set_chat_state(self.peer, ChatState.COMPOSING)
        if self._pause_timer is not None:
            self._pause_timer.stop()
        self._pause_timer = self.set_timer(
            _PAUSE_AFTER, lambda: self._stop_composing(ChatState.PAUSED)
        )

    def _stop_composing(self, state: ChatState) -> None:
        if self._pause_timer is not None:
            self._pause_timer.stop()
            self._pause_timer = None
        if self._composing and self.peer is not None:
            self.session.set_chat_state(self.peer, state)
        self._composing = False

    # ------------------------------------------------------------ other

    def action_search(self) -> None:
        """Search the open conversation."""
        if self.peer is not None:
            self.app.push_screen(SearchDialog(self.peer, self.session.search))

    def action_help(self) -> None:
        """Every key binding."""
        self.app.push_screen(HelpScreen())

    def _run(self, command: Callable[[], Any]) -> None:
        try:
            command()
        except ClientError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
        self._redraw_peer()
