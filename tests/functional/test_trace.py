"""``iovisor-policy trace`` against real traffic on the seed's slave."""

import json

from magnum_iovisor.telemetry import packet
from tests.functional import base


class TraceTest(base.SeedTestCase):
    def trace(self, source, destination, *more, check=True):
        result = self.cli('trace', '--from', source, '--to', destination,
                          *more, '-f', 'json', check=check)
        return json.loads(result.stdout) if check else result

    def address(self, host):
        return self.net.hosts[host][1]

    def test_every_cell_of_the_seed_matrix_agrees_with_traffic(self):
        before = self.cli('show', '-f', 'json').stdout
        one_way = {(a, b): self.trace(self.address(a), self.address(b),
                                      '--protocol', 'tcp', '--port', '7000')
                   for a in base.SEED_GROUPS for b in base.SEED_GROUPS
                   if a != b}
        self.assertEqual(before, self.cli('show', '-f', 'json').stdout,
                         'a trace moved a counter')
        for (a, b), answer in one_way.items():
            self.assertEqual(base.SEED_GROUPS[a], int(answer['From group']))
            self.assertEqual(base.SEED_GROUPS[b], int(answer['To group']))
            # the seed's policy is one rule per direction
            allowed = answer['Verdict'] == 'allow'
            self.assertEqual(allowed, '%d>%d' % (
                base.SEED_GROUPS[a], base.SEED_GROUPS[b]) == answer['Rule'],
                answer)
        # a TCP exchange needs both directions (the classifier is stateless)
        traced = {(a, b): one_way[a, b]['Verdict'] == 'allow'
                  and one_way[b, a]['Verdict'] == 'allow'
                  for a, b in one_way}
        self.assertEqual(self.matrix(self.tcp), traced)
        self.assertEqual(self.expected_matrix(), traced)

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
        self.assertIn(answer['From'], (self.address('db'),))
        self.assertEqual(('allow', '200>100'), (answer['Verdict'],
                                                answer['Rule']))
        outside = self.trace('0', '100')
        self.assertEqual('0', outside['From group'])
        self.assertEqual('allow', outside['Verdict'])

    def test_unknown_address_resolves_as_the_dataplane_does(self):
        answer = self.trace('203.0.113.9', self.address('db'))
        self.assertEqual(('0', 'deny', 'no_rule'), (
            answer['From group'], answer['Verdict'], answer['Reason']))

    def test_ipv6_is_dropped_as_the_classifier_does(self):
        answer = self.trace('fd00::1', 'fd00::2')
        self.assertEqual(('deny', 'ethertype'), (answer['Verdict'],
                                                 answer['Reason']))

    def test_bad_input_is_an_error(self):
        for args, message in [
                (('10.1.0.300', '10.1.0.4'),
                 "'10.1.0.300' is neither an IP address nor a group"),
                (('70000', '100'), 'group 70000 out of range'),
                (('300', '100'), 'source group 300 has no endpoint'),
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
