#!/bin/bash
# Install and prepare what magnum-iovisor needs from the system, on Debian or
# Ubuntu, as root. Idempotent: safe to run again.
#   - bcc for the distro Python, kernel headers bcc can find, iproute2
#   - bpffs mounted at /sys/fs/bpf
#   - Docker, busybox-static (offline test image), ZooKeeper (registry tests)
#   - graphviz (dot renders the policy graph)
#   - debootstrap, qemu and sudo (diskimage-builder and the image boot test)
#   - dosfstools, mtools (the NoCloud seed disks cloud-init reads in guests)
set -eu -o pipefail

PACKAGES=(
    python3-bpfcc python3-venv python3-dev libbpf1 iproute2 iputils-ping
    docker.io busybox-static zookeeper iperf3 git
    debootstrap qemu-utils qemu-system-x86 e2fsprogs sudo dosfstools mtools
)
# what tests/functional/zookeeper.py runs ZooKeeper with: Java and a logger
PACKAGES+=(default-jre-headless libslf4j-java)
# tests/image: the guest's way to the test's ZooKeeper (a qemu guestfwd)
PACKAGES+=(socat)
# Graphviz: tests render "iovisor-policy export --format dot" with it
PACKAGES+=(graphviz)
# monitor --journal: the journal's Python bindings (for the distro Python)
PACKAGES+=(python3-systemd)

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# bcc compiles against /lib/modules/$(uname -r)/{build,source}. A kernel with
# its own headers package has them; otherwise use the distro's newest.
release=$(uname -r)
modules=/lib/modules/$release
if [ ! -e "$modules/build/include/linux/kconfig.h" ] && \
   [ ! -e "$modules/source/include/linux/kconfig.h" ]; then
    if ! apt-get install -y -q "linux-headers-$release" >/dev/null 2>&1; then
        arch=$(dpkg --print-architecture)
        dpkg-query -W -f='${Status}' "linux-headers-$arch" 2>/dev/null \
            | grep -q "ok installed" || {
            apt-get update -q
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "linux-headers-$arch"
        }
        build=$(ls -d /usr/src/linux-headers-*-"$arch" | sort -V | tail -n 1)
        source=${build%-"$arch"}-common
        mkdir -p "$modules"
        ln -sfn "$build" "$modules/build"
        ln -sfn "$source" "$modules/source"
        echo "linked $modules/{build,source} to $build and $source"
    fi
fi

if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
fi
