"""Helpers shared by the CLI commands: errors as one line, secrets from stdin or a prompt."""

from __future__ import annotations

import getpass
import sys

__all__ = ["CommandError", "fail", "read_secret"]


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit code 1."""


def fail(message: str) -> int:
    """Print ``message`` as an error and return the exit code for failures."""
    print(f"ironwall: error: {message}", file=sys.stderr)
    return 1


def read_secret(prompt: str, *, confirm: bool) -> str:
    """Read a password: from a prompt on a terminal, else one line of standard input."""
    if sys.stdin is None:
        raise CommandError("no password given: pipe it on standard input or run in a terminal")
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise CommandError("no password given on standard input")
        return line.rstrip("\r\n")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Repeat it: ") != first:
        raise CommandError("the two entries differ; nothing was changed")
    return first
