"""Draw the server stream's transition table as a Mermaid state diagram.

``spec/stream-states.md`` is this module's output, regenerated with::

    python -m ironwall.proto.stream_diagram > spec/stream-states.md

and a test fails when the committed file differs from what the table gives.
"""

from __future__ import annotations

import sys

from ironwall.proto.stream_states import INITIAL, TRANSITIONS, State

__all__ = ["COMMAND", "render"]

#: The command that regenerates the committed diagram, from the repository's root.
COMMAND = "python -m ironwall.proto.stream_diagram > spec/stream-states.md"

_INTRO = f"""\
# Server stream states

The states of a client-to-server stream on the Ironwall server and every legal step
between them: the table `TRANSITIONS` in `src/ironwall/proto/stream_states.py`, which
`ServerStream` follows. Edges are labelled with the trigger that takes them; anything
else is a `LocalProtocolError`. What each state accepts from the client is `_ACCEPTS`
in `src/ironwall/proto/stream.py`; the stream errors for the rest are in `spec/server.md`.

Generated from the table; do not edit. Regenerate it from the repository's root with

    {COMMAND}
"""


def render() -> str:
    """The whole of ``spec/stream-states.md``, from the transition table."""
    lines = ["```mermaid", "stateDiagram-v2"]
    # Mermaid ids may not hold hyphens, so the enum names are the ids and the values
    # (the names used in errors and logs) the labels.
    lines += [f'    state "{state.value}" as {state.name}' for state in State]
    lines.append(f"    [*] --> {INITIAL.name}")
    lines += [
        f"    {state.name} --> {target.name}: {trigger.value}"
        for (state, trigger), target in TRANSITIONS.items()
    ]
    lines += [f"    {State.CLOSED.name} --> [*]", "```"]
    return _INTRO + "\n" + "\n".join(lines) + "\n"


def main() -> None:
    """Write the diagram document to standard output."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
