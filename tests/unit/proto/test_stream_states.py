"""The stream's transition table: complete, the only way its state changes, and drawn.

``ironwall.proto.stream_states.TRANSITIONS`` is the whole state machine of
``ServerStream``; these tests hold the stream to it and the diagram to the table.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

from ironwall.proto import stream
from ironwall.proto.stream import LocalProtocolError, ServerStream, StreamOptions
from ironwall.proto.stream_diagram import COMMAND, render
from ironwall.proto.stream_states import INITIAL, TRANSITIONS, State, Trigger

DIAGRAM = Path(__file__).resolve().parents[3] / "spec" / "stream-states.md"


def _paths() -> dict[State, list[Trigger]]:
    """The shortest trigger sequence from the initial state to each reachable state."""
    paths = {INITIAL: []}
    queue = deque([INITIAL])
    while queue:
        state = queue.popleft()
        for (source, trigger), target in TRANSITIONS.items():
            if source is state and target not in paths:
                paths[target] = [*paths[state], trigger]
                queue.append(target)
    return paths


def _stream_in(state: State) -> ServerStream:
    """A stream moved to ``state`` by the table's own steps."""
    server = ServerStream(StreamOptions(domains=["localhost"]))
    for trigger in _paths()[state]:
        server._transition(trigger)
    assert server.state is state
    return server


# ------------------------------------------------------------------ the table


def test_every_state_is_reachable_from_the_initial_state() -> None:
    assert set(_paths()) == set(State)


def test_every_state_but_closed_can_close_and_closed_is_the_end() -> None:
    for state in State:
        if state is State.CLOSED:
            assert not [key for key in TRANSITIONS if key[0] is state]
        else:
            assert TRANSITIONS[state, Trigger.CLOSE] is State.CLOSED


def test_every_trigger_takes_some_step() -> None:
    assert {trigger for _state, trigger in TRANSITIONS} == set(Trigger)


@pytest.mark.parametrize(
    ("state", "trigger"),
    [(state, trigger) for (state, trigger) in TRANSITIONS],
    ids=lambda value: value.value,
)
def test_a_step_in_the_table_leads_where_the_table_says(state: State, trigger: Trigger) -> None:
    server = _stream_in(state)
    server._transition(trigger)
    assert server.state is TRANSITIONS[state, trigger]


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (state, trigger)
        for state in State
        for trigger in Trigger
        if (state, trigger) not in TRANSITIONS
    ],
    ids=lambda value: value.value,
)
def test_a_step_outside_the_table_is_a_local_protocol_error(state: State, trigger: Trigger) -> None:
    server = _stream_in(state)
    with pytest.raises(LocalProtocolError, match=f"^{trigger.value} in state {state.value}$"):
        server._transition(trigger)
    assert server.state is state
    assert server.data_to_send() == b""


# ---------------------------------------------- the state changes only there


def _state_assignments(source: str) -> list[tuple[str, int]]:
    """Where ``source`` assigns ``.state`` or ``._state``: (enclosing function, line)."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def enclosing(node: ast.AST) -> str:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node.name
        return "<module>"

    def flat(target: ast.expr) -> list[ast.expr]:
        if isinstance(target, ast.Tuple | ast.List):
            return [leaf for element in target.elts for leaf in flat(element)]
        if isinstance(target, ast.Starred):
            return flat(target.value)
        return [target]

    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
        ):
            if node.args[1].value in ("state", "_state"):
                found.append((enclosing(node), node.lineno))
            continue
        for leaf in (leaf for target in targets for leaf in flat(target)):
            if isinstance(leaf, ast.Attribute) and leaf.attr in ("state", "_state"):
                found.append((enclosing(node), node.lineno))
    return sorted(found, key=lambda place: place[1])


def test_the_checker_finds_every_kind_of_assignment() -> None:
    source = (
        "def f(self):\n"
        "    self.state = 1\n"
        "    self.x, self._state = 1, 2\n"
        "    setattr(self, 'state', 3)\n"
        "def g(self):\n"
        "    self.state: int = 4\n"
        "    self.states = 5\n"
    )
    assert _state_assignments(source) == [("f", 2), ("f", 3), ("f", 4), ("g", 6)]


def test_only_the_transition_method_changes_the_state() -> None:
    source = Path(stream.__file__).read_text()
    # The initial state is set once in __init__; every change after goes through the table.
    places = _state_assignments(source)
    assert [name for name, _line in places] == ["__init__", "_transition"], (
        f"stream.py assigns the state at {places}: change it only with "
        "ServerStream._transition and a row in stream_states.TRANSITIONS"
    )


# ------------------------------------------------------------------ the diagram


def test_the_committed_diagram_is_drawn_from_the_table() -> None:
    assert DIAGRAM.read_text() == render(), (
        f"spec/stream-states.md differs from the transition table; regenerate it: {COMMAND}"
    )
