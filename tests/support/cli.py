"""Run the ``ironwall`` command line as a user would, for tests."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CLIUser:
    """One person with one device: a home directory and a passphrase file."""

    jid: str
    home: Path
    passphrase: str

    @property
    def passphrase_file(self) -> Path:
        # One file per passphrase: the same device may be driven with a wrong one, or with
        # a new one after a change.
        tag = hashlib.sha256(self.passphrase.encode()).hexdigest()[:8]
        path = self.home.parent / f"{self.home.name}.{tag}.passphrase"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.passphrase + "\n", encoding="utf-8")
            path.chmod(0o600)
        return path

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """``ironwall ARGS --home HOME --passphrase-file FILE`` as a subprocess."""
        return ironwall(
            *args,
            "--home",
            str(self.home),
            "--passphrase-file",
            str(self.passphrase_file),
            stdin=stdin,
            timeout=timeout,
        )


def ironwall(
    *args: str, stdin: str | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``ironwall`` with ``args``; never raises on a non-zero exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRONWALL_")}
    return subprocess.run(
        [sys.executable, "-m", "ironwall.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
