"""Two slaves and a master, as network namespaces, for registry tests.

::

    master (ZooKeeper on 192.168.77.254, a bridge: the underlay)
      |-- slave A 192.168.77.1, containers 10.1.1.0/24, outside 10.2.0.0/24
      |-- slave B 192.168.77.2, containers 10.1.2.0/24

Each slave runs in its namespace what a bay's slave runs: its own dockerd
(own data and exec roots) and its own ``iovisor-docker-plugin`` (own
socket ``iovisor-<uuid8>``, pin and state directories, ``[registry]
backend = zookeeper`` with the slave's host name), and an iovisor network
on the slave's routed container subnet with real containers on it. The
slaves route each other's container subnets (and A's outside link) over
the underlay. Every name carries a unique prefix and everything is removed
on cleanup.
"""

import contextlib
import functools
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import fixtures
from oslo_config import cfg

from magnum_iovisor import config
from magnum_iovisor import dataplane
from magnum_iovisor.dataplane import attach
from magnum_iovisor.registry import credentials
from tests.functional import dockerd
from tests.functional import plugin_daemon
from tests.functional import topology
from tests.functional import zookeeper

LAN = '192.168.77.'
MASTER_ADDRESS = LAN + '254'
ZK_PORT = 2181
ZK_ROOT = '/magnum-iovisor'
# the bay's ZooKeeper identity (a Heat RandomString in a real bay)
ZK_USER = 'bay'
SLAVES = {'a': (LAN + '1', '10.1.1.0/24', '10.1.1.1'),
          'b': (LAN + '2', '10.1.2.0/24', '10.1.2.1')}
OUTSIDE_NET = '10.2.0.0/24'
IMAGE = 'mi-busybox:cluster'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def netns_path(ns):
    return topology.netns_file(ns)


def in_netns_cmd(path, *cmd):
    """``cmd`` in the network namespace at ``path``, keeping the mounts."""
    return ('nsenter', '--net=' + path, '--') + cmd


class Slave:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.host_name = 'slave-' + name
        self.underlay, self.subnet, self.gateway = SLAVES[name]
        self.topo = topology.Topology(cluster.prefix + name,
                                      gateway=self.gateway)
        self.ns = self.topo.slave
        self.containers = {}     # name -> (netns path, address)
        self.dockerd = self.plugin = self.network = None
        self._dataplane = None

    def start(self, session_timeout):
        """dockerd, the daemon and the network; cleanups on the cluster."""
        cluster = self.cluster
        self.dockerd = cluster.useFixture(dockerd.Dockerd(
            prefix='%s%s-' % (cluster.prefix, self.name), netns=self.ns))
        self.dockerd.import_busybox(IMAGE)
        self.plugin = cluster.useFixture(plugin_daemon.PluginDaemon(
            netns=self.ns, registry={
                'backend': 'zookeeper',
                'hosts': cluster.zk_hosts,
                'root': ZK_ROOT, 'session_timeout': session_timeout,
                'host_name': self.host_name, 'connect_timeout': 2,
                'credentials_file': cluster.credentials_file,
                'instance_file': os.path.join(cluster.workdir,
                                              'instance-' + self.name)}))
        self.network = '%s-net-%s' % (cluster.prefix, self.name)
        self.dockerd.docker('network', 'create', '-d', self.plugin.name,
                            '--subnet', self.subnet, '--gateway',
                            self.gateway, self.network)
        # first among the cleanups: Docker tells the daemon what goes
        cluster.addCleanup(self.remove_all)

    def add_macvlan_network(self, subnet, peer):
        """A macvlan network on a parent made here; ``peer`` routes to it.

        The parent is one end of a veth pair whose other end, in this
        slave too, holds the gateway: the containers' traffic goes up the
        pair into the slave's routing like any other.
        """
        network = ipaddress.IPv4Network(subnet)
        gateway = str(network.network_address + 1)
        parent, uplink = 'mvp' + self.name, 'mvg' + self.name
        topology.nsexec(self.ns, 'ip', 'link', 'add', parent, 'type', 'veth',
                        'peer', 'name', uplink)
        topology.nsexec(self.ns, 'ip', 'addr', 'add', '%s/%d'
                        % (gateway, network.prefixlen), 'dev', uplink)
        for ifname in (parent, uplink):
            topology.nsexec(self.ns, 'ip', 'link', 'set', ifname, 'up')
        topology.nsexec(peer.ns, 'ip', 'route', 'add', subnet, 'via',
                        self.underlay)
        name = '%s-mv-%s' % (self.cluster.prefix, self.name)
        self.dockerd.docker('network', 'create', '-d', self.plugin.name,
                            '--subnet', subnet, '--gateway', gateway,
                            '-o', 'iovisor.mode=macvlan',
                            '-o', 'iovisor.parent=' + parent, name)
        return name

    @property
    def config_file(self):
        return self.plugin.config_file

    # -- the daemon -----------------------------------------------------------

    def kill_daemon(self):
        """kill -9: no goodbye to ZooKeeper."""
        self.plugin.kill()

    def start_daemon(self):
        self.plugin.start()

    def freeze_daemon(self, seconds):
        """Stop the daemon for ``seconds``, as a long pause would."""
        self.plugin.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self.plugin.process.send_signal(signal.SIGCONT)

    def log(self):
        return self.plugin.log()

    # -- containers -----------------------------------------------------------

    def add_container(self, name, host_number, group, network=None,
                      subnet=None):
        """``docker run --expose GROUP/0`` at .host_number of the subnet."""
        subnet = subnet or self.subnet
        address = '%s.%d' % (subnet.rsplit('.', 1)[0], host_number)
        container = '%s-%s' % (self.cluster.prefix, name)
        self.dockerd.docker('run', '-d', '--name', container, '--network',
                            network or self.network, '--ip', address,
                            '--expose',
                            '%d/0' % group, IMAGE, 'sleep', '3600')
        pid = self.dockerd.docker('inspect', '-f', '{{.State.Pid}}',
                                  container).stdout.strip()
        self.containers[name] = ('/proc/%s/ns/net' % pid, address)
        return address

    def remove_container(self, name):
        self.dockerd.docker('rm', '-f', '%s-%s' % (self.cluster.prefix, name))
        del self.containers[name]

    def remove_all(self):
        """Every container and network, with a live daemon to hear it.

        A dead driver would make Docker retry each request for seconds.
        """
        if not self.dockerd.process or self.dockerd.process.poll() is not None:
            return
        if not self.plugin.running():
            self.plugin.start()
        self.dockerd.remove_containers()
        networks = self.dockerd.docker(
            'network', 'ls', '-q', '--filter', 'driver=' + self.plugin.name,
            check=False).stdout.split()
        if networks:
            self.dockerd.docker('network', 'rm', *networks, check=False)

    # -- what the slave's maps hold -------------------------------------------

    @property
    def dataplane(self):
        if self._dataplane is None:
            conf = cfg.ConfigOpts()
            config.register_opts(conf)
            conf([], project='magnum-iovisor', default_config_files=[])
            conf.set_override('pin_dir', self.plugin.pin_dir, 'dataplane')
            self._dataplane = dataplane.Dataplane(conf.dataplane)
            self.cluster.addCleanup(self._dataplane.close)
        return self._dataplane

    def learned(self):
        return self.dataplane.learned()

    def policy_command(self, *args, stdin=None, config_file=None):
        """``iovisor-policy`` run on this slave, with its configuration."""
        return subprocess.run(
            in_netns_cmd(netns_path(self.ns), sys.executable, '-m',
                         'magnum_iovisor.cmd.policy', '--config-file',
                         config_file or self.config_file, *args),
            input=stdin, capture_output=True, text=True, timeout=60,
            cwd=REPO)


class Cluster(fixtures.Fixture):
    def __init__(self, session_timeout=2.0, ensemble=False):
        """Two slaves and a master.

        ``ensemble``: three ZooKeeper servers, each in its own namespace on
        the underlay (192.168.77.251-253), instead of one on the master.
        """
        super().__init__()
        self.session_timeout = session_timeout
        self.ensemble = ensemble

    def _setUp(self):
        self.prefix = 'mi%s' % uuid.uuid4().hex[:6]
        self.workdir = tempfile.mkdtemp(prefix=self.prefix + '-')
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
        self.credentials = credentials.Credentials(ZK_USER,
                                                   uuid.uuid4().hex)
        self.credentials_file = os.path.join(self.workdir, 'zookeeper.secret')
        with open(os.open(self.credentials_file,
                          os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                  'w') as secret:
            secret.write('%s:%s\n' % (ZK_USER, self.credentials.secret))
        self.master = self.prefix + '-master'
        topology.run('ip', 'netns', 'add', self.master)
        self.addCleanup(topology.run, 'ip', 'netns', 'del', self.master,
                        check=False)
        master = functools.partial(topology.nsexec, self.master)
        master('ip', 'link', 'set', 'lo', 'up')
        master('ip', 'link', 'add', 'br0', 'type', 'bridge')
        master('ip', 'addr', 'add', MASTER_ADDRESS + '/24', 'dev', 'br0')
        master('ip', 'link', 'set', 'br0', 'up')
        self.slaves = {}
        for name in sorted(SLAVES):
            slave = Slave(self, name)
            self.addCleanup(slave.topo.cleanup)
            self.slaves[name] = slave
            self._uplink(slave)
        a, b = self.slaves['a'], self.slaves['b']
        topology.nsexec(a.ns, 'ip', 'route', 'add', b.subnet, 'via',
                        b.underlay)
        topology.nsexec(b.ns, 'ip', 'route', 'add', a.subnet, 'via',
                        a.underlay)
        topology.nsexec(b.ns, 'ip', 'route', 'add', OUTSIDE_NET, 'via',
                        a.underlay)
        if self.ensemble:
            self.servers = self._ensemble()
        else:
            self.servers = [zookeeper.ZooKeeperServer(
                os.path.join(self.workdir, 'zookeeper'), MASTER_ADDRESS,
                ZK_PORT, netns=self.master)]
        self.zookeeper = self.servers[0]
        self.zk_hosts = ','.join(server.hosts for server in self.servers)
        for server in self.servers:
            self.addCleanup(server.stop)
        # members wait for each other: start them all, then wait
        for server in self.servers:
            server.start_async()
        for server in self.servers:
            server.wait_listening(60)
        for slave in self.slaves.values():
            slave.start(self.session_timeout)

    def _ensemble(self):
        peers = {n: LAN + str(250 + n) for n in (1, 2, 3)}
        servers = []
        for n, address in sorted(peers.items()):
            ns = '%s-zk%d' % (self.prefix, n)
            topology.run('ip', 'netns', 'add', ns)
            self.addCleanup(topology.run, 'ip', 'netns', 'del', ns,
                            check=False)
            link = '%szk%d' % (self.prefix, n)
            topology.run('ip', 'link', 'add', link, 'netns', self.master,
                         'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
            topology.nsexec(self.master, 'ip', 'link', 'set', link, 'master',
                            'br0', 'up')
            topology.nsexec(ns, 'ip', 'addr', 'add', address + '/24', 'dev',
                            'eth0')
            for ifname in ('eth0', 'lo'):
                topology.nsexec(ns, 'ip', 'link', 'set', ifname, 'up')
            servers.append(zookeeper.ZooKeeperServer(
                os.path.join(self.workdir, 'zookeeper%d' % n), address,
                ZK_PORT, netns=ns, peers=peers, myid=n))
        return servers

    def leader(self):
        """The ensemble member that leads now, or None."""
        return next((s for s in self.servers if s.leading()), None)

    def _uplink(self, slave):
        uplink = '%s%su' % (self.prefix, slave.name)
        topology.run('ip', 'link', 'add', uplink, 'netns', self.master,
                     'type', 'veth', 'peer', 'name', 'uplink', 'netns',
                     slave.ns)
        topology.nsexec(self.master, 'ip', 'link', 'set', uplink, 'master',
                        'br0', 'up')
        topology.nsexec(slave.ns, 'ip', 'addr', 'add',
                        slave.underlay + '/24', 'dev', 'uplink')
        topology.nsexec(slave.ns, 'ip', 'link', 'set', 'uplink', 'up')

    def host(self, name):
        """(netns path, address) of a container or outside host."""
        for slave in self.slaves.values():
            if name in slave.containers:
                return slave.containers[name]
            if name in slave.topo.hosts:
                ns, address = slave.topo.hosts[name]
                return netns_path(ns), address
        raise KeyError(name)

    def ping(self, src, dst, timeout=1):
        path, _ = self.host(src)
        return subprocess.run(
            in_netns_cmd(path, 'ping', '-c', '1', '-W', str(timeout),
                         self.host(dst)[1]),
            capture_output=True, timeout=30).returncode == 0

    @contextlib.contextmanager
    def zookeeper_client(self):
        """A kazoo client in the master's namespace, as the bay's identity.

        Its threads stay there: they are started from inside it.
        """
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.zk_hosts,
                             auth_data=self.credentials.auth_data,
                             default_acl=self.credentials.acl)
        with attach.in_netns(self.master):
            client.start(timeout=10)
        try:
            yield client
        finally:
            client.stop()
            client.close()


def wait_for(predicate, timeout, interval=0.02):
    """Poll until ``predicate()`` is true; return it, or the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
