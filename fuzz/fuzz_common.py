"""Shared by the fuzz harnesses: atheris set-up, input framing, the fixed test material.

Every harness is a script with a ``test_one_input(data: bytes) -> None`` that raises only
when it finds a bug. Run as a script it becomes an atheris (libFuzzer) fuzzer with
Ironwall's modules instrumented for coverage; imported (by the regression tests), it is
plain Python and atheris need not be installed.

Inputs are plain bytes with a little framing, so seeds can be written by hand and read in
a hex dump: ``0xFF`` never occurs in UTF-8, so it separates the chunks or fields of an
input (``SEPARATOR``). fuzz/make_corpus.py writes the seeds.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn
from xml.etree.ElementTree import Element

__all__ = [
    "CORPUS_DIR",
    "FUZZ_DIR",
    "REPO_DIR",
    "SEPARATOR",
    "canonical",
    "fuzz",
    "instrumented",
    "vector_message",
    "vectors",
]

FUZZ_DIR = Path(__file__).resolve().parent
REPO_DIR = FUZZ_DIR.parent
CORPUS_DIR = FUZZ_DIR / "corpus"
SEPARATOR = b"\xff"
"""Separates chunks or fields of an input; never part of UTF-8 text."""


def instrumented(module_name: str, *extra: str) -> contextlib.AbstractContextManager[Any]:
    """Instrument ``ironwall`` (and ``extra`` packages) imported inside this block.

    Only when the harness runs as a fuzzer (``module_name == "__main__"``): imported by a
    test, the harness must leave the modules as they are.
    """
    if module_name != "__main__":
        return contextlib.nullcontext()
    atheris = _atheris()
    return atheris.instrument_imports(include=["ironwall", *extra])  # type: ignore[no-any-return]


def fuzz(test_one_input: Callable[[bytes], None]) -> NoReturn:
    """Run libFuzzer over ``test_one_input`` with the command line's libFuzzer flags."""
    atheris = _atheris()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
    raise SystemExit(0)  # atheris.Fuzz() exits by itself; this only satisfies NoReturn


def _atheris() -> Any:
    try:
        return importlib.import_module("atheris")
    except ImportError:
        raise SystemExit(
            "the fuzz harnesses need atheris: .venv/bin/pip install 'atheris>=3'"
        ) from None


def canonical(node: Element) -> tuple[Any, ...]:
    """A comparable form of an element tree: names, attributes, text, tails, children.

    ``None`` and ``""`` text are the same thing on the wire, so both read as ``""``.
    """
    return (
        node.tag,
        sorted(node.attrib.items()),
        node.text or "",
        tuple((canonical(child), child.tail or "") for child in node),
    )


@functools.cache
def vectors() -> dict[str, Any]:
    """spec/vectors/e2e-v1.json: fixed identities, sealed messages and a sealed key."""
    loaded: dict[str, Any] = json.loads((REPO_DIR / "spec/vectors/e2e-v1.json").read_text())
    return loaded


def vector_message(name: str) -> bytes:
    """The raw OpenPGP bytes of the vector message called ``name``."""
    for message in vectors()["messages"]:
        if message["name"] == name:
            return base64.b64decode(message["text"])
    raise KeyError(name)
