"""``iovisor-policy`` arguments: what reaches the Dataplane facade.

The commands run in the real cliff application; the dataplane is a
recorder (the real one: tests/functional/test_cli.py). Bad input must fail
before any call reaches it.
"""

import contextlib
import io
import json
import tempfile

import fixtures
import testtools

from magnum_iovisor.cmd import policy as policy_app
from magnum_iovisor.dataplane import layout
from magnum_iovisor import policy


class RecordingDataplane:
    def __init__(self):
        self.calls = []
        self.known = {}
        self.present = True
        self.audited = (False, [])
        self.fail = lambda name, args: False

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            if self.fail(name, args):
                raise ValueError('refused by the dataplane')
            if name == 'endpoint':
                return self.known.get(args[0])
            if name in ('remove_rule', 'untag'):
                return self.present
            if name in ('rules', 'denied'):
                return []
            if name == 'audit':
                return self.audited
            return None
        return call

    def writing_policy(self):
        return contextlib.nullcontext()

    def close(self):
        pass


class CommandsTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        conf = tempfile.NamedTemporaryFile('w', suffix='.conf')
        self.addCleanup(conf.close)
        conf.write('[registry]\nbackend = local\n')
        conf.flush()
        self.conf = conf.name
        self.dp = RecordingDataplane()
        self.stderr = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))

    def run_cli(self, *args):
        app = policy_app.PolicyApp()
        app._dataplane = self.dp
        app.stdout = io.StringIO()
        app.stderr = self.stderr
        try:
            code = app.run(['--config-file', self.conf, *args])
        except SystemExit as exc:     # argparse
            code = exc.code
        self.out = app.stdout.getvalue()
        return code

    def err(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def changes(self):
        return [c for c in self.dp.calls if c[0] != 'endpoint']

    def assertCalled(self, calls, *args):
        self.assertEqual(0, self.run_cli(*args), self.err())
        self.assertEqual(calls, self.changes())

    def assertRefused(self, message, *args):
        self.assertNotEqual(0, self.run_cli(*args))
        self.assertIn(message, self.err())
        self.assertEqual([], self.changes())

    def test_rules_by_number_and_name(self):
        self.assertCalled([('set_rule', (100, 0, policy.Action.ALLOW), {})],
                          'allow', '100', 'world')
        self.dp.calls = []
        self.assertCalled([('set_rule', (65535, 65534, policy.Action.DENY),
                            {'protocol': 'tcp', 'ports': (22, 22)})],
                          'deny', 'host', 'nodes', '--protocol', 'tcp',
                          '--ports', '22')

    def test_ports_and_protocol(self):
        self.assertCalled([('set_rule', (9, 2047, policy.Action.ALLOW),
                            {'protocol': 'udp', 'ports': (53, 60)})],
                          'allow', '9', '2047', '--protocol', 'udp',
                          '--ports', '53-60')
        self.dp.calls = []
        self.assertCalled([('remove_rule', (9, 2047),
                            {'protocol': 'icmp', 'ports': None})],
                          'remove', '9', '2047', '--protocol', 'icmp')

    def test_remove_names_the_missing_rule(self):
        self.dp.present = False
        self.assertNotEqual(0, self.run_cli('remove', '1', 'host',
                                            '--protocol', 'tcp', '--ports',
                                            '80-81'))
        self.assertIn('no rule for 1>host:tcp/80-81', self.err())

    def test_bad_rules_change_nothing(self):
        self.assertRefused('port 0 out of range 1..65535',
                           'allow', '1', '2', '--protocol', 'tcp',
                           '--ports', '0')
        self.assertRefused('port 65536 out of range', 'allow', '1', '2',
                           '--protocol', 'tcp', '--ports', '80-65536')
        self.assertRefused('port range 90-80 is upside down', 'deny', '1',
                           '2', '--protocol', 'udp', '--ports', '90-80')
        self.assertRefused('ports need protocol tcp or udp; icmp has none',
                           'allow', '1', '2', '--protocol', 'icmp',
                           '--ports', '8')
        self.assertRefused('ports need protocol tcp or udp, and no '
                           'protocol is given', 'remove', '1', '2',
                           '--ports', '8')
        self.assertRefused("protocol 'tpc' is not one of tcp, udp, icmp, "
                           "icmpv6; did you mean 'tcp'?", 'allow', '1', '2',
                           '--protocol', 'tpc')
        self.assertRefused("group 'wrold' is not an integer or a reserved "
                           "name", 'allow', '1', 'wrold')
        self.assertRefused("did you mean 'world'?", 'allow', '1', 'wrold')
        self.assertRefused('group 70000 out of range', 'allow', '70000', '1')

    def test_tag_addresses_and_prefixes(self):
        for given, passed in (('192.0.2.10', '192.0.2.10'),
                              ('192.0.2.0/24', '192.0.2.0/24'),
                              ('198.51.100.7/32', '198.51.100.7'),
                              ('FD00::0010', 'fd00::10'),
                              ('fd00:1::/64', 'fd00:1::/64')):
            self.dp.calls = []
            self.assertCalled([('tag', (passed, 500), {})],
                              'tag', given, '500')
            self.dp.calls = []
            self.assertCalled([('untag', (passed,), {})], 'untag', given)

    def test_bad_addresses_change_nothing(self):
        self.assertRefused('CIDR 192.0.2.1/24 has host bits set; the prefix '
                           'is 192.0.2.0/24', 'tag', '192.0.2.1/24', '5')
        self.assertRefused('CIDR fd00::1/64 has host bits set; the prefix '
                           'is fd00::/64', 'untag', 'fd00::1/64')
        self.assertRefused("'10.1.0.300' is not an IPv4 or IPv6 address",
                           'tag', '10.1.0.300', '5')
        self.assertRefused("'fd00::/129' is not an address or a CIDR prefix",
                           'tag', 'fd00::/129', '5')
        self.assertRefused("'10.0.0.0/8' is not an IPv4 or IPv6 address",
                           'attach', 'eth0', '10.0.0.0/8', '5')

    def test_attached_endpoints_are_not_tagged(self):
        self.dp.known['10.1.0.3'] = layout.Endpoint(100, 0, 7)
        self.assertRefused('10.1.0.3 is the endpoint attached on interface '
                           '7; detach it instead', 'tag', '10.1.0.3', '5')

    def test_attach_two_addresses(self):
        self.assertCalled(
            [('attach', ('veth1', '10.1.0.3', 100, None, None), {}),
             ('attach', ('veth1', 'fd00::3', 100, None, None), {})],
            'attach', 'veth1', '10.1.0.3', 'fd00:0::3', '100')
        self.dp.calls = []
        self.assertRefused('attach takes one address or two different ones',
                           'attach', 'veth1', '10.1.0.3', '10.1.0.3', '100')
        self.assertRefused('attach takes one address or two different ones',
                           'attach', 'veth1', '10.1.0.3', '10.1.0.4',
                           'fd00::1', '100')

    def test_attach_refuses_reserved_groups(self):
        self.assertRefused('group 65534 is reserved for nodes; a container '
                           'takes 1..65532 (or 0)', 'attach', 'veth1',
                           '10.1.0.3', 'nodes')
        self.assertRefused('group 65535 is reserved for host', 'attach',
                           'veth1', '10.1.0.3', '65535')

    def test_attach_undoes_the_first_address_when_the_second_fails(self):
        self.dp.fail = lambda name, args: 'fd00::3' in args[1:2]
        self.assertNotEqual(0, self.run_cli('attach', 'veth1', '10.1.0.3',
                                            'fd00::3', '100'))
        self.assertEqual(
            [('attach', ('veth1', '10.1.0.3', 100, None, None), {}),
             ('attach', ('veth1', 'fd00::3', 100, None, None), {}),
             ('untag', ('10.1.0.3',), {})], self.changes())

    def test_prefixes_say_who_wrote_them(self):
        self.dp.prefixes = lambda: [('10.0.0.0/8', 65533, 2),
                                    ('192.0.2.0/24', 500, 0),
                                    ('fd00:1::/64', 7, 1)]
        self.assertEqual(0, self.run_cli('prefixes', '-f', 'csv'), self.err())
        self.assertEqual('"Prefix","Group","Origin"\n'
                         '"10.0.0.0/8",65533,"reserved"\n'
                         '"192.0.2.0/24",500,"tag"\n'
                         '"fd00:1::/64",7,"learned"\n',
                         self.out.replace('\r\n', '\n'))

    def test_show_warns_while_audit_mode_is_on(self):
        self.dp.rules = lambda: [(policy.Rule(100, 0), 1, 98)]
        self.dp.endpoints = lambda: []
        self.assertEqual(0, self.run_cli('show'), self.err())
        self.assertNotIn('AUDIT', self.out + self.err())
        self.dp.audited = (False, [200, 65535])
        self.assertEqual(0, self.run_cli('show'), self.err())
        self.assertIn('AUDIT MODE ON for groups 200, host: the policy is '
                      'NOT enforced there', self.out)
        self.assertLess(self.out.index('AUDIT'), self.out.index('Source'))
        # machine-readable output stays parsable: the warning goes to stderr
        self.dp.audited = (True, [])
        self.assertEqual(0, self.run_cli('show', '-f', 'json'), self.err())
        self.assertEqual(100, json.loads(self.out)[0]['Source'])
        self.assertIn('AUDIT MODE ON for ALL GROUPS', self.err())
        self.assertEqual(0, self.run_cli('show', '--matrix'), self.err())
        self.assertIn('AUDIT MODE ON for ALL GROUPS', self.out)

    def test_audit_on_and_off(self):
        self.dp.set_audit = lambda on, group=None: self.dp.calls.append(
            ('set_audit', on, group)) or (0 if on else 3)
        self.assertEqual(0, self.run_cli('audit', 'on', '200'), self.err())
        self.assertIn(('set_audit', True, 200), self.dp.calls)
        self.assertIn('audit mode on for group 200', self.out)
        self.assertEqual(0, self.run_cli('audit', 'off'), self.err())
        self.assertIn(('set_audit', False, None), self.dp.calls)
        self.assertIn('audit mode off for every group: enforced; 3 '
                      'connections audit let open cut', self.out)
        self.assertNotEqual(0, self.run_cli('audit', 'maybe'))
        self.assertNotEqual(0, self.run_cli('audit', 'on', 'wrold'))
        self.assertNotIn(('set_audit', True, None), self.dp.calls)

    def test_show_has_protocol_and_ports(self):
        rows = [(policy.Rule(9, 2047, 'allow', 'tcp', (8000, 8080)), 3, 180),
                (policy.Rule(100, 0), 1, 98)]
        self.dp.rules = lambda: rows
        self.dp.denied = lambda: [(0, 200, 2, 196)]
        self.assertEqual(0, self.run_cli('show', '-f', 'csv'), self.err())
        self.assertEqual(
            '"Source","Destination","Protocol","Ports","Action","Packets",'
            '"Bytes"\n9,2047,"tcp","8000-8080","allow",3,180\n'
            '100,0,"any","any","allow",1,98\n'
            '0,200,"any","any","no rule",2,196\n',
            self.out.replace('\r\n', '\n'))
