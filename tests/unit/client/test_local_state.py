"""The client's local history (`LocalState`, an SQLCipher file): paging a conversation
in the order its messages were written, and unread counts, each read through an index
(the chat asks for them on every redraw and every page)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ironwall.client.events import Direction, MessageStatus
from ironwall.client.state import LocalState
from ironwall.e2e import Identity

KEY = Path(__file__).parents[2] / "tui" / "keys" / "alice.key"
BOB, CAROL = "bob@localhost", "carol@localhost"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[LocalState]:
    local = LocalState(tmp_path / "state.db", Identity.import_openpgp(KEY.read_bytes()))
    try:
        yield local
    finally:
        local.close()


def _add(state: LocalState, peer: str, body: str, sent_at: float, *, unread: bool = False) -> int:
    message = state.add_message(
        peer, Direction.IN, body, sent_at, MessageStatus.VERIFIED, unread=unread
    )
    assert message is not None
    return message.id


def _pages(state: LocalState, peer: str, size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    before: int | None = None
    while page := state.history(peer, limit=size, before_id=before):
        pages.append([m.body or "" for m in page])
        before = page[0].id
        assert len(pages) < 100, "paging does not end"
    return pages


def test_pages_follow_the_time_written_also_for_messages_that_came_late(
    state: LocalState,
) -> None:
    """A message read from the archive after newer ones arrived is shown where it was
    written; paging back from the newest gives every message once, in that order."""
    for n in range(25):
        _add(state, BOB, f"b{n:02}", 1000.0 + n)
        _add(state, CAROL, f"c{n:02}", 1000.0 + n)
    _add(state, BOB, "late", 1002.5)  # arrives last, written between b02 and b03
    _add(state, BOB, "same-time", 1010.0)  # the same second as b10: arrival decides

    pages = _pages(state, BOB, 10)

    expected = [f"b{n:02}" for n in range(25)]
    expected.insert(3, "late")
    expected.insert(expected.index("b10") + 1, "same-time")
    assert [body for page in reversed(pages) for body in page] == expected
    assert [len(page) for page in pages] == [10, 10, 7]
    assert pages[0][-1] == "b24"


def test_a_page_before_a_message_of_another_conversation_is_that_conversation_only(
    state: LocalState,
) -> None:
    for n in range(5):
        _add(state, BOB, f"b{n}", 1000.0 + n)
    carol = _add(state, CAROL, "c", 1003.5)
    assert [m.body for m in state.history(BOB, before_id=carol)] == ["b0", "b1", "b2", "b3"]


def test_unread_counts_and_marking_read(state: LocalState) -> None:
    for n in range(4):
        _add(state, BOB, f"b{n}", 1000.0 + n, unread=True)
    last_carol = 0
    for n in range(3):
        last_carol = _add(state, CAROL, f"c{n}", 1000.0 + n, unread=n != 1)
    assert state.unread_counts() == {BOB: 4, CAROL: 2}

    read = state.mark_read(BOB)
    assert [m.body for m in read] == ["b0", "b1", "b2", "b3"]
    assert state.unread_counts() == {CAROL: 2}
    assert state.mark_read(CAROL, up_to=last_carol - 1) != []
    assert state.unread_counts() == {CAROL: 1}
    assert state.mark_read() != []
    assert state.unread_counts() == {}


def test_the_chats_queries_read_an_index_and_sort_nothing(state: LocalState) -> None:
    """What the chat asks on every page and redraw: without the indexes SQLite reads and
    sorts the whole history (tens of milliseconds at 10,000 messages, a stall). The
    statements are the ones `LocalState` runs, caught by SQLite's trace hook."""
    for n in range(50):
        _add(state, BOB, f"b{n}", 1000.0 + n, unread=n % 2 == 0)
    statements: list[str] = []
    state._db.set_trace_callback(statements.append)
    newest = state.history(BOB, limit=20)
    state.history(BOB, limit=20, before_id=newest[0].id)
    state.unread_counts()
    state._db.set_trace_callback(None)

    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3
    for statement in selects:
        plan = " | ".join(
            str(row[-1]) for row in state._db.execute(f"EXPLAIN QUERY PLAN {statement}")
        )
        assert "INDEX messages_time" in plan or "INDEX messages_unread" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
