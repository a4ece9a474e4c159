"""Learned endpoints in a real map, next to local and hand-tagged ones."""

import contextlib
import os
import shutil
import threading
import uuid

from oslo_config import cfg
import testtools

from magnum_iovisor import config
from magnum_iovisor import dataplane
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import loader
from magnum_iovisor import registry
from magnum_iovisor.registry import sync
from tests.functional import topology


class LearnedEndpointsTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        pin_dir = '/sys/fs/bpf/mi%s' % uuid.uuid4().hex[:6]
        self.addCleanup(shutil.rmtree, pin_dir, ignore_errors=True)
        self.addCleanup(_remove, loader.lock_path(pin_dir))
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        conf([], project='magnum-iovisor', default_config_files=[])
        conf.set_override('pin_dir', pin_dir, 'dataplane')
        self.dp = dataplane.Dataplane(conf.dataplane)
        self.addCleanup(self.dp.close)
        self.topo = topology.Topology()
        self.addCleanup(self.topo.cleanup)
        self.topo.add_endpoint('web', '10.1.0.10')
        self.web_index = self.dp.attach(self.topo.host_ifaces['web'],
                                        '10.1.0.10', 100,
                                        netns=self.topo.slave,
                                        sandbox_side=False)
        self.dp.tag('192.0.2.7', 300)

    def raw(self, address):
        return self.dp.endpoint(address)

    def test_learn_and_forget_leave_other_entries_alone(self):
        held = self.dp.learn({'10.1.0.10': 5, '192.0.2.7': 6,
                              '10.1.2.20': 200})
        self.assertEqual(['10.1.0.10', '192.0.2.7'], held)
        self.assertEqual({'10.1.2.20': 200}, self.dp.learned())
        entry = self.raw('10.1.2.20')
        self.assertEqual((200, layout.EndpointFlag.LEARNED, 0),
                         (entry.group, entry.flags, entry.ifindex))
        gone = self.dp.forget(['10.1.0.10', '192.0.2.7', '10.1.2.20',
                               '10.9.9.9'])
        self.assertEqual(['10.1.2.20'], gone)
        self.assertEqual([('10.1.0.10', 100, self.web_index),
                          ('192.0.2.7', 300, 0)], self.dp.endpoints())

    def test_a_hand_tag_takes_over_a_learned_address(self):
        self.dp.learn({'10.1.2.20': 200})
        self.dp.tag('10.1.2.20', 400)
        self.assertEqual({}, self.dp.learned())
        self.assertEqual([], self.dp.forget(['10.1.2.20']))
        self.assertEqual(400, self.raw('10.1.2.20').group)

    def test_sync_makes_the_map_equal_to_the_cluster(self):
        follow = sync.EndpointSync(self.dp, 'a', threading.Lock())
        remote = {registry.Endpoint('10.1.2.%d' % n, 200, 'b')
                  for n in range(1, 51)}
        mine = registry.Endpoint('10.1.0.10', 100, 'a')
        everything = {e.address: e for e in remote | {mine}}
        follow(everything, True)
        follow(everything, True)     # a repeated delivery changes nothing
        self.assertEqual(52, len(self.dp.endpoints()))
        gone = {e.address: None for e in remote if e.address.endswith('0')}
        forged = registry.Endpoint('192.0.2.7', 9, 'b')
        follow(dict(gone, **{forged.address: forged}), False)
        self.assertEqual({e.address: e.group for e in remote
                          if e.address not in gone}, self.dp.learned())
        self.assertEqual(('192.0.2.7', 300, 0), self.dp.endpoints()[-1])
        self.assertIn(('10.1.0.10', 100, self.web_index),
                      self.dp.endpoints())


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
