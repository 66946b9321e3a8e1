#!/usr/bin/env bash
# Install the third-party XMPP peers that tests/interop drives (Debian packages):
# go-sendxmpp, prosody, ejabberd. Their system services are never left running:
# the tests start private instances on loopback.
#
# Idempotent and quick when everything is installed. Needs root (uses sudo if
# available); without either it says what to install and exits 0, so developers
# can still run the rest of the test suite. APT_TIMEOUT (seconds, default 600)
# bounds each apt-get call.
set -euo pipefail

# golang-go and the two Go libraries build tests/unit/e2e/oxpeer, a go-sendxmpp-style OX peer.
PACKAGES=(go-sendxmpp prosody ejabberd golang-go golang-github-protonmail-gopenpgp-dev golang-github-beevik-etree-dev)
APT_TIMEOUT=${APT_TIMEOUT:-600}
POLICY=/usr/sbin/policy-rc.d

say() { printf 'install-peers: %s\n' "$*"; }

installed() {
    dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'
}

versions() {
    dpkg-query -W -f '  ${Package} ${Version}\n' "${PACKAGES[@]}"
}

if ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then
    say "no dpkg/apt-get here: install ${PACKAGES[*]} by other means to run the interop tests"
    exit 0
fi

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
    say "all peers installed:"
    versions
    exit 0
fi

if ((EUID != 0)); then
    if command -v sudo >/dev/null; then
        say "not root: re-running with sudo"
        exec sudo -- "$0" "$@"
    fi
    say "not root and no sudo: to run the interop tests, as root run:"
    say "  apt-get update && apt-get install --no-install-recommends ${missing[*]}"
    exit 0
fi

# policy-rc.d exiting 101 makes invoke-rc.d (and so the packages' postinst) skip
# starting services; whatever was there before is put back on exit.
backup=""
if [[ -e $POLICY ]]; then
    backup=$(mktemp)
    cp -p "$POLICY" "$backup"
fi
restore_policy() {
    if [[ -n $backup ]]; then
        cp -p "$backup" "$POLICY"
        rm -f "$backup"
    else
        rm -f "$POLICY"
    fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# install-peers.sh: no service starts while it installs\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"

pids_before=" $(ps -eo pid= | tr -s ' \n' ' ') "

apt_options=(-o Acquire::Retries=3 -o Acquire::http::Timeout=30 -o Acquire::https::Timeout=30)
say "installing ${missing[*]}"
if ! timeout "$APT_TIMEOUT" apt-get "${apt_options[@]}" update; then
    say "error: 'apt-get update' failed or took over ${APT_TIMEOUT}s: is the Debian mirror reachable?"
    exit 1
fi
# A previous run cut short by the timeout may have left dpkg half-way.
if ! DEBIAN_FRONTEND=noninteractive timeout "$APT_TIMEOUT" dpkg --configure -a; then
    say "error: 'dpkg --configure -a' failed: dpkg needs repair before installing"
    exit 1
fi
if ! timeout "$APT_TIMEOUT" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" \
    install -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PACKAGES[@]}"; then
    say "error: 'apt-get install ${PACKAGES[*]}' failed or took over ${APT_TIMEOUT}s"
    exit 1
fi

# Processes of the peers that appeared during the install: started anyway (by a
# postinst that bypasses invoke-rc.d, or an epmd spawned by ejabberdctl).
new_peer_pids() {
    local pid args
    for pid in $(ps -eo pid=); do
        [[ $pids_before == *" $pid "* || $pid == "$$" ]] && continue
        args=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || continue
        case $args in
        *install-peers*) ;;
        *prosody* | *ejabberd* | *epmd*) echo "$pid" ;;
        esac
    done
}

started=$(new_peer_pids)
if [[ -n $started ]]; then
    say "stopping services the install started anyway"
    for service in prosody ejabberd; do
        if [[ -x /etc/init.d/$service ]]; then
            timeout 60 "/etc/init.d/$service" stop || true
        fi
    done
    survivors=$(new_peer_pids)
    if [[ -n $survivors ]]; then
        # shellcheck disable=SC2086 # one pid per word
        kill -TERM $survivors 2>/dev/null || true
        for _ in $(seq 50); do
            survivors=$(new_peer_pids)
            [[ -z $survivors ]] && break
            sleep 0.2
        done
        if [[ -n $survivors ]]; then
            # shellcheck disable=SC2086
            kill -KILL $survivors 2>/dev/null || true
        fi
    fi
fi

for package in "${PACKAGES[@]}"; do
    if ! installed "$package"; then
        say "error: $package is still not installed"
        exit 1
    fi
done
say "installed:"
versions
