"""``ironwall send``, ``listen`` and ``history``: messages from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ironwall.cli.client_common import (
    account_from,
    add_account_options,
    read_passphrase,
    run_client,
)
from ironwall.cli.common import CommandError
from ironwall.cli.render import connection_line, history_lines, key_notice, message_lines
from ironwall.client.addresses import check_body, contact_address
from ironwall.client.events import (
    ConnectionChanged,
    ConnectionState,
    Delivery,
    KeyChanged,
    KeyRevoked,
    Message,
    MessageReceived,
    MessageUpdated,
    SubscriptionRequested,
)
from ironwall.client.text import visible

__all__ = ["register"]

_SEND_CONFIRM_SECONDS = 20.0


def register(commands: Any) -> None:
    """Add ``send``, ``listen`` and ``history``."""
    send = commands.add_parser(
        "send",
        help="send an encrypted message",
        description=(
            "Sign and encrypt a message to JID and send it. Without TEXT, it is read from "
            "standard input. If the server cannot be reached, the message is kept and sent "
            "the next time Ironwall connects."
        ),
    )
    send.add_argument("jid", metavar="JID", help="the recipient, e.g. bob@localhost")
    send.add_argument(
        "text", metavar="TEXT", nargs="?", help="the message (default: standard input)"
    )
    add_account_options(send)
    send.set_defaults(run=_send)

    listen = commands.add_parser(
        "listen",
        help="show incoming messages as they arrive",
        description=(
            "Print decrypted, verified messages with sender, time and trust state, and a warning "
            "for any message that fails a check. Unread messages come first. Stays connected: "
            "after a drop it reconnects by itself and says so (on standard error)."
        ),
    )
    add_account_options(listen)
    listen.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    listen.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after SECONDS")
    listen.set_defaults(run=_listen)

    history = commands.add_parser(
        "history",
        help="show the conversation with a contact",
        description="The messages with JID that this device holds, oldest first (works offline).",
    )
    history.add_argument("jid", metavar="JID", help="the contact, e.g. bob@localhost")
    add_account_options(history)
    history.add_argument("--limit", type=int, default=50, metavar="N", help="how many (default 50)")
    history.set_defaults(run=_history)


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _send(args: argparse.Namespace) -> int:
    async def work() -> int:
        to = contact_address(args.jid)
        text = args.text if args.text is not None else sys.stdin.read()
        body = check_body(text.rstrip("\n"))
        account = account_from(args)
        async with account.open(read_passphrase(args), offline_ok=True) as session:
            events = session.events()
            message = await session.send(to, body)
            if not session.online:
                failure = session.connection.failure
                _note(f"The server cannot be reached now: {visible(str(failure or 'offline'))}.")
                print(
                    f"Kept for {to}: it goes out the next time Ironwall connects "
                    "(for example 'ironwall listen', or another 'ironwall send')."
                )
                return 0
            final = await _delivery(events, message)
        if final is not None and final.delivery is Delivery.FAILED:
            raise CommandError(f"the message to {to} was not sent: {final.detail}")
        if final is None:
            print(f"Sent to {to} (the server has not confirmed it yet; it is retried if needed).")
        else:
            print(f"Sent to {to}.")
        return 0

    return run_client(work)


async def _delivery(events: Any, message: Message) -> Message | None:
    """The message once the server took it (or refused it); None if no answer in time."""
    if message.delivery not in (Delivery.PENDING, None):
        return message
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SEND_CONFIRM_SECONDS
    while (remaining := deadline - loop.time()) > 0:
        event = await events.next(remaining)
        if event is None:
            return None
        if (
            isinstance(event, MessageUpdated)
            and event.message.id == message.id
            and event.message.delivery is not Delivery.PENDING
        ):
            return event.message
    return None


def _listen(args: argparse.Namespace) -> int:
    async def work() -> int:
        account = account_from(args)
        seen = 0
        shown: set[int] = set()

        def show(message: Message) -> None:
            nonlocal seen
            for line in message_lines(message):
                print(line, flush=True)
            shown.add(message.id)
            seen += 1

        async with account.open(read_passphrase(args), available=True, offline_ok=True) as session:
            # What happened while starting is in the unread messages and the state below.
            events = session.events(replay=False)
            if not session.online:
                failure = session.connection.failure
                _note(f"Offline ({visible(str(failure or 'no connection'))}); trying again...")
            loop = asyncio.get_running_loop()
            deadline = None if args.timeout is None else loop.time() + args.timeout
            for message in session.state.unread():
                if args.count is not None and seen >= args.count:
                    break
                show(message)
                session.mark_read(message.peer)
            while args.count is None or seen < args.count:
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    _note(f"Stopped listening after {args.timeout:g} s ({seen} message(s) shown).")
                    break
                event = await events.next(remaining)
                if event is None:
                    continue
                if isinstance(event, MessageReceived) and event.message.id not in shown:
                    show(event.message)
                    session.mark_read(event.message.peer)
                elif isinstance(event, ConnectionChanged):
                    _note(connection_line(event))
                    if event.state is ConnectionState.OFFLINE and event.retry_in is None:
                        raise CommandError(f"cannot stay connected: {event.reason}")
                elif isinstance(event, KeyChanged | KeyRevoked):
                    _note(key_notice(event))
                elif isinstance(event, SubscriptionRequested):
                    jid = visible(event.jid)
                    _note(
                        f"{jid} wants to be your contact: 'ironwall contacts accept {jid}' or 'deny'"
                    )
        return 0

    return run_client(work)


def _history(args: argparse.Namespace) -> int:
    async def work() -> int:
        peer = contact_address(args.jid)
        if args.limit < 1:
            raise CommandError("--limit must be at least 1")
        account = account_from(args)
        _identity, state, _login = await account.unlock(read_passphrase(args))
        try:
            messages = state.history(peer, limit=args.limit)
            if not messages:
                print(f"No messages with {peer} on this device.")
            for message in messages:
                for line in history_lines(message):
                    print(line)
            state.mark_read(peer)
        finally:
            state.close()
        return 0

    return run_client(work)
