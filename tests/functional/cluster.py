"""Two slaves and a master, as network namespaces, for registry tests.

::

    master (ZooKeeper on 192.168.77.254, a bridge: the underlay)
      |-- slave A 192.168.77.1, containers 10.1.1.0/24, outside 10.2.0.0/24
      |-- slave B 192.168.77.2, containers 10.1.2.0/24

Each slave is a ``topology.Topology`` with its own pin directory and its
own agent process (``slave_agent``) in its namespace; the slaves route each
other's container subnets (and A's outside link) over the underlay. Every
name carries one unique prefix and everything is removed on cleanup.
"""

import contextlib
import functools
import json
import os
import select
import shutil
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
from magnum_iovisor.dataplane import loader
from tests.functional import topology
from tests.functional import zookeeper

LAN = '192.168.77.'
MASTER_ADDRESS = LAN + '254'
ZK_PORT = 2181
ZK_ROOT = '/magnum-iovisor'
SLAVES = {'a': (LAN + '1', '10.1.1.0/24', '10.1.1.1'),
          'b': (LAN + '2', '10.1.2.0/24', '10.1.2.1')}
OUTSIDE_NET = '10.2.0.0/24'
PIN_ROOT = '/sys/fs/bpf'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def netns_path(ns):
    return topology.netns_file(ns)


def in_netns_cmd(ns, *cmd):
    """``cmd`` in network namespace ``ns``, keeping the root mounts."""
    return ('nsenter', '--net=' + netns_path(ns), '--') + cmd


class Slave:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.host_name = 'slave-' + name
        self.underlay, self.subnet, gateway = SLAVES[name]
        self.topo = topology.Topology(cluster.prefix + name, gateway=gateway)
        self.ns = self.topo.slave
        self.pin_dir = os.path.join(PIN_ROOT, cluster.prefix + name)
        self.conf_path = os.path.join(cluster.workdir, 'slave-%s.conf' % name)
        self.log_path = os.path.join(cluster.workdir, 'agent-%s.log' % name)
        self.agent = None
        self._dataplane = None
        with open(self.conf_path, 'w') as conf:
            conf.write('[dataplane]\npin_dir = %s\n\n'
                       '[registry]\nbackend = zookeeper\nhosts = %s:%d\n'
                       'root = %s\nsession_timeout = %s\nhost_name = %s\n'
                       'connect_timeout = 2\n'
                       % (self.pin_dir, MASTER_ADDRESS, ZK_PORT, ZK_ROOT,
                          cluster.session_timeout, self.host_name))

    # -- the agent process ----------------------------------------------------

    def start_agent(self):
        log = open(self.log_path, 'a')
        self.agent = subprocess.Popen(
            in_netns_cmd(self.ns, sys.executable, '-m',
                         'tests.functional.slave_agent', '--config-file',
                         self.conf_path),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            text=True, cwd=REPO)
        log.close()
        hello = self._read()
        if not hello.get('ready'):
            raise RuntimeError('agent %s did not start: %s' % (self.name,
                                                               hello))

    def _read(self, timeout=60):
        # an agent that blocks fails the test instead of hanging it
        ready, _, _ = select.select([self.agent.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError('agent %s did not answer within %d s; log:\n%s'
                               % (self.name, timeout, self.log()))
        line = self.agent.stdout.readline()
        if not line:
            raise RuntimeError('agent %s exited (%s); log:\n%s'
                               % (self.name, self.agent.poll(), self.log()))
        return json.loads(line)

    def request(self, op, **args):
        self.agent.stdin.write(json.dumps(dict(args, op=op)) + '\n')
        self.agent.stdin.flush()
        answer = self._read()
        if 'error' in answer:
            raise RuntimeError('agent %s: %s failed: %s'
                               % (self.name, op, answer['error']))
        return answer['result']

    def kill_agent(self):
        """kill -9: no goodbye to ZooKeeper."""
        if self.agent is not None:
            self.agent.kill()
            self.agent.wait()
            for stream in (self.agent.stdin, self.agent.stdout):
                stream.close()
            self.agent = None

    def log(self):
        with open(self.log_path, errors='replace') as log:
            return log.read()

    # -- containers -----------------------------------------------------------

    def add_container(self, name, host_number, group):
        address = '%s.%d' % (self.subnet.rsplit('.', 1)[0], host_number)
        self.topo.add_endpoint(name, address)
        self.request('join', ifname=self.topo.host_ifaces[name],
                     address=address, group=group)
        return address

    def remove_container(self, name):
        ns, address = self.topo.hosts[name]
        self.request('leave', address=address,
                     ifname=self.topo.host_ifaces[name])
        topology.run('ip', 'netns', 'del', ns)
        self.topo.namespaces.remove(ns)
        del self.topo.hosts[name]

    # -- what the slave's maps hold -------------------------------------------

    @property
    def dataplane(self):
        if self._dataplane is None:
            conf = cfg.ConfigOpts()
            config.register_opts(conf)
            conf([], project='magnum-iovisor', default_config_files=[])
            conf.set_override('pin_dir', self.pin_dir, 'dataplane')
            self._dataplane = dataplane.Dataplane(conf.dataplane)
        return self._dataplane

    def learned(self):
        return self.dataplane.learned()

    def policy_command(self, *args, stdin=None):
        """``iovisor-policy`` run on this slave, with its configuration."""
        return subprocess.run(
            in_netns_cmd(self.ns, sys.executable, '-m',
                         'magnum_iovisor.cmd.policy', '--config-file',
                         self.conf_path, *args),
            input=stdin, capture_output=True, text=True, timeout=60,
            cwd=REPO)

    def cleanup(self):
        self.kill_agent()
        if self._dataplane is not None:
            self._dataplane.close()
        self.topo.cleanup()
        shutil.rmtree(self.pin_dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(loader.lock_path(self.pin_dir))


class Cluster(fixtures.Fixture):
    def __init__(self, session_timeout=2.0):
        super().__init__()
        self.session_timeout = session_timeout

    def _setUp(self):
        self.prefix = 'mi%s' % uuid.uuid4().hex[:6]
        self.workdir = tempfile.mkdtemp(prefix=self.prefix + '-')
        self.addCleanup(shutil.rmtree, self.workdir, ignore_errors=True)
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
            self.addCleanup(slave.cleanup)
            self.slaves[name] = slave
            self._uplink(slave)
        a, b = self.slaves['a'], self.slaves['b']
        topology.nsexec(a.ns, 'ip', 'route', 'add', b.subnet, 'via',
                        b.underlay)
        topology.nsexec(b.ns, 'ip', 'route', 'add', a.subnet, 'via',
                        a.underlay)
        topology.nsexec(b.ns, 'ip', 'route', 'add', OUTSIDE_NET, 'via',
                        a.underlay)
        self.zookeeper = zookeeper.ZooKeeperServer(
            os.path.join(self.workdir, 'zookeeper'), MASTER_ADDRESS, ZK_PORT,
            netns=self.master)
        self.addCleanup(self.zookeeper.stop)
        self.zookeeper.start()
        for slave in self.slaves.values():
            slave.start_agent()

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
        """(netns, address) of a container or outside host on any slave."""
        for slave in self.slaves.values():
            if name in slave.topo.hosts:
                return slave.topo.hosts[name]
        raise KeyError(name)

    def ping(self, src, dst, timeout=1):
        ns, _ = self.host(src)
        return topology.nsexec(ns, 'ping', '-c', '1', '-W', str(timeout),
                               self.host(dst)[1],
                               check=False).returncode == 0

    @contextlib.contextmanager
    def zookeeper_client(self):
        """A kazoo client in the master's namespace.

        Its threads stay there: they are started from inside it.
        """
        from kazoo.client import KazooClient

        client = KazooClient(hosts='%s:%d' % (MASTER_ADDRESS, ZK_PORT))
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
