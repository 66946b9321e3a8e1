"""Every fuzz harness fuzzes for a few seconds and finds nothing.

This is the bounded CI run of the fuzzers (fuzz/run.py, about 3 s per target, two at a
time). It needs atheris: without it the test is skipped locally, but in CI (``CI=true``)
it runs, and fails with a message saying to install atheris.
"""

from __future__ import annotations

import importlib.util
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ_DIR = Path(__file__).resolve().parents[3] / "fuzz"
SECONDS_PER_TARGET = 3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("atheris") is None and os.environ.get("CI") != "true",
        reason="atheris is not installed (pip install atheris)",
    ),
]


def test_every_harness_fuzzes_briefly_without_a_finding(tmp_path: Path) -> None:
    crashes = tmp_path / "crashes"
    run = subprocess.run(
        [
            sys.executable,
            str(FUZZ_DIR / "run.py"),
            f"--seconds={SECONDS_PER_TARGET}",
            "--jobs=2",
            f"--work-dir={tmp_path / 'work'}",
            f"--crash-dir={crashes}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    logs = "".join(log.read_text(errors="replace")[-3000:] for log in tmp_path.glob("work/*.log"))
    assert run.returncode == 0, run.stdout + run.stderr + logs
    assert not list(crashes.iterdir())
    rows = re.findall(r"^(\w+)\s+\d+\s+(\d+)\s+\d+\s+(\d+)", run.stdout, re.MULTILINE)
    targets = runpy.run_path(str(FUZZ_DIR / "run.py"))["TARGETS"]
    assert sorted(name for name, _, _ in rows) == sorted(targets), run.stdout
    for name, executions, cov in rows:
        assert int(executions) > 0, (name, run.stdout)
        assert int(cov) > 0, (name, run.stdout)
