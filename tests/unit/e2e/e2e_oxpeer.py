"""Build and drive oxpeer (oxpeer/main.go), a go-sendxmpp-style OX peer on gopenpgp 2.5.2.

go-sendxmpp itself needs a live XMPP server for OX; oxpeer runs its message flow offline
with the same library, from the Debian packages golang-go,
golang-github-protonmail-gopenpgp-dev and golang-github-beevik-etree-dev.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).parent / "oxpeer" / "main.go"
SYSTEM_GOPATH = Path("/usr/share/gocode")
_GOPENPGP = SYSTEM_GOPATH / "src/github.com/ProtonMail/gopenpgp"
_ETREE = SYSTEM_GOPATH / "src/github.com/beevik/etree"
_PACKAGES = "golang-go golang-github-protonmail-gopenpgp-dev golang-github-beevik-etree-dev"
BUILD_TIMEOUT = 300.0
RUN_TIMEOUT = 30.0


class OxpeerError(Exception):
    """oxpeer refused a request; the message is its stderr."""


def missing() -> str | None:
    """Say what is not installed to build oxpeer, or None when everything is there."""
    if shutil.which("go") is None or not _GOPENPGP.is_dir() or not _ETREE.is_dir():
        return f"oxpeer needs the Debian packages {_PACKAGES}"
    return None


def build(workdir: Path) -> Path:
    """Compile oxpeer in `workdir` (GOPATH mode, offline) and return the binary's path."""
    gopath = workdir / "gopath"
    # Debian installs gopenpgp without its /v2 module suffix; GOPATH mode needs the path.
    v2 = gopath / "src/github.com/ProtonMail/gopenpgp/v2"
    v2.parent.mkdir(parents=True, exist_ok=True)
    if not v2.exists():
        v2.symlink_to(_GOPENPGP)
    package = gopath / "src/oxpeer"
    package.mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCE, package / "main.go")
    binary = workdir / "oxpeer"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": f"{gopath}:{SYSTEM_GOPATH}"}
    env.setdefault("GOFLAGS", "")
    if not any(name in env for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = str(workdir / "gocache")
    subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=package,
        env=env,
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    return binary


def run(
    binary: Path, command: str, *, unix_time: int | None = None, **request: str
) -> dict[str, str]:
    """Run one oxpeer command with `request` as its JSON input; return its JSON output."""
    env = dict(os.environ)
    if unix_time is not None:
        env["OXPEER_UNIX_TIME"] = str(unix_time)
    done = subprocess.run(
        [str(binary), command],
        input=json.dumps(request).encode(),
        capture_output=True,
        env=env,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise OxpeerError(done.stderr.decode(errors="replace").strip())
    result: dict[str, str] = json.loads(done.stdout)
    return result
