"""Verdicts of the classifiers on crafted packets, in the kernel.

BPF_PROG_TEST_RUN runs the pinned programs on a packet we build; the skb's
device is the loopback (ifindex 1), so the sending endpoint is registered on
ifindex 1.
"""

import ctypes
import socket
import struct

from bcc import BPF

from magnum_iovisor.dataplane import events
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import loader
from magnum_iovisor import policy
from tests.functional import base

TC_ACT_OK = 0
TC_ACT_SHOT = 2
ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0800, 0x0806, 0x86DD


def frame(ethertype, payload=b''):
    return b'\x02' * 6 + b'\x04' * 6 + struct.pack('!H', ethertype) + payload


def ipv4(src, dst, payload=b'x' * 26):
    header = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0, 0,
                         64, 17, 0, socket.inet_aton(src),
                         socket.inet_aton(dst))
    return frame(ETH_P_IP, header + payload)


class ClassifierTest(base.DataplaneTestCase):
    def setUp(self):
        super().setUp()
        self.dataplane.tag('10.1.0.3', 100, ifindex=1)   # "web", sending
        self.dataplane.tag('10.1.0.4', 200)              # "db", elsewhere
        self.dataplane.replace_policy(policy.parse('100>0 100>200:deny'))

    def run_prog(self, program, packet):
        verdict, _ = self.dataplane.test_run(program, packet)
        return verdict

    def drops(self):
        seen = []
        self.dataplane.watch_drops(seen.append, lambda: True)
        return seen

    def test_arp_passes_both_ways(self):
        arp = frame(ETH_P_ARP, b'\x00' * 28)
        for program in layout.PROGRAMS:
            self.assertEqual(TC_ACT_OK, self.run_prog(program, arp))

    def test_ipv6_and_other_ethertypes_are_dropped(self):
        for ethertype in (ETH_P_IPV6, 0x88CC, 0x8100):
            packet = frame(ethertype, b'\x60' + b'\x00' * 39)
            for program in layout.PROGRAMS:
                self.assertEqual(TC_ACT_SHOT, self.run_prog(program, packet))
        self.assertEqual({('ethertype', ETH_P_IPV6)},
                         {(d.reason, d.ethertype) for d in self.drops()
                          if d.ethertype == ETH_P_IPV6})

    def test_allowed_pair_passes_and_counts(self):
        packet = ipv4('10.1.0.3', '192.0.2.1')
        self.assertEqual(TC_ACT_OK, self.run_prog('from_endpoint', packet))
        rules = {r.pair: (n, b) for r, n, b in self.dataplane.rules()}
        self.assertEqual((1, len(packet)), rules[(100, 0)])

    def test_pair_without_rule_is_dropped_and_counted(self):
        packet = ipv4('192.0.2.1', '10.1.0.3')
        self.assertEqual(TC_ACT_SHOT, self.run_prog('to_endpoint', packet))
        self.assertEqual([(0, 100, 1, len(packet))], self.dataplane.denied())
        [drop] = self.drops()
        self.assertEqual(('no_rule', '192.0.2.1', '10.1.0.3', 0, 100),
                         (drop.reason, drop.source, drop.destination,
                          drop.src_group, drop.dst_group))

    def test_deny_rule_drops_and_counts_in_the_rule(self):
        packet = ipv4('10.1.0.3', '10.1.0.4')
        self.assertEqual(TC_ACT_SHOT, self.run_prog('from_endpoint', packet))
        rules = {r.pair: n for r, n, _ in self.dataplane.rules()}
        self.assertEqual(1, rules[(100, 200)])
        self.assertEqual(['deny_rule'], [d.reason for d in self.drops()])

    def test_spoofed_sources_are_dropped(self):
        # an address of another endpoint, an unknown one, group 0's
        for source in ('10.1.0.4', '10.9.9.9', '192.0.2.1'):
            self.assertEqual(TC_ACT_SHOT, self.run_prog(
                'from_endpoint', ipv4(source, '192.0.2.7')))
        self.assertEqual({'spoofed_source'},
                         {d.reason for d in self.drops()})

    def test_local_destination_is_decided_where_it_enters(self):
        self.dataplane.tag('10.1.0.4', 200, ifindex=7)   # db now local
        packet = ipv4('10.1.0.3', '10.1.0.4')
        self.assertEqual(TC_ACT_OK, self.run_prog('from_endpoint', packet))
        self.assertEqual(TC_ACT_SHOT, self.run_prog('to_endpoint', packet))
        rules = {r.pair: n for r, n, _ in self.dataplane.rules()}
        self.assertEqual(1, rules[(100, 200)])            # counted once

    def test_drops_are_counted_by_reason(self):
        self.assertEqual({r.name.lower(): (0, 0) for r in layout.DropReason},
                         self.dataplane.drops())
        no_rule = ipv4('192.0.2.1', '10.1.0.3')
        denied = ipv4('10.1.0.3', '10.1.0.4')
        for _ in range(3):
            self.run_prog('to_endpoint', no_rule)
        self.run_prog('from_endpoint', denied)
        self.run_prog('from_endpoint', ipv4('10.9.9.9', '192.0.2.7'))
        self.run_prog('from_endpoint', ipv4('10.1.0.3', '192.0.2.1'))  # ok
        drops = self.dataplane.drops()
        self.assertEqual((3, 3 * len(no_rule)), drops['no_rule'])
        self.assertEqual((1, len(denied)), drops['deny_rule'])
        self.assertEqual(1, drops['spoofed_source'][0])
        self.assertEqual((0, 0), drops['malformed'])

    def test_trace_gets_the_verdict_uncounted_and_unreported(self):
        self.dataplane.tag('10.1.0.5', 300)
        self.dataplane.replace_policy(policy.parse('100>0 0>100 100>200:deny'))
        cases = {('192.0.2.1', '10.1.0.3'): (True, 0, 100, None, True),
                 ('10.1.0.3', '10.1.0.4'): (False, 100, 200, 'deny_rule',
                                            True),
                 ('10.1.0.5', '10.1.0.3'): (False, 300, 100, 'no_rule',
                                            False)}
        for (src, dst), expected in cases.items():
            packet = ipv4(src, dst)
            self.assertEqual(expected, tuple(self.dataplane.trace(packet)))
            verdict = self.run_prog('to_endpoint', packet)    # counted
            self.assertEqual(expected[0], verdict == TC_ACT_OK)
        rules = {r.pair: n for r, n, _ in self.dataplane.rules()}
        self.assertEqual({(100, 0): 0, (0, 100): 1, (100, 200): 1}, rules)
        self.assertEqual([(300, 100, 1, 60)], self.dataplane.denied())
        self.assertEqual(['deny_rule', 'no_rule'],
                         sorted(d.reason for d in self.drops()))
        self.assertEqual(1, self.dataplane.drops()['no_rule'][0])

    def test_unknown_addresses_are_group_zero(self):
        self.dataplane.replace_policy(policy.parse('0>0'))
        self.assertEqual(TC_ACT_OK, self.run_prog(
            'to_endpoint', ipv4('192.0.2.1', '192.0.2.2')))
        self.dataplane.replace_policy(policy.parse(''))
        self.assertEqual(TC_ACT_SHOT, self.run_prog(
            'to_endpoint', ipv4('192.0.2.1', '192.0.2.2')))


def fields(ctype):
    """(name, offset, size) of a ctypes struct, or its size for scalars."""
    if not hasattr(ctype, '_fields_'):
        return ctypes.sizeof(ctype)
    return [(name, getattr(ctype, name).offset, getattr(ctype, name).size)
            for name, *_ in ctype._fields_]


class LayoutTest(base.DataplaneTestCase):
    """layout.py mirrors bpf/maps.h: compare with what bcc derived."""

    def test_struct_layouts_match_the_c(self):
        src = loader.source_dir(None)
        bpf = BPF(src_file=('%s/%s' % (src, loader.MAIN_SOURCE)).encode(),
                  cflags=loader.cflags(self.conf.dataplane, src))
        self.addCleanup(bpf.cleanup)
        for name, (key, value) in layout.MAPS.items():
            table = bpf[name.encode()]
            c_key = fields(table.Key)
            if isinstance(c_key, int):
                self.assertEqual(c_key, ctypes.sizeof(key), name)
            else:
                self.assertEqual(c_key, fields(key), name)
            self.assertEqual(fields(table.Leaf), fields(value), name)
        for name, (key, value) in layout.PERCPU_MAPS.items():
            table = bpf[name.encode()]
            self.assertEqual(fields(table.Key), ctypes.sizeof(key), name)
            per_cpu = table.Leaf._type_    # bcc: an array, one per CPU
            self.assertEqual(fields(per_cpu), fields(value), name)
            self.assertEqual(layout.DROP_REASONS_MAX, len(table), name)
        self.assertLess(max(layout.DropReason), layout.DROP_REASONS_MAX)

    def test_drop_event_layout_matches_the_c(self):
        # bcc describes the event struct only through the program's use of
        # it; a decoded event whose every field is right proves the layout
        self.dataplane.tag('10.1.0.3', 100, ifindex=1)
        packet = ipv4('10.1.0.3', '10.1.0.4')
        self.dataplane.test_run('from_endpoint', packet)
        seen = []
        self.dataplane.watch_drops(seen.append, lambda: True)
        self.assertEqual([events.Drop(
            reason='no_rule', direction='from_endpoint', source='10.1.0.3',
            destination='10.1.0.4', src_group=100, dst_group=0,
            ethertype=ETH_P_IP, ifindex=1, length=len(packet))], seen)
