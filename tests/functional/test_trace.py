"""``iovisor-policy trace`` against real traffic on the seed's slave."""

import json
import sys

from magnum_iovisor import policy
from magnum_iovisor.telemetry import packet
from tests.functional import base


class TraceTest(base.SeedTestCase):
    def trace(self, source, destination, *more, check=True):
        result = self.cli('trace', '--from', source, '--to', destination,
                          *more, '-f', 'json', check=check)
        return json.loads(result.stdout) if check else result

    def address(self, host):
        return self.net.hosts[host][1]

    def group_label(self, host):
        group = base.SEED_GROUPS[host]
        return 'world' if group == 0 else str(group)

    def test_every_cell_of_the_seed_matrix_agrees_with_traffic(self):
        before = self.cli('show', '-f', 'json').stdout
        traced = {(a, b): self.trace(self.address(a), self.address(b),
                                     '--protocol', 'tcp', '--port', '7000')
                  for a in base.SEED_GROUPS for b in base.SEED_GROUPS
                  if a != b}
        self.assertEqual(before, self.cli('show', '-f', 'json').stdout,
                         'a trace moved a counter')
        self.assertEqual([], self.dataplane.connections(),
                         'a trace opened a connection')
        rules = {policy.format_rule(r)
                 for r in policy.parse_text(base.SEED_POLICY).rules}
        for (a, b), answer in traced.items():
            self.assertEqual((self.group_label(a), self.group_label(b)),
                             (answer['From group'], answer['To group']))
            # the seed's rules name whole pairs: the rule is the pair's
            rule = '%s>%s' % (self.group_label(a), self.group_label(b))
            if rule in rules:
                self.assertEqual(('allow', 'passes', rule),
                                 (answer['Verdict'], answer['Enforced'],
                                  answer['Rule']), (a, b))
            else:
                self.assertEqual(('deny', 'dropped', 'no_rule',
                                  '(default deny: no rule)'),
                                 (answer['Verdict'], answer['Enforced'],
                                  answer['Reason'], answer['Rule']), (a, b))
        # v2: a connection needs the rule of its opener only
        seen = self.matrix(self.tcp)
        self.assertEqual(seen, {cell: answer['Verdict'] == 'allow'
                                for cell, answer in traced.items()})
        self.assertEqual(self.expected_matrix(), seen)
        self.assertIn(False, seen.values())
        self.assertIn(True, seen.values())

    def serve(self, host, port):
        proc = self.net.spawn(host, sys.executable, base.PROBE, 'serve',
                              str(port))
        self.assertEqual('listening', proc.stdout.readline().strip())

    def test_port_rules_agree_with_traffic(self):
        for port in (7001, 7002):
            self.serve('db', port)
        self.cli('remove', '100', '200')
        self.cli('allow', '100', '200', '--protocol', 'tcp', '--ports',
                 '7000-7001')
        self.cli('deny', '100', '200', '--protocol', 'tcp', '--ports',
                 '7001')
        expected = {7000: ('allow', None, '100>200:tcp/7000-7001'),
                    7001: ('deny', 'deny_rule', '100>200:tcp/7001:deny'),
                    7002: ('deny', 'no_rule', '(default deny: no rule)')}
        for port, (verdict, reason, rule) in expected.items():
            answer = self.trace(self.address('web'), self.address('db'),
                                '--protocol', 'tcp', '--port', str(port))
            self.assertEqual((verdict, reason or 'allowed by a rule', rule),
                             (answer['Verdict'], answer['Reason'],
                              answer['Rule']), port)
            self.assertEqual(verdict == 'allow',
                             self.tcp('web', 'db', port), port)
        # udp has no rule at all between them now
        answer = self.trace('100', '200', '--protocol', 'udp', '--port',
                            '7000')
        self.assertEqual(('deny', 'no_rule'),
                         (answer['Verdict'], answer['Reason']))

    def test_denied_pair_names_the_default_deny(self):
        answer = self.trace(self.address('outside'), self.address('db'))
        self.assertEqual(('deny', 'no_rule', '(default deny: no rule)'),
                         (answer['Verdict'], answer['Reason'],
                          answer['Rule']))
        self.assertEqual('entering %s (ifindex %d)' % (
            self.address('db'), self.dataplane.endpoint(
                self.address('db')).ifindex), answer['Decided'])

    def test_deny_rule_is_named(self):
        self.cli('deny', '100', '200')
        answer = self.trace('100', '200', '--protocol', 'udp', '--port',
                            '53')
        self.assertEqual(('deny', 'deny_rule', '100>200:deny'),
                         (answer['Verdict'], answer['Reason'],
                          answer['Rule']))
        self.assertFalse(self.tcp('web', 'db'))

    def test_groups_stand_for_their_endpoints(self):
        answer = self.trace('200', '100')
        self.assertEqual(self.address('db'), answer['From'])
        self.assertEqual(('allow', '200>100'), (answer['Verdict'],
                                                answer['Rule']))
        outside = self.trace('world', '100')
        self.assertEqual(('world', 'allow', 'world>100'), (
            outside['From group'], outside['Verdict'], outside['Rule']))
        self.assertEqual(outside, self.trace('0', '100'))

    def test_unknown_addresses_resolve_as_the_dataplane_does(self):
        # nobody's address, outside every prefix: the world
        answer = self.trace('203.0.113.9', self.address('db'))
        self.assertEqual(('world', 'deny', 'no_rule'), (
            answer['From group'], answer['Verdict'], answer['Reason']))
        # inside the container subnet, no endpoint: unknown, as the daemon
        # tags the subnets it routes
        self.cli('tag', '10.1.0.0/24', 'unknown')
        stray = '10.1.0.99'
        answer = self.trace(stray, self.address('web'))
        self.assertEqual(('unknown', 'deny', 'no_rule'), (
            answer['From group'], answer['Verdict'], answer['Reason']))
        answer = self.trace('unknown', '100')
        self.assertEqual('unknown', answer['From group'])
        self.assertTrue(answer['From'].startswith('10.1.0.'), answer)
        self.cli('allow', 'unknown', '100')
        self.assertEqual(('allow', 'unknown>100'), (
            lambda a: (a['Verdict'], a['Rule']))(self.trace(stray, '100')))
        # IPv6: the same lookups
        answer = self.trace('2001:db8::9', 'fd00:99::1')
        self.assertEqual(('world', 'world', 'deny', 'no_rule',
                          'not on this host (neither end is attached here)'),
                         (answer['From group'], answer['To group'],
                          answer['Verdict'], answer['Reason'],
                          answer['Decided']))

    def test_bad_input_is_an_error(self):
        for args, message in [
                (('10.1.0.300', '10.1.0.4'),
                 "'10.1.0.300' is neither an IP address, a group"),
                (('wrold', '10.1.0.4'), "'wrold' is neither an IP address"),
                (('10.1.0.0/24', '10.1.0.4'), "'10.1.0.0/24' is neither"),
                (('70000', '100'), 'group 70000 out of range'),
                (('300', '100'), 'source group 300 has no IPv4 address'),
                (('10.1.0.3', 'fd00::1'), 'not of one IP version'),
                (('10.1.0.3', '10.1.0.4', '--protocol', 'tcp'),
                 'tcp needs a port'),
                (('10.1.0.3', '10.1.0.4', '--port', '80'),
                 'icmp has no ports')]:
            result = self.trace(*args, check=False)
            self.assertNotEqual(0, result.returncode, args)
            self.assertIn(message, result.stderr)


class PacketTest(base.testtools.TestCase):
    def test_headers(self):
        frame = packet.build('10.0.0.1', '10.0.0.2', 'tcp', 80)
        self.assertEqual(14 + 20 + 20, len(frame))
        self.assertEqual(0, packet.checksum(frame[14:34]))
        self.assertEqual(b'\x00\x50', frame[36:38])
        v6 = packet.build('fd00::1', 'fd00::2', 'udp', 53)
        self.assertEqual(b'\x86\xdd', v6[12:14])
        self.assertEqual(17, v6[14 + 6])
