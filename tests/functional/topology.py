"""A slave made of network namespaces, for tests and the demo.

``slave`` routes between endpoint namespaces (veth pairs, host end in the
slave, routed /32 like a slave's container subnet) and ``outside`` hosts on
their own link. Every name carries a unique prefix; ``cleanup`` removes all
of it, and runs even when a test fails.
"""

import os
import subprocess
import uuid

GATEWAY = '10.1.0.1'
GATEWAY6 = 'fd00:1::1'
OUTSIDE_NET = '10.2.0.'
OUTSIDE_NET6 = 'fd00:2::'


def run(*cmd, check=True, timeout=30):
    return subprocess.run(cmd, check=check, capture_output=True, text=True,
                          timeout=timeout)


def nsexec(ns, *cmd, check=True, timeout=30):
    return run('ip', 'netns', 'exec', ns, *cmd, check=check,
               timeout=timeout)


class Topology:
    def __init__(self, prefix=None, gateway=GATEWAY):
        self.prefix = prefix or 'mi%s' % uuid.uuid4().hex[:6]
        self.gateway = gateway
        self.slave = self.prefix + '-slave'
        self.hosts = {}          # name -> (netns, address)
        self.hosts6 = {}         # name -> IPv6 address, when it has one
        self.host_ifaces = {}    # name -> host-side interface in the slave
        self.namespaces = []
        self.processes = []
        self._index = 0
        self._add_ns(self.slave)
        nsexec(self.slave, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
        nsexec(self.slave, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1')
        nsexec(self.slave, 'ip', 'link', 'set', 'lo', 'up')

    def _add_ns(self, ns):
        run('ip', 'netns', 'add', ns)
        self.namespaces.append(ns)

    def _veth(self, name, ns):
        self._index += 1
        host_if = '%s%d' % (self.prefix, self._index)
        run('ip', 'link', 'add', host_if, 'netns', self.slave, 'type', 'veth',
            'peer', 'name', 'eth0', 'netns', ns)
        # Without DAD, as the driver's host ends (plugin/links.py): a
        # tentative link-local address keeps the slave from sending the
        # neighbour solicitation of a packet it forwards, so the first
        # IPv6 packet of the first two seconds waited 1 s for the retry.
        for where, ifname in ((ns, 'eth0'), (self.slave, host_if)):
            nsexec(where, 'sysctl', '-qw',
                   'net.ipv6.conf.%s.accept_dad=0' % ifname)
        nsexec(ns, 'ip', 'link', 'set', 'lo', 'up')
        nsexec(ns, 'ip', 'link', 'set', 'eth0', 'up')
        nsexec(self.slave, 'ip', 'link', 'set', host_if, 'up')
        self.host_ifaces[name] = host_if
        return host_if

    def add_endpoint(self, name, address, address6=None):
        """A container: its own namespace on a routed veth."""
        ns = '%s-%s' % (self.prefix, name)
        self._add_ns(ns)
        host_if = self._veth(name, ns)
        nsexec(ns, 'ip', 'addr', 'add', address + '/32', 'dev', 'eth0')
        nsexec(ns, 'ip', 'route', 'add', self.gateway, 'dev', 'eth0')
        nsexec(ns, 'ip', 'route', 'add', 'default', 'via', self.gateway)
        nsexec(self.slave, 'ip', 'addr', 'add', self.gateway + '/32', 'dev',
               host_if)
        nsexec(self.slave, 'ip', 'route', 'add', address + '/32', 'dev',
               host_if)
        self.hosts[name] = (ns, address)
        if address6:
            nsexec(ns, 'ip', 'addr', 'add', address6 + '/128', 'dev', 'eth0',
                   'nodad')
            nsexec(ns, 'ip', 'route', 'add', GATEWAY6, 'dev', 'eth0')
            nsexec(ns, 'ip', 'route', 'add', 'default', 'via', GATEWAY6)
            nsexec(self.slave, 'ip', 'addr', 'add', GATEWAY6 + '/128', 'dev',
                   host_if, 'nodad')
            nsexec(self.slave, 'ip', 'route', 'add', address6 + '/128',
                   'dev', host_if)
            self.hosts6[name] = address6
        return ns

    def add_outside(self, name, index):
        """An untagged host on its own link to the slave."""
        ns = '%s-%s' % (self.prefix, name)
        self._add_ns(ns)
        host_if = self._veth(name, ns)
        address = OUTSIDE_NET + str(index + 1)
        nsexec(ns, 'ip', 'addr', 'add', address + '/24', 'dev', 'eth0')
        nsexec(ns, 'ip', 'route', 'add', 'default', 'via', OUTSIDE_NET + '1')
        nsexec(self.slave, 'ip', 'addr', 'add', OUTSIDE_NET + '1/24', 'dev',
               host_if)
        self.hosts[name] = (ns, address)
        address6 = OUTSIDE_NET6 + str(index + 1)
        nsexec(ns, 'ip', 'addr', 'add', address6 + '/64', 'dev', 'eth0',
               'nodad')
        nsexec(ns, 'ip', 'route', 'add', 'default', 'via', OUTSIDE_NET6 + '1')
        nsexec(self.slave, 'ip', 'addr', 'add', OUTSIDE_NET6 + '1/64', 'dev',
               host_if, 'nodad')
        self.hosts6[name] = address6
        return ns

    def spawn(self, name, *cmd):
        """A long-running process inside host ``name``'s namespace."""
        proc = subprocess.Popen(('ip', 'netns', 'exec', self.hosts[name][0])
                                + cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.processes.append(proc)
        return proc

    def address(self, name, family=4):
        return self.hosts[name][1] if family == 4 else self.hosts6[name]

    def ping(self, src, dst, timeout=1, family=4):
        ns, _ = self.hosts[src]
        return nsexec(ns, 'ping', '-c', '1', '-W', str(timeout),
                      self.address(dst, family),
                      check=False).returncode == 0

    def cleanup(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        for ns in reversed(self.namespaces):
            run('ip', 'netns', 'del', ns, check=False)
        self.namespaces = []


def netns_file(ns):
    return os.path.join('/run/netns', ns)
