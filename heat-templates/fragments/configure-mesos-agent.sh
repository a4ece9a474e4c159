#!/bin/bash
# Slave boot (cloud-init's scripts-user, after write_files): routing for the
# containers, then the node's own set-up, whose failure fails cloud-init
# (cloud-init status: error) with the reason. The agent's configuration,
# policy, Docker network and registry come from /etc/sysconfig/heat-params
# through the image's units (iovisor-bootstrap, then mesos-agent.service,
# whose ExecStartPre runs "iovisor-bootstrap --mesos-agent-env"): one
# reader, one path.
set -eu -o pipefail

# Containers in ROUTED_SUBNET are reached through this node.
sysctl -w net.ipv4.ip_forward=1
echo net.ipv4.ip_forward=1 > /etc/sysctl.d/60-iovisor-routing.conf

# Ordered after cloud-init.service (write_files), not after this stage:
# starting it here waits for the boot's own run and reports its result.
if ! systemctl start iovisor-bootstrap.service; then
    journalctl -b -o cat --no-pager -u iovisor-bootstrap.service | tail -n 5 >&2
    echo "iovisor-bootstrap failed: no Docker network, the Mesos agent" \
        "stays down (see journalctl -u iovisor-bootstrap)" >&2
    exit 1
fi
