"""iovisor-policy on real pins: every command, and its errors."""

import json

from tests.functional import base
from tests.functional import topology


class PolicyCommandsTest(base.DataplaneTestCase):
    def assertFails(self, message, *args, stdin=None):
        result = self.cli(*args, check=False, stdin=stdin)
        self.assertNotEqual(0, result.returncode)
        self.assertIn(message, result.stderr)
        return result

    def export(self, fmt='text'):
        return self.cli('export', '--format', fmt).stdout

    def test_allow_deny_remove(self):
        self.cli('allow', '100', '200')
        self.cli('deny', '200', '100')
        self.assertEqual('100>200 200>100:deny\n', self.export())
        self.cli('allow', '200', '100')
        self.assertEqual('100<>200\n', self.export())
        self.cli('remove', '100', '200')
        self.assertEqual('200>100\n', self.export())

    def test_bad_arguments(self):
        self.assertFails('group 70000 out of range', 'allow', '70000', '1')
        self.assertFails("group 'web' is not an integer or a reserved name",
                         'deny', 'web', '1')
        self.assertFails("did you mean 'nodes'?", 'allow', '1', 'node')
        self.assertFails('no rule for 1>2', 'remove', '1', '2')
        self.assertFails('no rule for 1>2:tcp/80', 'remove', '1', '2',
                         '--protocol', 'tcp', '--ports', '80')
        self.assertFails('port 0 out of range 1..65535', 'allow', '1', '2',
                         '--protocol', 'tcp', '--ports', '0')
        self.assertFails('port 70000 out of range 1..65535', 'allow', '1',
                         '2', '--protocol', 'udp', '--ports', '53-70000')
        self.assertFails('port range 81-80 is upside down', 'allow', '1',
                         '2', '--protocol', 'tcp', '--ports', '81-80')
        self.assertFails('icmp has none', 'deny', '1', '2', '--protocol',
                         'icmp', '--ports', '1')
        self.assertFails("'10.1.0.300' is not an IPv4 or IPv6 address",
                         'tag', '10.1.0.300', '5')
        self.assertFails('CIDR 192.0.2.1/24 has host bits set', 'tag',
                         '192.0.2.1/24', '5')
        self.assertFails('CIDR fd00::1/64 has host bits set', 'tag',
                         'fd00::1/64', '5')
        self.assertFails('10.1.0.9 is not tagged', 'untag', '10.1.0.9')
        self.assertFails('no interface named nosuchif0', 'attach',
                         'nosuchif0', '10.1.0.9', '5')
        self.assertFails('No such file', 'load', '/nonexistent/policy')
        self.assertFails("rule 2 ('1>2:tcp/0'): port 0 out of range", 'load',
                         '-', stdin='3>4 1>2:tcp/0')
        self.assertEqual('\n', self.export())
        self.assertEqual([], json.loads(
            self.cli('endpoints', '-f', 'json').stdout))

    def test_attach_a_second_address(self):
        net = topology.Topology()
        self.addCleanup(net.cleanup)
        net.add_endpoint('web', '10.1.0.3')
        iface = net.host_ifaces['web']
        self.cli('attach', iface, '10.1.0.3', 'fd00::3', '100', '--netns',
                 net.slave, '--host-side')
        self.cli('attach', iface, 'fd00::4', '100', '--netns', net.slave,
                 '--host-side')
        rows = json.loads(self.cli('endpoints', '-f', 'json').stdout)
        self.assertEqual({('10.1.0.3', 100), ('fd00::3', 100),
                          ('fd00::4', 100)},
                         {(r['Address'], r['Group']) for r in rows})
        self.assertEqual(1, len({r['Ifindex'] for r in rows}))
        self.cli('detach', iface, '--netns', net.slave)
        self.assertEqual([], json.loads(
            self.cli('endpoints', '-f', 'json').stdout))

    def test_rules_with_protocols_ports_and_reserved_groups(self):
        self.cli('allow', '9', '2047', '--protocol', 'tcp', '--ports',
                 '8000-8080')
        self.cli('deny', '9', '2047', '--protocol', 'tcp', '--ports', '22')
        self.cli('allow', '9', '2047', '--protocol', 'icmp')
        self.cli('allow', '100', 'nodes', '--protocol', 'udp', '--ports',
                 '53')
        self.cli('allow', '100', '0')
        self.assertEqual('9>2047:icmp 9>2047:tcp/22:deny '
                         '9>2047:tcp/8000-8080 100>world 100>nodes:udp/53\n',
                         self.export())
        rows = json.loads(self.cli('show', '-f', 'json').stdout)
        self.assertIn({'Source': 9, 'Destination': 2047, 'Protocol': 'tcp',
                       'Ports': '8000-8080', 'Action': 'allow',
                       'Packets': 0, 'Bytes': 0}, rows)
        self.assertIn({'Source': 100, 'Destination': 0, 'Protocol': 'any',
                       'Ports': 'any', 'Action': 'allow', 'Packets': 0,
                       'Bytes': 0}, rows)
        self.cli('remove', '9', '2047', '--protocol', 'tcp', '--ports', '22')
        self.cli('remove', '100', 'world')
        self.assertEqual('9>2047:icmp 9>2047:tcp/8000-8080 '
                         '100>nodes:udp/53\n', self.export())

    def test_load_and_export_in_every_format(self):
        self.cli('load', '-', stdin=base.SEED_POLICY)
        seed = self.export()
        for fmt in ('json', 'yaml', 'text'):
            document = self.export(fmt)
            self.cli('load', '-', stdin='')
            self.assertEqual('\n', self.export())
            out = self.cli('load', '-', '--format', fmt,
                           stdin=document).stdout
            self.assertIn('5 rules in force', out)
            self.assertEqual(seed, self.export())

    def test_load_reports_the_diff(self):
        self.cli('load', '-', stdin='1>2 2>3')
        out = self.cli('load', '-', stdin='1>2 2>3:deny 4>5').stdout
        self.assertEqual('3 rules in force: 2 added or changed, 0 removed\n',
                         out)

    def test_load_extended_rules_in_every_format(self):
        self.cli('load', '-', stdin='9>2047:tcp/7070 9>2047:udp/53 '
                 '9>2047:tcp/22:deny 1<>2:icmp 100>host:tcp/5051')
        text = self.export()
        for fmt in ('json', 'yaml'):
            document = self.export(fmt)
            self.cli('load', '-', stdin='')
            self.cli('load', '-', '--format', fmt, stdin=document)
            self.assertEqual(text, self.export())

    def listed(self, command):
        return {(r.get('Address') or r['Prefix'], r['Group'])
                for r in json.loads(self.cli(command, '-f', 'json').stdout)
                if r.get('Origin', 'tag') == 'tag'}

    def test_tag_untag_ipv6_and_prefixes(self):
        for given, shown, command in (
                ('fd00::10', 'fd00::10', 'endpoints'),
                ('FD00:0::11/128', 'fd00::11', 'endpoints'),
                ('192.0.2.0/24', '192.0.2.0/24', 'prefixes'),
                ('fd00:1::/64', 'fd00:1::/64', 'prefixes')):
            self.cli('tag', given, '300')
            self.assertIn((shown, 300), self.listed(command))
            self.cli('untag', given)
            self.assertEqual(set(), self.listed(command))
        self.assertFails('192.0.2.0/24 is not tagged', 'untag',
                         '192.0.2.0/24')

    def test_tag_untag_endpoints(self):
        self.cli('tag', '192.0.2.10', '300')
        rows = json.loads(self.cli('endpoints', '-f', 'json').stdout)
        self.assertEqual([{'Address': '192.0.2.10', 'Group': 300,
                           'Ifindex': 0}], rows)
        self.cli('untag', '192.0.2.10')
        self.assertEqual([], json.loads(
            self.cli('endpoints', '-f', 'json').stdout))

    def test_attach_detach_in_a_namespace(self):
        net = topology.Topology()
        self.addCleanup(net.cleanup)
        net.add_endpoint('web', '10.1.0.3')
        iface = net.host_ifaces['web']
        for _ in range(2):   # idempotent
            self.cli('attach', iface, '10.1.0.3', '100', '--netns',
                     net.slave, '--host-side')
        from magnum_iovisor.dataplane import attach
        self.assertEqual(
            {attach.INGRESS: ['magnum-iovisor:from_endpoint'],
             attach.EGRESS: ['magnum-iovisor:to_endpoint']},
            attach.attached_filters(iface, net.slave))
        [row] = json.loads(self.cli('endpoints', '-f', 'json').stdout)
        self.assertEqual(('10.1.0.3', 100), (row['Address'], row['Group']))
        self.assertNotEqual(0, row['Ifindex'])
        self.assertFails('is the endpoint attached on interface', 'tag',
                         '10.1.0.3', '7')
        self.cli('detach', iface, '--netns', net.slave)
        self.assertEqual({}, attach.attached_filters(iface, net.slave))
        self.assertEqual([], json.loads(
            self.cli('endpoints', '-f', 'json').stdout))
