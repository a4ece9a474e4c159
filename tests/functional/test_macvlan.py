"""The receiving side checks its own interface, on macvlan siblings.

Three macvlan (bridge mode) interfaces on one veth parent, each in its own
namespace: a (group 100) and b (group 100) enforced inside their sandboxes,
c a sibling with no filter (an unknown address: the world).
"""

import ipaddress
import struct
import subprocess
import sys
import time
import uuid

from testtools import content

from magnum_iovisor import policy
from tests.functional import base
from tests.functional import topology

ADDRESSES = {'a': '10.3.0.2', 'b': '10.3.0.3', 'c': '10.3.0.4'}


class MacvlanTest(base.DataplaneTestCase):
    def setUp(self):
        super().setUp()
        self.prefix = 'mv%s' % uuid.uuid4().hex[:6]
        self.namespaces = []
        self.processes = []
        self.addCleanup(self.cleanup)
        lan = self.netns('lan')
        topology.run('ip', 'link', 'add', 'par', 'netns', lan, 'type',
                     'veth', 'peer', 'name', 'peer', 'netns', lan)
        for iface in ('par', 'peer'):
            topology.nsexec(lan, 'ip', 'link', 'set', iface, 'up')
        self.macs = {}
        for name, address in ADDRESSES.items():
            ns = self.netns(name)
            iface = 'mv' + name
            topology.nsexec(lan, 'ip', 'link', 'add', iface, 'link', 'par',
                            'type', 'macvlan', 'mode', 'bridge')
            topology.nsexec(lan, 'ip', 'link', 'set', iface, 'netns', ns)
            topology.nsexec(ns, 'ip', 'addr', 'add', address + '/24', 'dev',
                            iface)
            topology.nsexec(ns, 'ip', 'link', 'set', iface, 'up')
            topology.nsexec(ns, 'ip', 'link', 'set', 'lo', 'up')
            topology.nsexec(ns, 'sysctl', '-qw',
                            'net.ipv4.conf.all.arp_accept=1')
            topology.nsexec(ns, 'sysctl', '-qw',
                            'net.ipv4.conf.%s.arp_accept=1' % iface)
            self.macs[name] = topology.nsexec(
                ns, 'cat', '/sys/class/net/%s/address' % iface
            ).stdout.strip()
        self.dataplane.replace_policy(policy.parse(
            '100>100 world>100 100>world'))

    def netns(self, name):
        ns = '%s-%s' % (self.prefix, name)
        topology.run('ip', 'netns', 'add', ns)
        self.namespaces.append(ns)
        return ns

    def ns(self, name):
        return '%s-%s' % (self.prefix, name)

    def cleanup(self):
        for proc in self.processes:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        for ns in reversed(self.namespaces):
            topology.run('ip', 'netns', 'del', ns, check=False)

    def enforce(self, name, group=100):
        self.dataplane.attach('mv' + name, ADDRESSES[name], group,
                              netns=self.ns(name))

    def probe(self, name, *args):
        result = topology.nsexec(self.ns(name), sys.executable, base.PROBE,
                                 *args, check=False)
        self.addDetail('probe %s' % ' '.join(args[:2]),
                       content.text_content(result.stderr))
        return result.returncode

    def udpserve(self, name, port):
        proc = subprocess.Popen(
            ('ip', 'netns', 'exec', self.ns(name), sys.executable,
             base.PROBE, 'udpserve', str(port)), stdout=subprocess.PIPE,
            text=True)
        self.processes.append(proc)
        self.assertEqual('listening', proc.stdout.readline().strip())

    def test_broadcast_from_a_sibling_does_not_reach_an_endpoint(self):
        self.udpserve('b', 5400)
        self.assertEqual(0, self.probe('c', 'broadcast', '10.3.0.255',
                                       '5400'))          # no filter yet
        self.enforce('b')
        self.assertEqual(1, self.probe('c', 'broadcast', '10.3.0.255',
                                       '5400'))
        self.assertEqual(1, self.probe('c', 'broadcast', '255.255.255.255',
                                       '5400'))
        # unicast to b's own address still arrives, and its echo returns
        self.assertEqual(0, self.probe('c', 'udp', ADDRESSES['b'], '5400'))

    def arp_reply(self, sender, sender_mac, target):
        mac = bytes.fromhex(sender_mac.replace(':', ''))
        body = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 2, mac,
                           ipaddress.IPv4Address(sender).packed,
                           b'\xff' * 6,
                           ipaddress.IPv4Address(target).packed)
        return (b'\xff' * 6 + mac + b'\x08\x06' + body).hex()

    def neighbour(self, name, address):
        return topology.nsexec(self.ns(name), 'ip', 'neigh', 'show',
                               address).stdout

    def test_arp_with_a_forged_sender_is_dropped(self):
        self.enforce('a')
        mac = self.macs['a']
        # its own address: c learns it
        self.assertEqual(0, self.probe('a', 'frame', 'mva', self.arp_reply(
            ADDRESSES['a'], mac, ADDRESSES['c'])))
        self.assertTrue(self.wait_for_neighbour('c', ADDRESSES['a'], mac))
        # b's address: dropped where it leaves a (the sender's socket is
        # told: ENOBUFS), c never hears of it
        self.assertEqual(1, self.probe('a', 'frame', 'mva', self.arp_reply(
            ADDRESSES['b'], mac, ADDRESSES['c'])))
        self.assertFalse(self.wait_for_neighbour('c', ADDRESSES['b'], mac))

    def wait_for_neighbour(self, name, address, mac, seconds=1.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if mac in self.neighbour(name, address):
                return True
            time.sleep(0.1)
        return False
