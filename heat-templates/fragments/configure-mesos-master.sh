#!/bin/bash
# Master boot: ZooKeeper ensemble member, Mesos master and Marathon, all
# configured from /etc/sysconfig/heat-params (written by cloud-init just
# before this script runs).
set -eu -o pipefail
. /etc/sysconfig/heat-params

zk_hosts=""
zk_servers=""
id=1
for ip in ${MESOS_MASTERS//,/ }; do
    zk_hosts="${zk_hosts:+$zk_hosts,}$ip:2181"
    zk_servers="${zk_servers}server.$id=$ip:2888:3888"$'\n'
    id=$((id + 1))
done
count=$((id - 1))

zk_conf=/etc/zookeeper/conf
mkdir -p "$zk_conf" /var/lib/zookeeper
echo $((MESOS_MASTER_INDEX + 1)) > "$zk_conf/myid"
ln -sfn "$zk_conf/myid" /var/lib/zookeeper/myid
cat > "$zk_conf/zoo.cfg" <<ZOO
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2181
${zk_servers}
ZOO

# Both read MESOS_* / MARATHON_* variables as their command-line flags.
mkdir -p /etc/mesos
cat > /etc/default/mesos-master <<MESOS
MESOS_ZK=zk://$zk_hosts/mesos
MESOS_QUORUM=$((count / 2 + 1))
MESOS_CLUSTER=$CLUSTER_NAME
MESOS_IP=$MESOS_MASTER_IP
MESOS_HOSTNAME=$MESOS_MASTER_IP
MESOS_WORK_DIR=/var/lib/mesos
MESOS
cat > /etc/default/marathon <<MARATHON
MARATHON_MASTER=zk://$zk_hosts/mesos
MARATHON_ZK=zk://$zk_hosts/marathon
MARATHON_HOSTNAME=$MESOS_MASTER_IP
MARATHON

# --no-block: units ordered after cloud-init must not be waited for here.
# ZooKeeper is the image's (element iovisor-bay-node); the Mesos master and
# Marathon are the operator's, and are started when the image has them.
chown -R zookeeper:zookeeper /var/lib/zookeeper
for unit in zookeeper mesos-master marathon; do
    if [ "$unit" != zookeeper ] && ! systemctl cat "$unit.service" >/dev/null 2>&1; then
        echo "configure-mesos-master: no $unit.service in this image; not started" >&2
        continue
    fi
    systemctl enable "$unit.service"
    systemctl --no-block restart "$unit.service"
done
