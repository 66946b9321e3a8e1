"""The contact list: requests to answer first, then contacts with presence, unread count
and key badge."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message as UIMessage
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from ironwall.client.events import Contact
from ironwall.client.text import visible
from ironwall.tui.words import trust_badge

__all__ = ["REQUEST_PREFIX", "ContactList"]

#: Option ids of subscription requests start with this (contacts' ids are their JIDs).
REQUEST_PREFIX = "request:"


def contact_text(contact: Contact, *, typing: bool = False) -> Text:
    """A contact's entry: presence dot, address, unread count, then its key badge."""
    text = Text()
    text.append("● " if contact.online else "○ ", style="green" if contact.online else "dim")
    text.append(visible(contact.jid), style="bold" if contact.unread else "")
    if contact.unread:
        text.append(f" ({contact.unread})", style="bold yellow")
    text.append("\n  ")
    text.append_text(trust_badge(contact))
    if typing:
        text.append("  typing…", style="italic dim")
    elif contact.subscription in ("none", "from") and contact.request_sent:
        text.append("  awaiting approval", style="dim")
    return text


def request_text(jid: str) -> Text:
    """An unanswered subscription request."""
    text = Text("✉ ", style="bold yellow")
    text.append(visible(jid), style="bold")
    text.append("\n  wants to be your contact", style="yellow")
    return text


class ContactList(OptionList):
    """Contacts and requests; selecting one opens its conversation (or answers it)."""

    class Chosen(UIMessage):
        """A contact was chosen (``jid``), or a request (``request`` is True)."""

        def __init__(self, jid: str, *, request: bool) -> None:
            super().__init__()
            self.jid = jid
            self.request = request

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.current: str | None = None

    def show(self, contacts: list[Contact], requests: list[str], typing: set[str]) -> None:
        """Redraw the list (keeping the highlighted entry)."""
        highlighted = self.highlighted_id
        options = [Option(request_text(jid), id=REQUEST_PREFIX + jid) for jid in requests]
        asking = set(requests)
        options += [
            Option(contact_text(c, typing=c.jid in typing), id=c.jid)
            for c in contacts
            if c.jid not in asking
        ]
        self.set_options(options)
        target = highlighted or self.current
        try:
            self.highlighted = self.get_option_index(target) if target else 0
        except OptionDoesNotExist:
            self.highlighted = 0
        if not options:
            self.highlighted = None

    @property
    def highlighted_id(self) -> str | None:
        """The id of the highlighted entry."""
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Open the chosen conversation (or the request's dialog)."""
        event.stop()
        option_id = event.option.id or ""
        if option_id.startswith(REQUEST_PREFIX):
            self.post_message(self.Chosen(option_id[len(REQUEST_PREFIX) :], request=True))
        else:
            self.post_message(self.Chosen(option_id, request=False))
