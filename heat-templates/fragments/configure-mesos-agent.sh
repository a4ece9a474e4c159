#!/bin/bash
# Slave boot: the Mesos agent, from /etc/sysconfig/heat-params. The policy,
# the Docker network and the registry are iovisor-bootstrap's (a unit of the
# slave image that reads the same file), which runs before the agent.
set -eu -o pipefail
. /etc/sysconfig/heat-params

zk_hosts=""
for ip in ${MESOS_MASTERS//,/ }; do
    zk_hosts="${zk_hosts:+$zk_hosts,}$ip:2181"
done
self=$(ip -4 -o route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')

# Containers in ROUTED_SUBNET are reached through this node.
sysctl -w net.ipv4.ip_forward=1
echo net.ipv4.ip_forward=1 > /etc/sysctl.d/60-iovisor-routing.conf

mkdir -p /etc/mesos
cat > /etc/default/mesos-agent <<MESOS
MESOS_MASTER=zk://$zk_hosts/mesos
MESOS_CONTAINERIZERS=docker,mesos
MESOS_IP=$self
MESOS_HOSTNAME=$self
MESOS_WORK_DIR=/var/lib/mesos
MESOS_SYSTEMD_ENABLE_SUPPORT=false
MESOS

# --no-block: mesos-agent is ordered after iovisor-bootstrap, which waits
# for cloud-init, which runs this script.
systemctl enable mesos-agent.service
systemctl --no-block restart mesos-agent.service
