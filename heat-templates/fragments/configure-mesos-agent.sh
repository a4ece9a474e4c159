#!/bin/bash
# Slave boot (cloud-init's scripts-user, after write_files): routing for the
# containers. The agent's configuration, policy, Docker network and registry
# come from /etc/sysconfig/heat-params through the image's units
# (iovisor-bootstrap, then mesos-agent.service, whose ExecStartPre runs
# "iovisor-bootstrap --mesos-agent-env"): one reader, one path.
set -eu -o pipefail

# Containers in ROUTED_SUBNET are reached through this node.
sysctl -w net.ipv4.ip_forward=1
echo net.ipv4.ip_forward=1 > /etc/sysctl.d/60-iovisor-routing.conf
