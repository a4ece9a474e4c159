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
        self.assertFails("group 'web' is not an integer", 'deny', 'web', '1')
        self.assertFails('no rule for 1>2', 'remove', '1', '2')
        self.assertFails("'10.1.0.300' is not an IPv4 or IPv6 address", 'tag',
                         '10.1.0.300', '5')
        self.assertFails('address 10.1.0.9 is not tagged', 'untag',
                         '10.1.0.9')
        self.assertFails('no interface named nosuchif0', 'attach',
                         'nosuchif0', '10.1.0.9', '5')
        self.assertFails('No such file', 'load', '/nonexistent/policy')
        self.assertEqual('\n', self.export())

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
