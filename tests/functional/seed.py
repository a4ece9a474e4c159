"""The 2015 walkthrough's scenario with real containers on a real dockerd.

``dns`` and ``web`` are in group 100, ``db`` in group 200, and ``outside``
is an untagged host (group 0) in a namespace routed to the containers. The
seed's policy lets 100 talk to everyone and keeps 200 away from the
outside. ``SeedSite`` makes the network and the outside; ``matrix`` pings
every pair and compares with what the policy allows.
"""

import concurrent.futures
import ipaddress
import random
import subprocess
import uuid

import fixtures

from magnum_iovisor import policy

SEED_POLICY = '100>0 0>100 100>100 100<>200'
CONTAINERS = {'dns': 100, 'web': 100, 'db': 200}
OUTSIDE = 'outside'
TAGGINGS = ('expose', 'driver-opt')
PING_WAIT = 2


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True,
                          timeout=60)


def free_subnets():
    """A random 10.x.y.0/23 that no route of this host touches."""
    taken = [ipaddress.IPv4Network(line.split()[0], strict=False)
             for line in run('ip', '-4', 'route', 'show', 'table',
                             'all').stdout.splitlines()
             if line and line.split()[0][0].isdigit()]
    while True:
        block = ipaddress.IPv4Network('10.%d.%d.0/23' % (
            random.randint(100, 239), random.randrange(0, 256, 2)))
        if not any(block.overlaps(t) for t in taken
                   if t.prefixlen > 0):
            return list(block.subnets(new_prefix=24))


class SeedSite(fixtures.Fixture):
    """An iovisor network of one mode, and an outside host routed to it.

    veth: the outside sits behind the host, which routes (per-interface
    forwarding on the interfaces made here only). macvlan: the parent is a
    veth made here whose other end, in the outside namespace, holds the
    network's gateway address; nothing reaches a real interface.
    """

    def __init__(self, dockerd, driver, mode='veth', host_outside=False):
        super().__init__()
        self.dockerd, self.driver, self.mode = dockerd, driver, mode
        # the demo's outside is the host itself (veth only), not a namespace
        self.host_outside = host_outside

    def _setUp(self):
        tag = uuid.uuid4().hex[:8]
        self.network = 'mi-net-' + tag
        self.outside_ns = 'mi-out-' + tag
        self.host_if = 'mio' + tag
        containers, link = free_subnets()
        self.subnet = str(containers)
        gateway = str(containers.network_address + 1)
        if self.host_outside:
            self.outside_address = gateway
            self._create_network()
            return
        run('ip', 'netns', 'add', self.outside_ns)
        self.addCleanup(run, 'ip', 'netns', 'del', self.outside_ns,
                        check=False)
        run('ip', 'link', 'add', self.host_if, 'type', 'veth', 'peer',
            'name', 'eth0', 'netns', self.outside_ns)
        self.addCleanup(run, 'ip', 'link', 'del', self.host_if, check=False)
        self.nsexec('ip', 'link', 'set', 'lo', 'up')
        self.nsexec('ip', 'link', 'set', 'eth0', 'up')
        run('ip', 'link', 'set', self.host_if, 'up')
        options = []
        if self.mode == 'veth':
            near, far = str(link.network_address + 1), str(
                link.network_address + 2)
            run('sysctl', '-qw',
                'net.ipv4.conf.%s.forwarding=1' % self.host_if)
            run('ip', 'addr', 'add', near + '/24', 'dev', self.host_if)
            self.nsexec('ip', 'addr', 'add', far + '/24', 'dev', 'eth0')
            self.nsexec('ip', 'route', 'add', self.subnet, 'via', near)
            self.outside_address = far
        else:
            self.nsexec('ip', 'addr', 'add', gateway + '/24', 'dev', 'eth0')
            options += ['-o', 'iovisor.parent=' + self.host_if]
            self.outside_address = gateway
        self._create_network(*options)

    def _create_network(self, *options):
        self.dockerd.docker('network', 'create', '-d', self.driver,
                            '--subnet', self.subnet, '-o',
                            'iovisor.mode=' + self.mode, *options,
                            self.network)
        self.addCleanup(self.dockerd.docker, 'network', 'rm', self.network,
                        check=False)

    def nsexec(self, *cmd, check=True):
        return run('ip', 'netns', 'exec', self.outside_ns, *cmd, check=check)

    def run_container(self, name, image, group=None, tagging='expose',
                      extra=()):
        """``docker run -d`` a sleeping container; returns its address."""
        args = ['run', '-d', '--name', name]
        if group is None:
            args += ['--network', self.network]
        elif tagging == 'expose':
            args += ['--network', self.network, '--expose', '%d/0' % group]
        else:
            args += ['--network', 'name=%s,driver-opt=iovisor.group=%d'
                     % (self.network, group)]
        self.addCleanup(self.dockerd.docker, 'rm', '-f', name, check=False)
        self.dockerd.docker(*args, *extra, image, 'sleep', '3600')
        return self.dockerd.address(name, self.network)

    def endpoint_id(self, container):
        return self.dockerd.docker(
            'inspect', '-f', '{{(index .NetworkSettings.Networks "%s")'
            '.EndpointID}}' % self.network, container).stdout.strip()

    def ping(self, source, address):
        """Ping from a container name, or from the outside (None)."""
        cmd = ('ping', '-c', '1', '-W', str(PING_WAIT), address)
        if source is None and self.host_outside:
            return run(*cmd, check=False).returncode == 0
        if source is None:
            return self.nsexec(*cmd, check=False).returncode == 0
        return self.dockerd.docker('exec', source, *cmd,
                                   check=False).returncode == 0


def start_seed(site, image, prefix, tagging='expose'):
    """Start dns, web and db; returns {role: (container, address)}."""
    hosts = {}
    for role, group in CONTAINERS.items():
        name = '%s-%s' % (prefix, role)
        hosts[role] = (name, site.run_container(name, image, group, tagging))
    hosts[OUTSIDE] = (None, site.outside_address)
    return hosts


def groups(outside=0):
    """{role: group}; ``outside`` is the outside's (world, or host)."""
    return dict(CONTAINERS, **{OUTSIDE: outside})


def expected_matrix(rules=SEED_POLICY, outside=0):
    """{(src, dst): bool}: a ping needs the pair allowed both ways."""
    allowed = policy.parse_text(rules)
    group = groups(outside)

    def ok(src, dst):
        return allowed.action(group[src], group[dst]) == policy.Action.ALLOW

    return {(s, d): ok(s, d) and ok(d, s)
            for s in group for d in group if s != d}


def seen_matrix(site, hosts):
    pairs = [(s, d) for s in hosts for d in hosts if s != d]
    with concurrent.futures.ThreadPoolExecutor(len(pairs)) as pool:
        results = pool.map(lambda p: site.ping(hosts[p[0]][0],
                                               hosts[p[1]][1]), pairs)
        return dict(zip(pairs, results))


def format_matrix(expected, seen, outside=0):
    roles = list(groups(outside))
    width = max(len(r) for r in roles) + 2
    lines = ['ping from \\ to'.ljust(width + 6)
             + ''.join(r.ljust(width + 6) for r in roles)]
    for src in roles:
        cells = []
        for dst in roles:
            if src == dst:
                cells.append('-'.ljust(width + 6))
                continue
            want, got = expected[src, dst], seen[src, dst]
            cell = '%s/%s%s' % ('yes' if want else 'no',
                                'yes' if got else 'no',
                                '' if want == got else ' !!')
            cells.append(cell.ljust(width + 6))
        label = '%s(%d)' % (src, groups(outside)[src])
        lines.append(label.ljust(width + 6) + ''.join(cells))
    lines.append('cells: expected/seen; !! marks a mismatch')
    return '\n'.join(lines)
