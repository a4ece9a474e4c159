"""State files: good ones are served, bad ones are moved aside once."""

import json
import os

import fixtures
import testtools

from magnum_iovisor.plugin import quarantine
from magnum_iovisor.plugin import state

NETWORK = state.Network(id='n1', mode='veth', subnet='10.9.0.0/24',
                        gateway='10.9.0.1', group=5)
ENDPOINT = state.Endpoint(id='e1', network_id='n1', address='10.9.0.2',
                          prefixlen=24, group=5, host_ifname='ive1',
                          sandbox_ifname='ice1', sandbox_key='/run/ns/x')


class StoreTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.state_dir = self.useFixture(fixtures.TempDir()).path
        self.store = state.Store(self.state_dir)
        self.store.save_network(NETWORK)
        self.store.save_endpoint(ENDPOINT)

    def write(self, kind, name, text):
        with open(os.path.join(self.state_dir, kind, name), 'w') as out:
            out.write(text)

    def good_endpoint(self, **change):
        fields = dict(json.load(open(os.path.join(
            self.state_dir, 'endpoints', 'e1.json'))), **change)
        return json.dumps(fields)

    def test_round_trip_writes_the_version(self):
        self.assertEqual({'n1': NETWORK}, self.store.networks())
        self.assertEqual({'e1': ENDPOINT}, self.store.endpoints())
        with open(os.path.join(self.state_dir, 'networks', 'n1.json')) as f:
            self.assertEqual(state.VERSION, json.load(f)['version'])

    def test_files_without_a_version_are_read(self):
        fields = json.loads(self.good_endpoint(id='e2'))
        del fields['version']
        self.write('endpoints', 'e2.json', json.dumps(fields))
        self.assertEqual({'e1', 'e2'}, set(self.store.endpoints()))

    def test_bad_files_are_moved_aside_and_the_rest_served(self):
        good = self.good_endpoint()
        bad = {
            'empty.json': '',
            'blank.json': '\n  \n',
            'truncated.json': good[:len(good) // 2],
            'garbage.json': '\x00\x01not json',
            'list.json': '[1, 2]',
            'future.json': self.good_endpoint(id='future', version=2),
            'extra.json': self.good_endpoint(id='extra', ipv6='fd00::2'),
            'missing.json': json.dumps({'id': 'missing'}),
            'renamed.json': self.good_endpoint(),
            'badtype.json': self.good_endpoint(id='badtype', group='5'),
            'badgroup.json': self.good_endpoint(id='badgroup', group=70000),
            'badaddr.json': self.good_endpoint(id='badaddr',
                                               address='10.9.0.300'),
        }
        for name, text in bad.items():
            self.write('endpoints', name, text)
        self.write('networks', 'n2.json', '{"id": "n2", "mode": "veth"')
        with self.assertLogs(quarantine.LOG, 'ERROR') as logged:
            self.assertEqual({'e1': ENDPOINT}, self.store.endpoints())
            self.assertEqual({'n1': NETWORK}, self.store.networks())
        self.assertEqual(len(bad) + 1, len(logged.records))
        self.assertEqual(['e1.json'], os.listdir(
            os.path.join(self.state_dir, 'endpoints')))
        moved = self.store.quarantined()
        self.assertEqual(sorted(list(bad) + ['n2.json']),
                         sorted(q.name for q in moved))
        reasons = {q.name: q.reason for q in moved}
        self.assertIn('empty', reasons['empty.json'])
        self.assertIn('truncated', reasons['truncated.json'])
        self.assertIn('version 2', reasons['future.json'])
        self.assertIn('ipv6', reasons['extra.json'])
        self.assertIn('file name', reasons['renamed.json'])
        self.assertIn('out of range', reasons['badgroup.json'])
        for q in moved:
            if q.kind == 'endpoints':
                with open(q.path) as kept:
                    self.assertEqual(bad[q.name], kept.read(), q.name)
        self.assertEqual({'n2'}, quarantine.names(self.state_dir,
                                                  'networks'))
        # logged once: a second load finds nothing new to move
        with self.assertLogs(state.LOG, 'DEBUG') as again:
            state.LOG.debug('marker')
            self.store.endpoints()
            self.store.networks()
        self.assertEqual(1, len(again.records))
        self.assertEqual(len(moved), len(self.store.quarantined()))

    def test_the_same_name_twice_keeps_both(self):
        for _ in range(2):
            self.write('endpoints', 'e9.json', '')
            self.store.endpoints()
        self.assertEqual(2, len(self.store.quarantined()))
