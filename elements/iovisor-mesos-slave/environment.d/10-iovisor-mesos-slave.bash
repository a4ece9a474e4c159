# Where magnum-iovisor is installed inside the image.
export IOVISOR_VENV=${IOVISOR_VENV:-/opt/magnum-iovisor/venv}
# The magnum-iovisor source tree to install; by default the tree this
# element ships in (elements/iovisor-mesos-slave -> ../..).
export DIB_IOVISOR_SOURCE=${DIB_IOVISOR_SOURCE:-}
# The apt suite the slave's kernel comes from (install.d/15-kernel). auto:
# bookworm-backports on Debian 12, whose 6.1 has no tcx (Linux >= 6.6), so
# a macvlan/ipvlan container's first packets would pass before its filters
# (README.rst, "Kernel"); elsewhere the release's own. Empty: the release's.
export DIB_IOVISOR_KERNEL_SUITE=${DIB_IOVISOR_KERNEL_SUITE-auto}
