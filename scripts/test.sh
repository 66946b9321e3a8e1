#!/usr/bin/env bash
# Install everything the tests need (Python packages into ./.venv, the Debian interop
# peers with apt-get when run as root), then lint, type-check and run the whole suite.
# Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
bash "$ROOT/scripts/install-peers.sh"
ensure_venv "test"
cd "$ROOT"
echo "== ruff"
"$VENV/bin/ruff" check src tests bench fuzz
"$VENV/bin/ruff" format --check src fuzz
echo "== mypy (strict on src/)"
"$VENV/bin/mypy"
echo "== pytest"
# Most tests wait on sockets and child processes, so four workers keep two cores busy.
exec "$VENV/bin/pytest" -n "${IRONWALL_TEST_WORKERS:-4}" --dist loadgroup "$@"
