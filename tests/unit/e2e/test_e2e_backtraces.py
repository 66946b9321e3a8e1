"""pysequoia's errors take no Rust backtrace, whatever RUST_BACKTRACE says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = "import os, ironwall.e2e; print(os.environ.get('RUST_LIB_BACKTRACE'))"


@pytest.mark.parametrize(("preset", "expected"), [(None, "0"), ("1", "1")])
def test_library_backtraces_are_off_unless_asked_for(preset: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RUST_LIB_BACKTRACE"}
    env["RUST_BACKTRACE"] = "1"
    if preset is not None:
        env["RUST_LIB_BACKTRACE"] = preset
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == expected
