"""Verdicts of the classifiers on crafted packets, in the kernel.

BPF_PROG_TEST_RUN runs the pinned programs on a packet we build; the skb's
device is the loopback (ifindex 1), so the endpoint the programs run for is
registered on ifindex 1: "web" 10.1.0.3 / fd00:1::3, group 100. "db"
(10.1.0.4 / fd00:1::4, group 200) is elsewhere.
"""

import ctypes
import random
import time

from bcc import BPF
from magnum_iovisor.dataplane import events
from magnum_iovisor.dataplane import features
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import loader
from magnum_iovisor import policy
from tests.functional import base
from tests.functional import packets as pk

TC_ACT_OK = 0
TC_ACT_SHOT = 2


class IPv4:
    web, db, far, far2 = '10.1.0.3', '10.1.0.4', '192.0.2.1', '192.0.2.200'
    net24, net25 = '192.0.2.0/24', '192.0.2.128/25'
    icmp = 'icmp'


class IPv6:
    web, db, far, far2 = 'fd00:1::3', 'fd00:1::4', '2001:db8::1', \
        '2001:db8::80:1'
    net24, net25 = '2001:db8::/64', '2001:db8::80:0/112'
    icmp = 'icmpv6'


class ClassifierBase(base.DataplaneTestCase):
    def setUp(self):
        super().setUp()
        for address in ('10.1.0.3', 'fd00:1::3'):
            self.dataplane.tag(address, 100, ifindex=1)   # web, here
        for address in ('10.1.0.4', 'fd00:1::4'):
            self.dataplane.tag(address, 200)              # db, elsewhere
        self.dataplane.listen(60)

    def load(self, text):
        self.dataplane.replace_policy(policy.parse(text))

    def run_prog(self, program, packet):
        verdict, _ = self.dataplane.test_run(program, packet)
        return verdict

    def passes(self, program, packet):
        return self.run_prog(program, packet) == TC_ACT_OK

    def drops(self):
        seen = []
        self.dataplane.watch_drops(seen.append, lambda: True)
        return seen

    def counted(self):
        return {(r.src, r.dst, getattr(r, 'protocol', None),
                 getattr(r, 'ports', None)): n
                for r, n, _ in self.dataplane.rules()}


class ClassifierTest(ClassifierBase):
    def setUp(self):
        super().setUp()
        self.load('100>0 100>200:deny')

    def test_arp_of_the_endpoint_passes_both_ways(self):
        for program in layout.CLASSIFIERS:
            self.assertTrue(self.passes(program, pk.arp('10.1.0.3')))
        self.assertTrue(self.passes('from_endpoint', pk.arp('0.0.0.0')))

    def test_arp_with_another_sender_is_dropped(self):
        for sender in ('10.1.0.4', '10.1.0.1', '10.9.9.9'):
            self.assertFalse(self.passes('from_endpoint', pk.arp(sender)))
        self.assertEqual({('spoofed_source', pk.ETH_P_ARP)},
                         {(d.reason, d.ethertype) for d in self.drops()})

    def test_neighbour_discovery_passes(self):
        ns = pk.neighbour_solicitation('fe80::1', 'fd00:1::1')
        for program in layout.CLASSIFIERS:
            self.assertTrue(self.passes(program, ns))

    def test_other_ethertypes_are_dropped(self):
        for ethertype in (0x88CC, 0x8100):
            packet = pk.frame(ethertype, b'\x60' + b'\x00' * 39)
            for program in layout.CLASSIFIERS:
                self.assertFalse(self.passes(program, packet))
        self.assertEqual({('ethertype', 0x88CC), ('ethertype', 0x8100)},
                         {(d.reason, d.ethertype) for d in self.drops()})

    def test_truncated_headers_are_malformed(self):
        udp = pk.packet('10.1.0.3', '192.0.2.1', pk.UDP, pk.udp(1, 2))
        v6 = pk.packet('fd00:1::3', '2001:db8::1', pk.UDP, pk.udp(1, 2))
        for packet in (udp[:14 + 20 + 2], v6[:14 + 40 + 2]):
            self.assertFalse(self.passes('from_endpoint', packet))
        self.assertEqual(['malformed', 'malformed'],
                         [d.reason for d in self.drops()])

    def test_allowed_pair_passes_and_counts(self):
        packet = pk.packet('10.1.0.3', '192.0.2.1', pk.UDP, pk.udp(1, 2))
        self.assertTrue(self.passes('from_endpoint', packet))
        rules = {r.pair: (n, b) for r, n, b in self.dataplane.rules()}
        self.assertEqual((1, len(packet)), rules[(100, 0)])

    def test_pair_without_rule_is_dropped_and_counted(self):
        packet = pk.packet('192.0.2.1', '10.1.0.3', pk.UDP, pk.udp(1, 2))
        self.assertFalse(self.passes('to_endpoint', packet))
        self.assertEqual([(0, 100, 1, len(packet))], self.dataplane.denied())
        [drop] = self.drops()
        self.assertEqual(('no_rule', '192.0.2.1', '10.1.0.3', 0, 100,
                          pk.UDP, 2),
                         (drop.reason, drop.source, drop.destination,
                          drop.src_group, drop.dst_group, drop.protocol,
                          drop.port))

    def test_deny_rule_drops_and_counts_in_the_rule(self):
        packet = pk.packet('10.1.0.3', '10.1.0.4', pk.UDP, pk.udp(1, 2))
        self.assertFalse(self.passes('from_endpoint', packet))
        rules = {r.pair: n for r, n, _ in self.dataplane.rules()}
        self.assertEqual(1, rules[(100, 200)])
        self.assertEqual(['deny_rule'], [d.reason for d in self.drops()])

    def test_drops_are_counted_by_reason(self):
        self.assertEqual({r.name.lower(): (0, 0) for r in layout.DropReason},
                         self.dataplane.drops())
        self.dataplane.listen(0)        # counted whether or not one listens
        no_rule = pk.packet('192.0.2.1', '10.1.0.3', pk.UDP, pk.udp(1, 2))
        denied = pk.packet('10.1.0.3', '10.1.0.4', pk.UDP, pk.udp(1, 2))
        for _ in range(3):
            self.assertFalse(self.passes('to_endpoint', no_rule))
        self.assertFalse(self.passes('from_endpoint', denied))
        self.assertFalse(self.passes('from_endpoint', pk.packet(
            '10.9.9.9', '192.0.2.7', pk.UDP, pk.udp(1, 2))))
        self.assertTrue(self.passes('from_endpoint', pk.packet(
            '10.1.0.3', '192.0.2.1', pk.UDP, pk.udp(1, 2))))
        drops = self.dataplane.drops()
        self.assertEqual((3, 3 * len(no_rule)), drops['no_rule'])
        self.assertEqual((1, len(denied)), drops['deny_rule'])
        self.assertEqual(1, drops['spoofed_source'][0])
        self.assertEqual((0, 0), drops['malformed'])

    def test_trace_gets_the_verdict_uncounted_and_unreported(self):
        self.dataplane.tag('10.1.0.5', 300)
        self.load('100>0 0>100:udp/2 100>200:deny')
        cases = {('192.0.2.1', '10.1.0.3', 2):
                 (True, 0, 100, None, 'world>100:udp/2', False),
                 ('192.0.2.1', '10.1.0.3', 3):
                 (False, 0, 100, 'no_rule', None, False),
                 ('10.1.0.3', '10.1.0.4', 2):
                 (False, 100, 200, 'deny_rule', '100>200:deny', False),
                 ('10.1.0.5', '10.1.0.3', 2):
                 (False, 300, 100, 'no_rule', None, False)}
        for (src, dst, port), expected in cases.items():
            packet = pk.packet(src, dst, pk.UDP, pk.udp(1, port))
            traced = self.dataplane.trace(packet)
            self.assertEqual(expected, (*traced[:4], traced.rule and
                                        policy.format_rule(traced.rule),
                                        traced.audited))
        self.assertEqual({}, {k: n for k, n in self.counted().items() if n})
        self.assertEqual([], self.dataplane.denied())
        self.assertEqual([], self.dataplane.connections())
        self.assertEqual([], self.drops())
        self.assertEqual({r.name.lower(): (0, 0) for r in layout.DropReason},
                         self.dataplane.drops())
        # the same packets as traffic: the same verdicts, counted
        for (src, dst, port), expected in cases.items():
            program = 'from_endpoint' if src == '10.1.0.3' else 'to_endpoint'
            self.assertEqual(expected[0], self.passes(program, pk.packet(
                src, dst, pk.UDP, pk.udp(1, port))))
        self.assertEqual(1, self.counted()[(0, 100, 'udp', (2, 2))])

    def test_spoofed_sources_are_dropped(self):
        # an address of another endpoint, an unknown one, the world's
        for source in ('10.1.0.4', '10.9.9.9', '192.0.2.1', 'fd00:1::4'):
            self.assertFalse(self.passes('from_endpoint', pk.packet(
                source, '192.0.2.7' if '.' in source else '2001:db8::7',
                pk.UDP, pk.udp(1, 2))))
        self.assertEqual({'spoofed_source'},
                         {d.reason for d in self.drops()})

    def test_local_destination_is_decided_where_it_enters(self):
        self.dataplane.tag('10.1.0.4', 200, ifindex=1)   # db now local
        packet = pk.packet('10.1.0.3', '10.1.0.4', pk.UDP, pk.udp(1, 2))
        self.assertTrue(self.passes('from_endpoint', packet))
        self.assertFalse(self.passes('to_endpoint', packet))
        rules = {r.pair: n for r, n, _ in self.dataplane.rules()}
        self.assertEqual(1, rules[(100, 200)])            # counted once

    def test_to_endpoint_takes_only_its_own_endpoints_packets(self):
        self.load('0>0 0>100 0>200')
        for destination in ('192.0.2.2', '10.1.0.4', '255.255.255.255',
                            '224.0.0.1', '10.1.0.255', 'ff02::1'):
            source = '2001:db8::1' if ':' in destination else '192.0.2.1'
            self.assertFalse(self.passes('to_endpoint', pk.packet(
                source, destination, pk.UDP, pk.udp(1, 2))), destination)
        self.assertEqual({'not_ours'}, {d.reason for d in self.drops()})
        self.assertTrue(self.passes('to_endpoint', pk.packet(
            '192.0.2.1', '10.1.0.3', pk.UDP, pk.udp(1, 2))))

    def test_unknown_addresses_are_the_world(self):
        self.load('0>100')
        self.assertTrue(self.passes('to_endpoint', pk.packet(
            '192.0.2.1', '10.1.0.3', pk.UDP, pk.udp(1, 2))))
        self.load('')
        self.assertFalse(self.passes('to_endpoint', pk.packet(
            '192.0.2.9', '10.1.0.3', pk.UDP, pk.udp(1, 2))))


class ProtocolsMapTest(ClassifierBase):
    """Port rules: runs in a protocols entry, or the trie beyond its room."""

    sport = 30000

    def to(self, proto, port):
        ProtocolsMapTest.sport += 1      # a new connection each time
        l4 = (pk.tcp if proto == pk.TCP else pk.udp)(self.sport, port)
        return pk.packet('10.1.0.3', '192.0.2.1', proto, l4)

    def held(self):
        return {name: len(self.dataplane.maps[name].items())
                for name in ('protocols', 'policy', 'rules')}

    def test_more_port_rules_than_an_entry_holds_go_to_the_trie(self):
        ports = range(1000, 1002 + 2 * layout.PORT_RUNS_MAX, 2)
        tcp = ' '.join('100>0:tcp/%d' % p for p in ports)
        self.load(tcp + ' 100>0:udp/53')
        # tcp: one trie entry a port; udp: one run in its entry
        self.assertEqual({'protocols': 2, 'policy': len(ports),
                          'rules': len(ports) + 1}, self.held())
        for port in ports:
            self.assertTrue(self.passes('from_endpoint',
                                        self.to(pk.TCP, port)), port)
            self.assertFalse(self.passes('from_endpoint',
                                         self.to(pk.TCP, port + 1)), port)
        self.assertTrue(self.passes('from_endpoint', self.to(pk.UDP, 53)))
        self.assertFalse(self.passes('from_endpoint', self.to(pk.UDP, 54)))
        self.assertFalse(self.passes('from_endpoint', self.to(pk.UDP, 1000)))
        self.assertFalse(self.passes('from_endpoint', pk.echo(
            '10.1.0.3', '192.0.2.1', 7)))
        # one rule fewer: tcp's runs fit in its entry, the trie empties
        self.load(tcp.replace('100>0:tcp/%d' % ports[-1], '')
                  + ' 100>0:udp/53')
        self.assertEqual({'protocols': 2, 'policy': 0,
                          'rules': len(ports)}, self.held())
        self.assertTrue(self.passes('from_endpoint',
                                    self.to(pk.TCP, ports[0])))
        self.assertFalse(self.passes('from_endpoint',
                                     self.to(pk.TCP, ports[-1])))
        self.assertEqual(2, self.counted()[100, 0, 'tcp', (ports[0],
                                                           ports[0])])

    def test_a_protocol_rule_and_a_port_rule_share_an_entry(self):
        self.load('100>0:tcp:deny 100>0:tcp/80 100>0:udp 100>0:udp/53:deny')
        self.assertEqual({'protocols': 2, 'policy': 0, 'rules': 4},
                         self.held())
        for proto, port, passes in ((pk.TCP, 80, False), (pk.TCP, 81, False),
                                    (pk.UDP, 53, False), (pk.UDP, 54, True)):
            self.assertEqual(passes, self.passes(
                'from_endpoint', self.to(proto, port)), (proto, port))


class PairsMapTest(ClassifierBase):
    """A pair whose only rule covers every protocol is in the pairs map."""

    def to(self, port):
        return pk.packet('10.1.0.3', '192.0.2.1', pk.TCP, pk.tcp(40000, port))

    def held(self):
        return {name: len(self.dataplane.maps[name].items())
                for name in ('pairs', 'protocols', 'policy', 'rules')}

    def test_a_pair_moves_between_the_maps_keeping_its_counters(self):
        self.load('100>0')
        self.assertEqual({'pairs': 1, 'protocols': 0, 'policy': 0,
                          'rules': 0}, self.held())
        self.assertTrue(self.passes('from_endpoint', self.to(22)))
        self.load('100>0 100>0:tcp/22:deny')
        # an entry for every protocol and one for tcp
        self.assertEqual({'pairs': 0, 'protocols': 2, 'policy': 0,
                          'rules': 2}, self.held())
        self.assertFalse(self.passes('from_endpoint', self.to(22)))
        self.assertTrue(self.passes('from_endpoint', self.to(80)))
        self.load('100>0')
        self.assertEqual({'pairs': 1, 'protocols': 0, 'policy': 0,
                          'rules': 0}, self.held())
        self.assertTrue(self.passes('from_endpoint', self.to(23)))
        self.assertEqual({(100, 0, None, None): 3}, self.counted())

    def test_a_write_cut_short_is_repaired_by_the_next(self):
        self.load('100>0 100>0:tcp/22:deny')
        rule = self.dataplane.rule_index(policy.Rule(100, 0))
        # what a process killed while moving the pair into the pairs map
        # leaves: the pair in both maps, the pairs entry hiding the deny
        self.dataplane.maps['pairs'].set((100, 0),
                                         (layout.Action.ALLOW, rule))
        self.assertTrue(self.passes('from_endpoint', self.to(22)))
        self.load('100>0 100>0:tcp/22:deny')
        self.assertFalse(self.passes('from_endpoint', self.to(22)))
        self.assertEqual(0, self.held()['pairs'])
        self.assertEqual(policy.parse('100>0 100>0:tcp/22:deny'),
                         self.dataplane.policy())

    def test_a_run_of_random_policies_matches_the_model(self):
        # each policy written over the last: pairs move between the maps,
        # rules change action, ranges come and go
        self.dataplane.tag('10.1.0.6', 300)
        far = {0: '192.0.2.1', 200: '10.1.0.4', 300: '10.1.0.6'}
        ports = (5, 25, 80, 100, 443, 2000, 3000, 5432, 8080)
        suffixes = ('', ':tcp', ':udp', ':icmp', ':tcp/22', ':tcp/20-30',
                    ':udp/53', ':tcp/1-1000') + tuple(
                        ':tcp/%d-%d' % (port, port + port % 7)
                        for port in ports)
        probes = [(pk.TCP, port) for port in (22, 2001, *ports)] + [
            (pk.TCP, port + 1) for port in ports] + [
            (pk.UDP, 53), (pk.UDP, 54), (pk.ICMP, None)]
        chance = random.Random(9)
        in_trie = 0
        for step in range(40):
            # now and then, more tcp runs than a protocols entry holds
            dense = chance.choice((0.25, 0.25, 0.9))
            rules = {'100>%d%s%s' % (dst, suffix, chance.choice(
                ('', '', ':deny'))): None
                for dst in far for suffix in suffixes
                if chance.random() < dense}
            model = policy.parse(' '.join(rules))
            self.dataplane.replace_policy(model)
            for dst, address in far.items():
                for proto, port in probes:
                    packet = (
                        pk.echo('10.1.0.3', address, 1) if proto == pk.ICMP
                        else pk.packet('10.1.0.3', address, proto, (
                            pk.tcp if proto == pk.TCP else pk.udp)(40000,
                                                                   port)))
                    traced = self.dataplane.trace(packet)
                    action, rule = model.decide(100, dst, proto, port)
                    self.assertEqual(
                        (action is policy.Action.ALLOW, rule),
                        (traced.passed, traced.rule),
                        (step, str(model), dst, proto, port))
            in_trie += len(self.dataplane.maps['policy'].items()) > 0
        self.assertGreater(in_trie, 3)


class EventsTest(ClassifierBase):
    def test_no_events_while_nobody_listens(self):
        self.dataplane.listen(0)
        packet = pk.packet('10.1.0.3', '10.1.0.4', pk.UDP, pk.udp(1, 2))
        self.assertFalse(self.passes('from_endpoint', packet))
        self.assertEqual([], self.drops_without_keepalive())
        self.dataplane.listen(60)
        self.assertFalse(self.passes('from_endpoint', packet))
        self.assertEqual(1, len(self.drops()))

    def drops_without_keepalive(self):
        seen = []
        events.watch(self.dataplane.events_fd, seen.append, lambda: True,
                     lambda: None)
        return seen

    def test_events_are_rate_limited_and_losses_counted(self):
        packet = pk.packet('10.1.0.3', '10.1.0.4', pk.UDP, pk.udp(1, 2))
        verdict, _ = self.dataplane.test_run('from_endpoint', packet,
                                             repeat=1000)
        self.assertEqual(TC_ACT_SHOT, verdict)
        seen = len(self.drops())
        self.assertLessEqual(seen, layout.EVENTS_BURST + 10)
        self.assertGreaterEqual(self.dataplane.events_lost(), 1000 - seen)


class ConnectionClockTest(ClassifierBase):
    """conn.expires counts jiffies (bpf/conntrack.h), read by ct_clock."""

    out = pk.packet('10.1.0.3', '192.0.2.1', pk.UDP, pk.udp(5353, 53))
    back = pk.packet('192.0.2.1', '10.1.0.3', pk.UDP, pk.udp(53, 5353))

    def setUp(self):
        super().setUp()
        self.load('100>0')               # no rule back: replies need the flow

    def entry(self, proto=pk.UDP):
        """(key, value) of the one entry of ``proto``, or None."""
        found = [(key, conn) for key, conn
                 in self.dataplane.maps['conntrack'].items()
                 if key[4] == proto]
        self.assertLessEqual(len(found), 1)
        return found[0] if found else None

    def test_the_clock_ticks_at_the_running_kernels_hz(self):
        hz = self.dataplane.ct_hz()
        if features.kernel_hz():
            self.assertEqual(features.kernel_hz(), hz)
        # each clock read lies between two monotonic ones
        t0 = time.monotonic()
        first = self.dataplane.ct_clock()
        t1 = time.monotonic()
        time.sleep(0.2)
        t2 = time.monotonic()
        second = self.dataplane.ct_clock()
        t3 = time.monotonic()
        ticks = second - first
        self.assertGreaterEqual(ticks, (t2 - t1) * hz - 2)
        self.assertLessEqual(ticks, (t3 - t0) * hz + 2)

    def test_a_new_connection_expires_after_its_protocols_timeout(self):
        hz = self.dataplane.ct_hz()
        tcp = pk.packet('10.1.0.3', '192.0.2.1', pk.TCP, pk.tcp(40000, 80))
        for proto, packet, seconds in (
                (pk.UDP, self.out, layout.CT_OTHER_TIMEOUT_S),
                (pk.TCP, tcp, layout.CT_TCP_TIMEOUT_S)):
            before = self.dataplane.ct_clock()
            self.assertTrue(self.passes('from_endpoint', packet))
            after = self.dataplane.ct_clock()
            _, conn = self.entry(proto)
            self.assertGreaterEqual(conn.expires, before + seconds * hz)
            self.assertLessEqual(conn.expires, after + seconds * hz)

    def rewrite(self, expires):
        """Open the flow, check its reply passes, then set its expiry."""
        self.assertTrue(self.passes('from_endpoint', self.out))
        self.assertTrue(self.passes('to_endpoint', self.back))
        key, conn = self.entry()
        self.dataplane.maps['conntrack'].set(key, conn._replace(
            expires=expires(self.dataplane.ct_clock())))

    def test_an_expired_entry_lets_no_reply_pass(self):
        self.rewrite(lambda now: now - 1)
        self.assertFalse(self.passes('to_endpoint', self.back))
        self.assertIsNone(self.entry())

    def test_the_furthest_expiry_this_clock_writes_is_alive(self):
        hz = self.dataplane.ct_hz()
        self.rewrite(lambda now: now + layout.CT_TCP_TIMEOUT_S * hz)
        self.assertTrue(self.passes('to_endpoint', self.back))
        self.assertEqual(1, len(self.dataplane.connections()))

    def test_an_entry_of_the_old_clock_is_deleted_and_opened_again(self):
        # versions before jiffies wrote CLOCK_MONOTONIC ns
        self.rewrite(lambda now: time.monotonic_ns() + 3600 * 10 ** 9)
        self.assertEqual([], self.dataplane.connections())
        self.assertFalse(self.passes('to_endpoint', self.back))
        self.assertIsNone(self.entry())
        # fails closed until the opener's next packet opens it again
        self.assertTrue(self.passes('from_endpoint', self.out))
        self.assertTrue(self.passes('to_endpoint', self.back))
        self.assertEqual(1, len(self.dataplane.connections()))


class PortCases:
    """Run for both families: PortTestIPv4, PortTestIPv6."""

    def to(self, port, proto=pk.TCP, sport=40000):
        body = pk.tcp(sport, port) if proto == pk.TCP else pk.udp(sport, port)
        return pk.packet(self.web, self.far, proto, body)

    def test_a_port_rule_allows_its_port_and_no_other(self):
        self.load('100>0:tcp/7070')
        self.assertTrue(self.passes('from_endpoint', self.to(7070)))
        self.assertFalse(self.passes('from_endpoint', self.to(7071)))
        self.assertFalse(self.passes('from_endpoint', self.to(7070, pk.UDP)))
        self.assertFalse(self.passes('from_endpoint', pk.echo(
            self.web, self.far, 1)))

    def test_a_range_covers_exactly_its_ports(self):
        self.load('100>0:udp/8000-8080')
        for port, passes in ((7999, False), (8000, True), (8047, True),
                             (8080, True), (8081, False)):
            self.assertEqual(passes, self.passes(
                'from_endpoint', self.to(port, pk.UDP)), port)

    def test_a_deny_on_one_port_beats_an_allow_on_all(self):
        self.load('100>0 100>0:tcp/22:deny 100>0:tcp/20-30')
        self.assertFalse(self.passes('from_endpoint', self.to(22)))
        self.assertTrue(self.passes('from_endpoint', self.to(23)))
        self.assertTrue(self.passes('from_endpoint', self.to(80)))
        self.assertTrue(self.passes('from_endpoint', self.to(22, pk.UDP)))
        self.assertEqual({(100, 0, None, None): 2,
                          (100, 0, 'tcp', (22, 22)): 1,
                          (100, 0, 'tcp', (20, 30)): 1}, self.counted())

    def test_the_narrowest_allow_is_counted(self):
        self.load('100>0:tcp 100>0:tcp/1-1000 100>0:tcp/80')
        for port in (80, 81, 2000):
            self.assertTrue(self.passes('from_endpoint', self.to(port)))
        self.assertEqual({(100, 0, 'tcp', None): 1,
                          (100, 0, 'tcp', (1, 1000)): 1,
                          (100, 0, 'tcp', (80, 80)): 1}, self.counted())


class ConnectionCases:
    """Run for both families: ConnectionTestIPv4, ConnectionTestIPv6."""

    def test_replies_pass_and_the_destination_cannot_open(self):
        self.load('100>0:tcp/80')
        self.assertTrue(self.passes('from_endpoint', pk.packet(
            self.web, self.far, pk.TCP, pk.tcp(40000, 80))))
        self.assertTrue(self.passes('to_endpoint', pk.packet(
            self.far, self.web, pk.TCP, pk.tcp(80, 40000, 0x12))))
        # the same hosts, a flow the destination opens
        self.assertFalse(self.passes('to_endpoint', pk.packet(
            self.far, self.web, pk.TCP, pk.tcp(80, 40001))))
        self.assertFalse(self.passes('to_endpoint', pk.packet(
            self.far, self.web, pk.TCP, pk.tcp(40000, 80))))
        self.assertEqual(2, self.counted()[(100, 0, 'tcp', (80, 80))])

    def test_echo_replies_pass_and_unasked_ones_do_not(self):
        self.load('100>0:%s' % self.icmp)
        self.assertTrue(self.passes('from_endpoint', pk.echo(
            self.web, self.far, 77)))
        self.assertTrue(self.passes('to_endpoint', pk.echo(
            self.far, self.web, 77, reply=True)))
        self.assertFalse(self.passes('to_endpoint', pk.echo(
            self.far, self.web, 78, reply=True)))
        self.assertFalse(self.passes('to_endpoint', pk.echo(
            self.far, self.web, 77)))

    def test_icmp_errors_of_an_allowed_flow_pass(self):
        self.load('100>0:udp/53')
        sent = pk.packet(self.web, self.far, pk.UDP, pk.udp(5353, 53))
        self.assertTrue(self.passes('from_endpoint', sent))
        quoted = sent[14:]
        router = self.far2
        self.assertTrue(self.passes('to_endpoint', pk.unreachable(
            router, self.web, quoted)))
        other = pk.packet(self.web, self.far, pk.UDP, pk.udp(5354, 53))
        self.assertFalse(self.passes('to_endpoint', pk.unreachable(
            router, self.web, other[14:])))

    def test_removing_the_rule_cuts_the_flow(self):
        self.load('100>0:udp/53 100>200')
        out = pk.packet(self.web, self.far, pk.UDP, pk.udp(5353, 53))
        back = pk.packet(self.far, self.web, pk.UDP, pk.udp(53, 5353))
        self.assertTrue(self.passes('from_endpoint', out))
        self.assertTrue(self.passes('to_endpoint', back))
        self.assertEqual(1, len(self.dataplane.connections()))
        self.assertTrue(self.dataplane.remove_rule(100, 0, 'udp', (53, 53)))
        self.assertFalse(self.passes('to_endpoint', back))
        self.assertFalse(self.passes('from_endpoint', out))
        self.assertEqual([], self.dataplane.connections())

    def test_a_flow_to_an_endpoint_that_moves_away_is_decided_again(self):
        self.load('100>200')
        self.dataplane.tag(self.db, 200, ifindex=1)   # db attached here
        out = pk.packet(self.web, self.db, pk.TCP, pk.tcp(40000, 80))
        self.assertTrue(self.passes('to_endpoint', out))    # opens it
        self.assertTrue(self.passes('from_endpoint', out))
        # db moves to another host, into a group web may not reach
        self.dataplane.tag(self.db, 300)
        self.assertFalse(self.passes('from_endpoint', out))

    def test_a_deny_added_later_cuts_the_flow(self):
        self.load('100>0')
        out = pk.packet(self.web, self.far, pk.TCP, pk.tcp(40000, 22))
        self.assertTrue(self.passes('from_endpoint', out))
        self.load('100>0 100>0:tcp/22:deny')
        self.assertFalse(self.passes('from_endpoint', out))
        self.assertTrue(self.passes('from_endpoint', pk.packet(
            self.web, self.far, pk.TCP, pk.tcp(40000, 23))))


class GroupCases:
    """Run for both families: GroupTestIPv4, GroupTestIPv6."""

    def udp_from(self, source):
        return pk.packet(source, self.web, pk.UDP, pk.udp(1, 2))

    def test_the_longest_prefix_wins(self):
        self.dataplane.tag(self.net24, 500)
        self.dataplane.tag(self.net25, 501)
        self.load('500>100')
        self.assertTrue(self.passes('to_endpoint', self.udp_from(self.far)))
        self.assertFalse(self.passes('to_endpoint', self.udp_from(self.far2)))
        [drop] = self.drops()
        self.assertEqual((501, 100), (drop.src_group, drop.dst_group))
        self.assertTrue(self.dataplane.untag(self.net25))
        self.assertTrue(self.passes('to_endpoint', self.udp_from(self.far2)))

    def test_an_endpoint_beats_its_prefix(self):
        self.dataplane.tag(self.net24, 500)
        self.dataplane.tag(self.far, 600)
        self.load('500>100')
        self.assertFalse(self.passes('to_endpoint', self.udp_from(self.far)))
        self.load('600>100')
        self.assertTrue(self.passes('to_endpoint', self.udp_from(self.far)))

    def test_each_reserved_group_needs_a_rule_naming_it(self):
        for group in (layout.GROUP_HOST, layout.GROUP_NODES,
                      layout.GROUP_UNKNOWN):
            self.dataplane.tag(self.net24, group)
            self.load('0>100')      # the world only
            self.assertFalse(self.passes('to_endpoint',
                                         self.udp_from(self.far)), group)
            self.load('%d>100' % group)
            self.assertTrue(self.passes('to_endpoint',
                                        self.udp_from(self.far)), group)

    def test_a_prefix_with_host_bits_is_refused(self):
        bad = self.net24.replace('0/', '1/').replace('::/', '::1/')
        error = self.assertRaises(ValueError, self.dataplane.tag, bad, 500)
        self.assertIn(bad, str(error))
        self.assertIn('host bits', str(error))
        self.assertEqual([], self.dataplane.prefixes())

    def test_learned_prefixes_come_and_go(self):
        self.assertEqual([], self.dataplane.learn({self.net24: 500}))
        self.assertEqual({self.net24: 500}, self.dataplane.learned())
        self.assertEqual([self.net24], self.dataplane.forget([self.net24]))
        self.assertEqual({}, self.dataplane.learned())


class PortTestIPv4(PortCases, IPv4, ClassifierBase):
    pass


class PortTestIPv6(PortCases, IPv6, ClassifierBase):
    pass


class ConnectionTestIPv4(ConnectionCases, IPv4, ClassifierBase):
    pass


class ConnectionTestIPv6(ConnectionCases, IPv6, ClassifierBase):
    pass


class GroupTestIPv4(GroupCases, IPv4, ClassifierBase):
    pass


class GroupTestIPv6(GroupCases, IPv6, ClassifierBase):
    pass


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
            leaf = table.Leaf
            if name in layout.PERCPU_MAPS:     # bcc: one per CPU
                self.assertTrue(issubclass(leaf, ctypes.Array), name)
                leaf = leaf._type_
            c_value = fields(leaf)
            if isinstance(c_value, int):
                self.assertEqual(c_value, ctypes.sizeof(value), name)
            else:
                self.assertEqual(c_value, fields(value), name)
        self.assertEqual(layout.DROP_REASONS_MAX, len(bpf[b'drops']))
        self.assertLess(max(layout.DropReason), layout.DROP_REASONS_MAX)

    def test_drop_event_layout_matches_the_c(self):
        # bcc describes the event struct only through the program's use of
        # it; a decoded event whose every field is right proves the layout
        self.dataplane.tag('fd00:1::3', 100, ifindex=1)
        self.dataplane.listen(60)
        packet = pk.packet('fd00:1::3', 'fd00:1::4', pk.TCP, pk.tcp(1, 443))
        self.dataplane.test_run('from_endpoint', packet)
        seen = []
        self.dataplane.watch_drops(seen.append, lambda: True)
        self.assertEqual([events.Drop(
            reason='no_rule', direction='from_endpoint', source='fd00:1::3',
            destination='fd00:1::4', src_group=100, dst_group=0,
            ethertype=pk.ETH_P_IPV6, ifindex=1, length=len(packet),
            protocol=pk.TCP, port=443)], seen)
