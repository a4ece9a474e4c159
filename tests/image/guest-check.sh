#!/bin/bash
# Runs inside the booted test slave as the last script of its user-data
# (cloud-init's final stage, after multi-user.target, after the slave's boot
# script). Writes to the serial console:
#   CHECK ok: NAME | CHECK FAILED: NAME, then its output indented
#   POLICY <policy in force, text form>
#   JOURNAL <lines of the slave units' journal>
#   GUEST-CHECK RESULT passed|failed
# tests/image/test_image.py boots the image and reads these lines.
exec >/dev/ttyS0 2>&1
set -u -o pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

failures=0
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        echo "CHECK ok: $name"
    else
        echo "CHECK FAILED: $name"
        failures=$((failures + 1))
    fi
    sed 's/^/    /' <<< "$out"
}

wait_for() {
    local tries=50
    until "$@"; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || return 1
        sleep 0.2
    done
}

compiled_here() {
    local release build
    release=$(uname -r)
    build=$(readlink -f "/lib/modules/$release/build")
    echo "headers: $build"
    dpkg-query -W "linux-headers-$release" &&
        [ "$build" = "/usr/src/linux-headers-$release" ] &&
        ls /sys/fs/bpf/magnum-iovisor/programs/*/from_endpoint &&
        journalctl -b -o cat -u iovisor-docker-plugin.service \
            -u iovisor-bootstrap.service | grep compiling &&
        { journalctl -b -o cat -u iovisor-docker-plugin.service \
              -u iovisor-bootstrap.service | grep bpf_get_netns_cookie ||
              true; }
}

policy_loaded() {
    local expected loaded
    expected=$(/opt/magnum-iovisor/venv/bin/python -c '
import sys
from magnum_iovisor import policy
path = sys.argv[1]
print(policy.format_text(policy.parse(open(path).read(), filename=path)))
' /etc/sysconfig/iovisor-policy.json) || return 1
    loaded=$(iovisor-policy export) || return 1
    echo "expected: $expected"
    echo "loaded:   $loaded"
    [ -n "$loaded" ] && [ "$loaded" = "$expected" ]
}

# Endpoints in groups, as ipvlan L3 slaves of a veth made here:
# name address group (group - = an untagged host, not attached).
ENDPOINTS="web 10.1.1.11 100
dns 10.1.1.12 100
db 10.1.1.13 200
outside 10.1.1.14 -"
# src dst expected, for the seed policy 100<>0 100>100 100<>200.
MATRIX="web dns pass
dns web pass
web db pass
db web pass
web outside pass
outside web pass
db outside drop
outside db drop"

address_of() { awk -v n="$1" '$1 == n { print $2 }' <<< "$ENDPOINTS"; }

docker_network_made() {
    [ "$(docker network inspect -f '{{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}}' iovisor)" = \
      "iovisor 10.1.1.0/24" ]
}

ipvlan_enforced() {
    local name address group result ok=0
    ip link add ivt-parent type veth peer name ivt-peer || return 1
    ip link set ivt-parent up && ip link set ivt-peer up || return 1
    while read -r name address group; do
        ip netns add "ivt-$name" &&
            ip link add link ivt-parent name "ivt-$name" type ipvlan mode l3 &&
            ip link set "ivt-$name" netns "ivt-$name" &&
            ip -n "ivt-$name" link set "ivt-$name" name eth0 &&
            ip -n "ivt-$name" addr add "$address/24" dev eth0 &&
            ip -n "ivt-$name" link set eth0 up &&
            ip -n "ivt-$name" link set lo up || return 1
        if [ "$group" != - ]; then
            iovisor-policy attach eth0 "$address" "$group" \
                --netns "ivt-$name" || return 1
        fi
    done <<< "$ENDPOINTS"
    while read -r src dst expected; do
        if ip netns exec "ivt-$src" ping -c 1 -W 1 "$(address_of "$dst")" \
                >/dev/null 2>&1; then
            result=pass
        else
            result=drop
        fi
        echo "$src -> $dst: $result (expected $expected)"
        [ "$result" = "$expected" ] || ok=1
    done <<< "$MATRIX"
    return $ok
}

agent_configured() {
    wait_for test -s /run/mesos-agent.flags || return 1
    cat /run/mesos-agent.flags
    grep -qx 'MESOS_MASTER=zk://10.0.0.5:2181,10.0.0.6:2181/mesos' \
            /run/mesos-agent.flags &&
        grep -qx 'MESOS_CONTAINERIZERS=docker,mesos' /run/mesos-agent.flags
}

SEED=/run/iovisor-test/seed

# Still running (this is its last stage); its final status is printed as
# CLOUD-INIT once it is done, see the end.
cloud_init_done() {
    cloud-init status --long
    grep -q '^ROUTED_SUBNET=' /etc/sysconfig/heat-params &&
        grep -q 'ROUTED_SUBNET' /var/lib/cloud/instance/user-data.txt
}

dhcp_on_eth0() {
    ip -4 -o addr show dev eth0
    ip -4 -o addr show dev eth0 | grep -q 'inet 10\.0\.2\.15/' &&
        grep -rqs 'dhcp' /etc/network/interfaces.d/
}

container_ip() {
    docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"
}

# Real containers through the Docker driver on the node's own network
# (ipvlan on eth0): db (200) serves, web (100) may reach it, an untagged
# container (group 0) and a stranger (300) may not.
containers_enforced() {
    local db ok=0 src expected result
    mkdir -p "$SEED" && mount -o ro LABEL=CIDATA "$SEED" || return 1
    docker import "$SEED/busybox.tar" mi-busybox:guest >/dev/null || return 1
    docker network inspect -f 'mode={{index .Options "iovisor.mode"}} parent={{index .Options "iovisor.parent"}}' iovisor
    docker run -d --name db --network iovisor --expose 200/0 \
        --restart unless-stopped mi-busybox:guest sleep 3600 || return 1
    db=$(container_ip db)
    echo "db: $db"
    for src in "100 pass" "300 drop" "none drop"; do
        read -r src expected <<< "$src"
        if [ "$src" = none ]; then expose=(); else expose=(--expose "$src/0"); fi
        if docker run --rm --network iovisor "${expose[@]}" mi-busybox:guest \
                ping -c 1 -W 2 "$db" >/dev/null 2>&1; then
            result=pass
        else
            result=drop
        fi
        echo "container ($src) -> db (200): $result (expected $expected)"
        [ "$result" = "$expected" ] || ok=1
    done
    iovisor-policy endpoints -f value
    return $ok
}

# What a container with CAP_NET_ADMIN can do to its own filters: delete its
# clsact qdisc and set its interface down and up. The host's tc and ip do it
# in the container's network namespace (busybox has no tc). Its group's
# verdicts must hold: 100 still reaches db, 300 still does not.
net_admin_cannot_shed() {
    local db pid src expected result ok=0
    db=$(container_ip db)
    for src in "100 pass" "300 drop"; do
        read -r src expected <<< "$src"
        docker run -d --name "shed-$src" --cap-add NET_ADMIN \
            --network iovisor --expose "$src/0" mi-busybox:guest \
            sleep 600 >/dev/null || return 1
        pid=$(docker inspect -f '{{.State.Pid}}' "shed-$src")
        nsenter -t "$pid" -n tc qdisc del dev eth0 clsact
        nsenter -t "$pid" -n ip link set eth0 down &&
            nsenter -t "$pid" -n ip link set eth0 up || return 1
        nsenter -t "$pid" -n tc qdisc show dev eth0
        if docker exec "shed-$src" ping -c 1 -W 2 "$db" >/dev/null 2>&1; then
            result=pass
        else
            result=drop
        fi
        echo "shed its qdisc: container ($src) -> db (200): $result (expected $expected)"
        [ "$result" = "$expected" ] || ok=1
        docker rm -f "shed-$src" >/dev/null
    done
    return $ok
}

# A raw sender may not go around its filters with PACKET_QDISC_BYPASS: this
# kernel cannot tell sandboxes on the parent, so the daemon refuses the
# option outside the host's namespace (dataplane/bypass.py). Asked from a
# container's own cgroup and namespace it is refused; from the host's, not.
SET_BYPASS='import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
try:
    s.setsockopt(263, 20, 1)
except PermissionError:
    print("refused")
    sys.exit(3)
print("set")'

bypass_refused() {
    local pid cgroup inside outside
    ls /sys/fs/bpf/magnum-iovisor/guards/qdisc-bypass || return 1
    docker run -d --name raw-300 --network iovisor --expose 300/0 \
        mi-busybox:guest sleep 600 >/dev/null || return 1
    pid=$(docker inspect -f '{{.State.Pid}}' raw-300)
    cgroup=/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
    inside=$(sh -c 'echo $$ > "$1/cgroup.procs" && exec nsenter -t "$2" -n \
        python3 -c "$3"' sh "$cgroup" "$pid" "$SET_BYPASS")
    outside=$(python3 -c "$SET_BYPASS")
    echo "PACKET_QDISC_BYPASS in a container ($cgroup): $inside; on the host: $outside"
    docker rm -f raw-300 >/dev/null
    [ "$inside" = refused ] && [ "$outside" = set ]
}

# No packet before the filters (issue 14), on the bay's ipvlan: containers of
# a denied group (300) whose first instruction pings an address on eth0's
# ipvlan that no filter guards (a namespace made here; untagged, so the world,
# which 100 may reach and 300 not), 20 starting at once. The namespace counts
# every echo request that reaches it (Icmp InEchos), answered or not.
FIRST_STARTS=50
FIRST_AT_ONCE=20
TARGET=10.1.1.250

in_echos() {
    ip netns exec ivf-target awk '/^Icmp:/ {
        if (!seen++) { for (i = 1; i <= NF; i++) column[$i] = i }
        else print $column["InEchos"] }' /proc/net/snmp
}

first_act_ping() {
    local out=/tmp/first-packet/$3
    docker run --rm --network iovisor --expose "$1/0" mi-busybox:guest \
        ping -c 1 -W "$2" "$TARGET" >"$out.out" 2>&1
    echo $? >"$out.rc"
}

first_packet_never_passes() {
    local rc
    first_packets_counted
    rc=$?
    ip netns del ivf-target 2>/dev/null
    return $rc
}

first_packets_counted() {
    local before after codes
    ip netns add ivf-target &&
        ip link add link eth0 name ivf-target type ipvlan mode l3 &&
        ip link set ivf-target netns ivf-target &&
        ip -n ivf-target addr add "$TARGET/24" dev ivf-target &&
        ip -n ivf-target link set ivf-target up || return 1
    rm -rf /tmp/first-packet && mkdir /tmp/first-packet
    before=$(in_echos)
    first_act_ping 100 5 control
    [ "$(cat /tmp/first-packet/control.rc)" = 0 ] || {
        echo "control (100): no answer"; cat /tmp/first-packet/control.out
        return 1; }
    rm /tmp/first-packet/control.*
    after=$(in_echos)
    echo "control: container (100) -> $TARGET: $((after - before)) echo request"
    [ "$after" -eq $((before + 1)) ] || return 1
    before=$(in_echos)
    export -f first_act_ping
    export TARGET
    # ping's exit status 1: no answer; anything else: it did not run
    seq "$FIRST_STARTS" | xargs -P "$FIRST_AT_ONCE" -I{} \
        bash -c 'first_act_ping 300 1 {}'
    codes=$(cat /tmp/first-packet/*.rc | sort | uniq -c |
        awk '{ printf "%s%d x%d", sep, $2, $1; sep = ", " }')
    after=$(in_echos)
    for rc in /tmp/first-packet/*.rc; do
        [ "$(cat "$rc")" = 1 ] && continue
        echo "start ${rc##*/} exited $(cat "$rc"):"
        cat "${rc%.rc}.out"
        journalctl -b -o cat --no-pager -u iovisor-docker-plugin.service |
            grep -v aiohttp.access | tail -n 8
        iovisor-policy failures 2>&1 | tail -n 3
        docker ps -a | tail -n 5
        break
    done
    echo "first packets of group 300: $((after - before)) echo requests reached $TARGET in $FIRST_STARTS starts, $FIRST_AT_ONCE at once; ping exit codes: $codes"
    [ "$after" -eq "$before" ] && [ "$codes" = "1 x$FIRST_STARTS" ]
}

# The image's kernel has tcx (elements/iovisor-mesos-slave, install.d/
# 15-kernel): the running container's filters were linked at Join, before
# Docker moved its interface. No from_parent on the parent: this kernel
# refuses bpf_get_netns_cookie in tc programs (dataplane/features.py).
tcx_linked() {
    local links=/sys/fs/bpf/magnum-iovisor/links
    uname -r
    ls "$links"
    ls "$links" | grep -q -- '-egress$' &&
        ! ls "$links" | grep -q '^parent@' &&
        ! journalctl -b -o cat -u iovisor-docker-plugin.service |
            grep 'has no tcx'
}

apparmor_profile_loaded() {
    grep docker-default /sys/kernel/security/apparmor/profiles &&
        [ "$(docker inspect -f '{{.AppArmorProfile}}' db)" = docker-default ]
}

# The Heat agent's script hook runs the template's deployment script
# (heat-templates/fragments/apply-iovisor-policy.sh), which hands the new
# policy to iovisor-bootstrap --heat-config; heat-config's answer is JSON.
heat_config_hook_answers() {
    local answer
    answer=$(python3 -c '
import json, sys
print(json.dumps({"id": "guest-check-1", "name": "policy", "group": "script",
    "config": open(sys.argv[1]).read(),
    "inputs": [{"name": "iovisor_policy", "type": "Json",
                "value": {"rules": [{"src": 100, "dst": 200}]}}],
    "outputs": [], "options": {}}))' "$SEED/apply-iovisor-policy.sh" |
        /var/lib/heat-config/hooks/script) || return 1
    echo "$answer"
    python3 -c '
import json, sys
answer = json.loads(sys.argv[1])
inner = json.loads(answer["deploy_stdout"])
assert answer["deploy_status_code"] == 0, answer
assert inner["deploy_status_code"] == 0, inner
' "$answer" && [ "$(iovisor-policy export)" = "100>200" ]
}

echo "UPTIME $(cut -d ' ' -f 1 /proc/uptime) s at the start of the check"
check "cloud-init wrote the Heat parameters from its NoCloud seed" cloud_init_done
check "eth0 configured by DHCP on first boot" dhcp_on_eth0
check "bpffs mounted at /sys/fs/bpf" findmnt -t bpf /sys/fs/bpf
check "iovisor-configure.service succeeded" systemctl is-active iovisor-configure.service
check "registry passed into the daemon's config" grep -x \
    "hosts = 10.0.2.100:2181" \
    /etc/magnum-iovisor/magnum-iovisor.conf.d/heat-params.conf
check "iovisor-docker-plugin.service active" systemctl is-active iovisor-docker-plugin.service
check "iovisor-bootstrap.service succeeded" systemctl is-active iovisor-bootstrap.service
check "Docker network made by the iovisor driver" docker_network_made
check "classifiers compiled against this kernel's headers" compiled_here
check "injected policy loaded" policy_loaded
check "policy enforced between ipvlan namespaces" ipvlan_enforced
check "mesos agent started with flags from heat-params" agent_configured
check "real containers enforced on the ipvlan network" containers_enforced
check "container filters linked at Join by tcx" tcx_linked
check "no first packet of a denied container passes" first_packet_never_passes
check "NET_ADMIN in a container cannot shed its filters" net_admin_cannot_shed
check "a raw sender in a container is refused PACKET_QDISC_BYPASS" bypass_refused
check "docker-default AppArmor profile confines the container" apparmor_profile_loaded

echo "POLICY $(iovisor-policy export 2>&1 | tr '\n' ' ')"
check "heat-config script hook deploys a new policy and answers" heat_config_hook_answers
journalctl -b -o cat --no-pager -u iovisor-configure.service \
    -u iovisor-bootstrap.service -u mesos-agent.service -u cloud-init.service \
    -u cloud-final.service | sed 's/^/JOURNAL /'
sed 's/^/JOURNAL /' /var/log/cloud-init-output.log
if [ "$failures" -eq 0 ]; then
    echo "GUEST-CHECK RESULT passed"
else
    echo "GUEST-CHECK RESULT failed ($failures)"
fi
# cloud-init's verdict on the whole boot (this script's result included),
# then power off: from a process that outlives this script.
setsid sh -c 'cloud-init status --wait >/dev/null 2>&1
    echo "CLOUD-INIT $(cloud-init status 2>&1 | tr "\n" " " | sed "s/ *$//")" >/dev/ttyS0
    sync; poweroff -f' </dev/null >/dev/null 2>&1 &
sync
exit "$failures"
