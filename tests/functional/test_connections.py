"""Ports, connections, CIDR and reserved groups on real traffic.

A slave made of namespaces (tests/functional/topology.py): web (group 100)
and db (200) on veths the classifiers are attached to, "outside" on a link
of its own (the world unless tagged); every check runs for IPv4 and IPv6.
"""

import os
import sys
import time

import fixtures

from magnum_iovisor.dataplane import reserved
from magnum_iovisor import policy
from tests.functional import base
from tests.functional import topology

FAMILIES = (4, 6)
ENDPOINTS = (('web', '10.1.0.3', 'fd00:1::3', 100),
             ('db', '10.1.0.4', 'fd00:1::4', 200))


class TrafficTestCase(base.DataplaneTestCase):
    def setUp(self):
        super().setUp()
        self.net = topology.Topology()
        self.addCleanup(self.net.cleanup)
        for name, address, address6, _ in ENDPOINTS:
            self.net.add_endpoint(name, address, address6)
        self.net.add_outside('outside', 1)
        for name, address, address6, group in ENDPOINTS:
            for each in (address, address6):
                self.dataplane.attach(self.net.host_ifaces[name], each,
                                      group, netns=self.net.slave,
                                      sandbox_side=False)
        for name in ('web', 'db', 'outside'):
            self.serve(name, 'serve', 7000)
            self.serve(name, 'serve', 7001)
            self.serve(name, 'udpserve', 5300)

    def serve(self, name, kind, port):
        proc = self.net.spawn(name, sys.executable, base.PROBE, kind,
                              str(port))
        self.assertEqual('listening', proc.stdout.readline().strip())

    def load(self, text):
        self.dataplane.replace_policy(policy.parse(text))

    def probe(self, src, *args):
        ns, _ = self.net.hosts[src]
        return topology.nsexec(ns, sys.executable, base.PROBE, *args,
                               check=False).returncode

    def tcp(self, src, dst, port=7000, family=4):
        return self.probe(src, 'connect', self.net.address(dst, family),
                          str(port)) == 0

    def udp(self, src, dst, port=5300, family=4, wait=1):
        """0: answered, 2: ICMP unreachable came back, 1: silence."""
        return self.probe(src, 'udp', self.net.address(dst, family),
                          str(port), str(wait))

    def ping(self, src, dst, family):
        return self.net.ping(src, dst, family=family)


class PortsAndConnectionsTest(TrafficTestCase):
    def test_a_port_rule_allows_its_port_and_no_other(self):
        self.load('100>200:tcp/7000')
        for family in FAMILIES:
            self.assertTrue(self.tcp('web', 'db', 7000, family), family)
            self.assertFalse(self.tcp('web', 'db', 7001, family), family)
            self.assertEqual(1, self.udp('web', 'db', family=family), family)
            self.assertFalse(self.ping('web', 'db', family), family)

    def test_a_range_and_a_deny_inside_it(self):
        self.load('100>200:tcp/6000-7999 100>200:tcp/7001:deny')
        for family in FAMILIES:
            self.assertTrue(self.tcp('web', 'db', 7000, family), family)
            self.assertFalse(self.tcp('web', 'db', 7001, family), family)

    def test_replies_pass_and_the_destination_cannot_open(self):
        self.load('100>world 100>200')
        for family in FAMILIES:
            for dst in ('outside', 'db'):
                self.assertTrue(self.tcp('web', dst, family=family))
                self.assertEqual(0, self.udp('web', dst, family=family))
                self.assertTrue(self.ping('web', dst, family))
                self.assertFalse(self.tcp(dst, 'web', family=family))
                self.assertEqual(1, self.udp(dst, 'web', family=family))
                self.assertFalse(self.ping(dst, 'web', family))

    def test_each_packet_is_counted_once(self):
        # a ping is a request and a reply: each is counted where it enters
        # an endpoint of this host, or else where it leaves one
        self.load('100>world:icmp 100>200:icmp')
        for dst, group in (('db', 200), ('outside', 0)):
            for _ in range(2):
                self.assertTrue(self.ping('web', dst, 4))
            counted = {(src, dst_group): packets for src, dst_group, _, _,
                       _, packets, _ in self.dataplane.rule_counters()}
            self.assertEqual(4, counted[(100, group)], dst)

    def test_an_icmp_error_of_an_allowed_flow_arrives(self):
        self.load('100>world:udp 100>200:udp')
        # nothing listens on 5399: the port unreachable must come back
        # through to_endpoint as part of the flow
        for family in FAMILIES:
            for dst in ('outside', 'db'):
                self.assertEqual(2, self.udp('web', dst, 5399, family),
                                 (dst, family))

    def stream(self, port, family):
        # a directory: the sink replaces the file through a sibling
        status = os.path.join(self.useFixture(fixtures.TempDir()).path,
                              'received')
        self.serve_sink = self.net.spawn('db', sys.executable, base.PROBE,
                                         'sink', str(port), status)
        self.assertEqual('listening',
                         self.serve_sink.stdout.readline().strip())
        self.net.spawn('web', sys.executable, base.PROBE, 'stream',
                       self.net.address('db', family), str(port))
        deadline = time.monotonic() + 10
        while base.received(status) == 0:
            self.assertLess(time.monotonic(), deadline, 'no stream')
            time.sleep(0.05)
        return status

    def growing(self, path, seconds=1.0):
        before = base.received(path)
        time.sleep(seconds)
        return base.received(path) > before

    def test_removing_a_rule_cuts_an_established_flow(self):
        for family, port in ((4, 7100), (6, 7106)):
            self.load('100>200:tcp/%d 100>200:tcp/7000' % port)
            status = self.stream(port, family)
            self.assertTrue(self.growing(status), family)
            self.assertTrue(self.dataplane.remove_rule(
                100, 200, 'tcp', (port, port)))
            time.sleep(0.3)            # what was in flight
            self.assertFalse(self.growing(status), family)
            self.assertTrue(self.tcp('web', 'db', 7000, family))   # others


class GroupsTest(TrafficTestCase):
    def test_cidr_groups_longest_prefix_first(self):
        for family, wide, narrow in ((4, '10.2.0.0/16', '10.2.0.0/24'),
                                     (6, 'fd00:2::/32', 'fd00:2::/64')):
            self.dataplane.tag(wide, 500)
            self.dataplane.tag(narrow, 501)
            self.load('500>100 100>500')
            self.assertFalse(self.tcp('outside', 'web', family=family))
            self.assertFalse(self.tcp('web', 'outside', family=family))
            self.load('501>100')
            self.assertTrue(self.tcp('outside', 'web', family=family))
            self.assertTrue(self.dataplane.untag(narrow))
            self.assertFalse(self.tcp('outside', 'web', family=family))
            self.load('500>100')
            self.assertTrue(self.tcp('outside', 'web', family=family))
            self.dataplane.untag(wide)

    def test_the_world_is_only_the_world(self):
        # the slave's own addresses are "host", the outside link "nodes"
        self.conf.set_override('node_networks',
                               ['10.2.0.0/24', 'fd00:2::/64'], 'dataplane')
        tagged, _ = reserved.sync(self.dataplane, self.conf.dataplane,
                                  netns=self.net.slave)
        self.assertIn(topology.GATEWAY, tagged)
        self.assertIn(topology.GATEWAY6, tagged)
        self.serve_slave(7000)
        for family in FAMILIES:
            gateway = topology.GATEWAY if family == 4 else topology.GATEWAY6
            self.load('100>world')
            self.assertFalse(self.tcp('web', 'outside', family=family))
            self.assertFalse(self.slave_tcp(gateway))
            self.load('100>nodes')
            self.assertTrue(self.tcp('web', 'outside', family=family))
            self.assertFalse(self.slave_tcp(gateway))
            self.load('100>host')
            self.assertTrue(self.slave_tcp(gateway))
            self.assertFalse(self.tcp('web', 'outside', family=family))

    def serve_slave(self, port):
        proc = topology.subprocess.Popen(
            ('ip', 'netns', 'exec', self.net.slave, sys.executable,
             base.PROBE, 'serve', str(port)),
            stdout=topology.subprocess.PIPE, text=True)
        self.net.processes.append(proc)
        self.assertEqual('listening', proc.stdout.readline().strip())

    def slave_tcp(self, address, port=7000):
        return self.probe('web', 'connect', address, str(port)) == 0

    def test_unknown_addresses_of_the_container_subnets(self):
        self.conf.set_override('container_networks',
                               ['10.2.0.0/24', 'fd00:2::/64'], 'dataplane')
        reserved.sync(self.dataplane, self.conf.dataplane,
                      netns=self.net.slave)
        for family in FAMILIES:
            self.load('100>world world>100')
            self.assertFalse(self.tcp('web', 'outside', family=family))
            self.assertFalse(self.tcp('outside', 'web', family=family))
            self.load('100>unknown unknown>100')
            self.assertTrue(self.tcp('web', 'outside', family=family))
            self.assertTrue(self.tcp('outside', 'web', family=family))
