#!/usr/bin/env bash
# Install Ironwall into ./.venv and run the server on embedded defaults
# (domain localhost, 127.0.0.1:5222, SQLite and a self-signed certificate in ./ironwall-data).
# Extra arguments go to `ironwall server` (see `--help`).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ensure_venv
exec "$VENV/bin/ironwall" server "$@"
