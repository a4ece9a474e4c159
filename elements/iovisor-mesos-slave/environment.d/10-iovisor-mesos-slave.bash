# Where magnum-iovisor is installed inside the image.
export IOVISOR_VENV=${IOVISOR_VENV:-/opt/magnum-iovisor/venv}
# The magnum-iovisor source tree to install; by default the tree this
# element ships in (elements/iovisor-mesos-slave -> ../..).
export DIB_IOVISOR_SOURCE=${DIB_IOVISOR_SOURCE:-}
