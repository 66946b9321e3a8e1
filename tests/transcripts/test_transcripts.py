"""Every transcript in this directory, each against a fresh real server (see ``runner.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.server import running_server
from transcripts.runner import play

TRANSCRIPTS = sorted(Path(__file__).parent.glob("*.xml"))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[path.stem for path in TRANSCRIPTS])
async def test_transcript(path: Path, tmp_path: Path) -> None:
    # Registration open for every transcript, so that register.xml needs no config of its own.
    async with running_server(tmp_path / "server", registration=True) as server:
        await play(path, server)
