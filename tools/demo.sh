#!/bin/bash
# README's first command: set this host up and play the 2015 walkthrough's
# scenario with real containers (see tools/seed_demo.py). Run as root.
#   - system side: tools/install-system.sh (bcc, headers, Docker, busybox)
#   - the package: /opt/magnum-iovisor/venv (distro Python, system site)
#   - dns, web (--expose 100/0), db (--expose 200/0), the host as the
#     outside, the seed's policy, the reachability matrix expected vs seen
# Exits non-zero when any pair differs from the policy.
set -eu -o pipefail
cd "$(dirname "$0")/.."

VENV=/opt/magnum-iovisor/venv

tools/install-system.sh
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade . fixtures
PYTHONPATH="$PWD" exec "$VENV/bin/python" tools/seed_demo.py
