"""The veth kind's plumbing on the real kernel, both address families.

``links.Veth`` runs in a namespace standing for the slave (``ip netns
exec`` a small script), its sandbox ends are moved into two container
namespaces configured as Docker configures them (the pool's prefix length,
IPv6 without DAD, default routes via the gateways). No classifier is
attached: this is the driver's routing and neighbour discovery only
(enforcement on IPv6: tests/functional/test_docker_plugin.py).
"""

import json
import subprocess
import sys
import uuid

import testtools

from tests.functional import topology

PLUG = '''
import json, sys
from magnum_iovisor.plugin import links, state
network = state.Network(**json.loads(sys.argv[2]))
endpoints = [state.Endpoint(**e) for e in json.loads(sys.argv[3])]
veth = links.Veth()
if sys.argv[1] == 'plug':
    for number, endpoint in enumerate(endpoints):
        veth.plug(network, endpoint, endpoints[:number])
else:
    veth.unplug(endpoints[0], endpoints[1:])
'''

NETWORK = {'id': 'n', 'mode': 'veth', 'subnet': '10.77.0.0/24',
           'gateway': '10.77.0.1', 'subnet6': 'fd00:77::/64',
           'gateway6': 'fd00:77::1'}


class VethDualStackTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.prefix = 'mil%s' % uuid.uuid4().hex[:5]
        self.slave = self.prefix + '-s'
        self.add_ns(self.slave)
        self.endpoints = []
        self.namespaces = {}
        for number in (1, 2):
            ident = '%s%d' % (self.prefix[3:], number)
            self.endpoints.append({
                'id': ident, 'network_id': 'n',
                'address': '10.77.0.5%d' % number, 'prefixlen': 24,
                'address6': 'fd00:77::5%d' % number, 'prefixlen6': 64,
                'group': 7, 'host_ifname': 'iv' + ident,
                'sandbox_ifname': 'ic' + ident})
        self.links('plug', *self.endpoints)
        for endpoint in self.endpoints:
            self.container(endpoint)

    def add_ns(self, name):
        topology.run('ip', 'netns', 'add', name)
        self.addCleanup(topology.run, 'ip', 'netns', 'del', name,
                        check=False)

    def links(self, command, *endpoints):
        done = subprocess.run(
            ['ip', 'netns', 'exec', self.slave, sys.executable, '-c', PLUG,
             command, json.dumps(NETWORK), json.dumps(endpoints)],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(0, done.returncode, done.stderr)

    def container(self, endpoint):
        ns = self.namespaces[endpoint['id']] = '%s-%s' % (self.prefix,
                                                          endpoint['id'])
        self.add_ns(ns)
        topology.nsexec(self.slave, 'ip', 'link', 'set',
                        endpoint['sandbox_ifname'], 'netns', ns)
        for cmd in (
                ('ip', 'link', 'set', 'lo', 'up'),
                ('ip', 'link', 'set', endpoint['sandbox_ifname'], 'up'),
                ('ip', 'addr', 'add', endpoint['address'] + '/24', 'dev',
                 endpoint['sandbox_ifname']),
                ('ip', '-6', 'addr', 'add', endpoint['address6'] + '/64',
                 'dev', endpoint['sandbox_ifname'], 'nodad'),
                ('ip', 'route', 'add', 'default', 'via', '10.77.0.1'),
                ('ip', '-6', 'route', 'add', 'default', 'via',
                 'fd00:77::1')):
            topology.nsexec(ns, *cmd)

    def ping(self, endpoint, address):
        return topology.nsexec(self.namespaces[endpoint['id']], 'ping', '-c',
                               '1', '-W', '2', address,
                               check=False).returncode == 0

    def proxies(self, endpoint):
        return topology.nsexec(self.slave, 'ip', '-6', 'neigh', 'show',
                               'proxy', 'dev', endpoint['host_ifname']
                               ).stdout.split()

    def test_siblings_reach_each_other_and_the_gateway(self):
        first, second = self.endpoints
        for src, dst in ((first, second), (second, first)):
            self.assertTrue(self.ping(src, dst['address']))
            self.assertTrue(self.ping(src, dst['address6']))
        self.assertTrue(self.ping(first, 'fd00:77::1'))
        self.assertTrue(self.ping(second, '10.77.0.1'))

    def test_neighbour_answers_are_the_host_ends(self):
        first, second = self.endpoints
        self.assertIn('fd00:77::52', self.proxies(first))
        self.assertIn('fd00:77::51', self.proxies(second))
        self.assertTrue(self.ping(first, second['address6']))
        neighbour = topology.nsexec(self.namespaces[first['id']], 'ip', '-6',
                                    'neigh', 'show',
                                    'fd00:77::52').stdout.split()
        host_mac = topology.nsexec(
            self.slave, 'cat', '/sys/class/net/%s/address'
            % first['host_ifname']).stdout.strip()
        self.assertEqual(host_mac, neighbour[neighbour.index('lladdr') + 1])

    def test_unplug_withdraws_the_proxy_entries(self):
        first, second = self.endpoints
        self.links('unplug', second, first)
        self.assertNotIn('fd00:77::52', self.proxies(first))
        routes = topology.nsexec(self.slave, 'ip', '-6', 'route',
                                 'show').stdout
        self.assertIn('fd00:77::51 dev %s' % first['host_ifname'], routes)
        self.assertNotIn('fd00:77::52', routes)
        self.assertFalse(self.ping(first, second['address6']))
