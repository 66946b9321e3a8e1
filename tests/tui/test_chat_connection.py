"""The connection drops and comes back: the chat says so, and what was written meanwhile
waits as pending and is delivered on reconnect."""

from __future__ import annotations

from ironwall.client.events import Delivery
from ironwall.server.app import Server
from ironwall.server.config import Listener
from ironwall.tui.compose_box import ComposeBox
from support.chat_pilot import SIZE, chat_app, main_screen, shown, status_bar, until
from support.client_world import PASSPHRASE, World
from support.server import make_config, server_port
from support.sessions import next_message


async def test_messages_written_offline_are_sent_when_the_server_is_back(
    chat_world: World, tmp_path: object
) -> None:
    alice, bob = await chat_world.create("alice", "bob")
    await chat_world.befriend("alice", "bob")
    port = server_port(chat_world.server)
    app = chat_app(alice)
    async with app.run_test(size=SIZE) as pilot:
        screen = await main_screen(pilot)
        await chat_world.server.stop()
        await until(pilot, lambda: "offline" in status_bar(screen), "offline in the status bar")
        assert "trying again" in status_bar(screen)
        screen.query_one(ComposeBox).insert("written while offline")
        await pilot.press("enter")
        await until(pilot, lambda: len(shown(screen)) == 1, "the message, shown as pending")
        assert shown(screen)[0].delivery is Delivery.PENDING
        assert "◷ pending" in str(screen.messages.get_option_at_index(1).prompt)

        config = make_config(chat_world.tmp / "server", listeners=(Listener("127.0.0.1", port),))
        again = Server(config)
        await again.start()
        try:
            await until(pilot, lambda: "online" in status_bar(screen), "online again", 60)
            await until(
                pilot,
                lambda: shown(screen)[0].delivery is not Delivery.PENDING,
                "the server took it",
            )
            async with bob.open(PASSPHRASE, available=True) as bob_session:
                heard = await next_message(bob_session)
                assert heard.body == "written while offline"
                await until(
                    pilot,
                    lambda: shown(screen)[0].delivery is Delivery.DELIVERED,
                    "delivered, once bob's client confirmed it",
                )
        finally:
            await again.stop()
