#!/bin/bash
# Build the test slave image: debian-minimal + baremetal + our elements and
# their test elements, with Mesos from a stub tarball made here.
#   tests/image/build.sh OUT_DIR      -> OUT_DIR/slave.{raw,vmlinuz,initrd}
# IMAGE_REUSE=1 keeps an existing image (for working on the tests only).
set -eu -o pipefail
out=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"

# What the image is built from (tox -e image and tox -e bay share it): the
# elements and the package the image installs, as they are in the tree.
stamp=$(cd "$root" && git ls-files -z elements magnum_iovisor bpf etc \
            setup.cfg setup.py requirements.txt tests/image/build.sh \
        | xargs -0 sha256sum | sha256sum | cut -d ' ' -f 1)
if [ -s "$out/slave.raw" ] && { [ "${IMAGE_REUSE:-0}" = 1 ] ||
        [ "$(cat "$out/slave.stamp" 2>/dev/null)" = "$stamp" ]; }; then
    echo "reusing $out/slave.raw (built from these sources: $stamp)"
    exit 0
fi
rm -rf "$out"/slave.*

# A stand-in for the tarball Mesos's Dockerfile makes (tar of usr/local):
# its "agent" records the flags it was started with and stays up.
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
mkdir -p "$stub/usr/local/sbin"
cat > "$stub/usr/local/sbin/mesos-agent" <<'AGENT'
#!/bin/sh
env | grep '^MESOS_' | sort > /run/mesos-agent.flags
exec sleep infinity
AGENT
chmod 0755 "$stub/usr/local/sbin/mesos-agent"
tar -C "$stub" -czf "$out/mesos-stub.tar.gz" usr/local

# The Debian mirror this machine already uses (others may be unreachable).
mirror() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk -v tail="/$1" '($1 == "URIs:" || $1 == "deb") &&
              substr($2, length($2) - length(tail) + 1) == tail {
              print $2; exit }'
}
export DIB_RELEASE=${DIB_RELEASE:-bookworm}
export DIB_DISTRIBUTION_MIRROR=${DIB_DISTRIBUTION_MIRROR:-$(mirror debian)}
export DIB_DISTRIBUTION_MIRROR=${DIB_DISTRIBUTION_MIRROR:-http://deb.debian.org/debian}
export DIB_DEBIAN_SECURITY_MIRROR=${DIB_DEBIAN_SECURITY_MIRROR:-$(mirror debian-security)}
export DIB_DEBIAN_SECURITY_MIRROR=${DIB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
export DIB_DEBOOTSTRAP_CACHE=1 DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1
export DIB_NO_TMPFS=1
export DIB_MESOS_TARBALL=$out/mesos-stub.tar.gz
export ELEMENTS_PATH=$root/elements:$root/elements/iovisor-mesos-slave/test-elements:$root/elements/mesos-agent/test-elements

disk-image-create -a amd64 -t raw -o "$out/slave" \
    debian-minimal baremetal iovisor-bay-node \
    iovisor-mesos-slave iovisor-mesos-slave-checks \
    mesos-agent mesos-agent-checks
echo "$stamp" > "$out/slave.stamp"
