"""kill -9 of the process holding the dataplane while traffic flows."""

import json
import os
import signal
import subprocess
import sys
import time

import fixtures

from magnum_iovisor import policy
from tests.functional import base

HOLDER = '''
import sys, time
from oslo_config import cfg
from magnum_iovisor import config
from magnum_iovisor.dataplane import Dataplane
conf = cfg.ConfigOpts(); config.register_opts(conf); conf([])
conf.set_override('pin_dir', sys.argv[1], 'dataplane')
dp = Dataplane(conf.dataplane)
for spec in sys.argv[3:]:
    iface, address, group = spec.split(',')
    dp.attach(iface, address, int(group), netns=sys.argv[2],
              sandbox_side=False)
print('ready', flush=True)
dp.watch_drops(lambda drop: None, lambda: False)
'''


class RestartTest(base.SeedTestCase):
    def setUp(self):
        super().setUp()
        # the holder re-attaches the seed endpoints and keeps the
        # dataplane open, like the daemon will
        specs = ['%s,%s,%d' % (self.net.host_ifaces[name], address, group)
                 for name, address, group in base.SEED_ENDPOINTS]
        self.holder = subprocess.Popen(
            [sys.executable, '-c', HOLDER, self.pin_dir, self.net.slave]
            + specs, stdout=subprocess.PIPE, text=True)
        self.addCleanup(self.holder.wait)
        self.addCleanup(self.holder.kill)
        self.assertEqual('ready', self.holder.stdout.readline().strip())

    def start_stream(self):
        """A TCP stream web -> db:7100: (file counting what db got, sink)."""
        # a directory: the sink replaces the file through a sibling
        status = os.path.join(self.useFixture(fixtures.TempDir()).path,
                              'received')
        sink = self.net.spawn('db', sys.executable, base.PROBE, 'sink',
                              '7100', status)
        self.assertEqual('listening', sink.stdout.readline().strip())
        self.net.spawn('web', sys.executable, base.PROBE, 'stream',
                       self.net.hosts['db'][1], '7100')
        return status, sink

    def test_kill_9_keeps_enforcing_and_state(self):
        status, sink = self.start_stream()
        self.assertTrue(self.net.ping('web', 'db'))
        self.assertFalse(self.net.ping('outside', 'db'))
        while base.received(status) == 0:
            time.sleep(0.05)
        rules_before = self.show()

        os.kill(self.holder.pid, signal.SIGKILL)
        self.holder.wait()
        at_kill = base.received(status)

        self.assertFalse(self.net.ping('outside', 'db'))
        self.assertFalse(self.tcp('db', 'outside'))
        time.sleep(1)
        self.assertGreater(base.received(status), at_kill,
                           'the allowed stream stopped after kill -9')
        self.assertIsNone(sink.poll(), 'the stream was cut')

        # a new process picks up rules and counters from the pins
        rules_after = self.show()
        self.assertLessEqual(set(rules_before), set(rules_after))
        for key, packets in rules_before.items():
            self.assertGreaterEqual(rules_after[key], packets)
        self.assertGreater(rules_after[(100, 200, 'allow')],
                           rules_before[(100, 200, 'allow')])
        self.assertEqual(base.SEED_POLICY.split(), self.export_directed())
        self.assertEqual(self.expected_matrix(), self.matrix(self.net.ping))

    def test_kill_9_keeps_connections_and_denials(self):
        # no reverse rule: the stream's replies pass only as part of its
        # connection, which lives in the pinned connection table
        self.cli('load', '-', stdin='100>200:tcp/7100')
        status, sink = self.start_stream()
        while base.received(status) == 0:
            time.sleep(0.05)

        os.kill(self.holder.pid, signal.SIGKILL)
        self.holder.wait()
        at_kill = base.received(status)
        time.sleep(1)
        self.assertGreater(base.received(status), at_kill,
                           'the stream stopped after kill -9')
        self.assertIsNone(sink.poll(), 'the stream was cut')
        # the destination still cannot open connections, nor anyone else
        self.assertFalse(self.tcp('db', 'web'))
        self.assertFalse(self.tcp('web', 'db'))          # port 7000
        self.assertFalse(self.net.ping('outside', 'db'))
        self.assertFalse(self.net.ping('db', 'web'))

    def show(self):
        rows = json.loads(self.cli('show', '-f', 'json').stdout)
        return {(r['Source'], r['Destination'], r['Action']): r['Packets']
                for r in rows}

    def export_directed(self):
        exported = json.loads(self.cli('export', '--format', 'json').stdout)
        group = lambda g: policy.RESERVED.get(g, g)   # noqa: E731
        directed = ['%d>%d' % (group(r['src']), group(r['dst']))
                    for r in exported['rules']]
        return sorted(directed, key=base.SEED_POLICY.split().index)
