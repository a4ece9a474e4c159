"""Audit mode on real traffic between the seed slave's namespaces.

``outside`` (the world) has no rule to db (200): its traffic is dropped
until audit mode lets it pass, and dropped again the moment audit is off,
established connections included.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from tests.functional import base
from tests.functional import topology


class AuditTest(base.SeedTestCase):
    def would_drop(self, reason):
        return self.dataplane.would_drop()[reason][0]

    def dropped(self, reason):
        return self.dataplane.drops()[reason][0]

    def test_audit_lets_a_denied_flow_through_and_counts_it(self):
        self.assertFalse(self.tcp('outside', 'db'))
        dropped = self.dropped('no_rule')
        self.assertGreaterEqual(dropped, 1)
        out = self.cli('audit', 'on', '200').stdout
        self.assertIn('audit mode on for group 200', out)
        self.assertTrue(self.tcp('outside', 'db'))
        self.assertTrue(self.net.ping('outside', 'db'))
        # counted as would-drop, in both directions, not as drops
        self.assertGreaterEqual(self.would_drop('no_rule'), 4)
        self.assertEqual(dropped, self.dropped('no_rule'))
        # allowed flows are no business of audit mode
        self.assertTrue(self.tcp('web', 'db'))
        self.assertEqual(0, self.would_drop('deny_rule'))
        # show cannot be missed, trace says what enforcement does
        self.assertIn('AUDIT MODE ON for group 200', self.cli('show').stdout)
        answer = json.loads(self.cli(
            'trace', '--from', self.net.hosts['outside'][1], '--to',
            self.net.hosts['db'][1], '-f', 'json').stdout)
        self.assertEqual(('deny', 'no_rule',
                          'passes: audit mode (policy would drop it)'),
                         (answer['Verdict'], answer['Reason'],
                          answer['Enforced']))

    def monitor(self, *more):
        monitor = subprocess.Popen(
            [sys.executable, '-m', 'magnum_iovisor.cmd.policy', '--pin-dir',
             self.pin_dir, 'monitor', '--count', '1', '--timeout', '20',
             *more], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.addCleanup(monitor.wait)
        self.addCleanup(monitor.kill)
        while monitor.poll() is None:
            self.assertTrue(self.net.ping('outside', 'db', timeout=0.2))
        out, err = monitor.communicate(timeout=10)
        self.assertEqual(0, monitor.returncode, err)
        return out

    def test_monitor_reports_would_drop(self):
        self.cli('audit', 'on', 'world')
        drop = json.loads(self.monitor('--json').splitlines()[0])
        self.assertEqual(('no_rule', True, 0, 200), (
            drop['reason'], drop['audited'], drop['src_group'],
            drop['dst_group']) if drop['src_group'] == 0 else (
            drop['reason'], drop['audited'], drop['dst_group'],
            drop['src_group']))
        line = self.monitor().splitlines()[0]
        self.assertTrue(line.startswith('would drop (audit, passed): '
                                        'no_rule '), line)

    def test_a_deny_rule_is_audited_too(self):
        self.cli('deny', '100', '200', '--protocol', 'tcp', '--ports',
                 '7000')
        self.assertFalse(self.tcp('web', 'db'))
        self.cli('audit', 'on')
        self.assertIn('AUDIT MODE ON for ALL GROUPS', self.cli('show').stdout)
        self.assertTrue(self.tcp('web', 'db'))
        self.assertGreaterEqual(self.would_drop('deny_rule'), 1)
        self.cli('audit', 'off')
        self.assertFalse(self.tcp('web', 'db'))
        self.assertNotIn('AUDIT', self.cli('show').stdout)

    def test_spoofed_sources_are_never_audited(self):
        self.cli('audit', 'on')
        web_ns = self.net.hosts['web'][0]
        # web claims an address that is not its endpoint's
        topology.nsexec(web_ns, 'ip', 'addr', 'add', '10.1.0.77/32', 'dev',
                        'eth0')
        before = self.dropped('spoofed_source')
        result = topology.nsexec(
            web_ns, 'ping', '-c', '1', '-W', '1', '-I', '10.1.0.77',
            self.net.hosts['outside'][1], check=False)
        self.assertNotEqual(0, result.returncode)
        self.assertGreater(self.dropped('spoofed_source'), before)
        self.assertEqual(0, self.would_drop('spoofed_source'))

    def stream(self, src, dst, port):
        """A TCP stream src -> dst:port; returns the file dst counts into."""
        status = tempfile.NamedTemporaryFile(delete=False)
        self.addCleanup(os.unlink, status.name)
        sink = self.net.spawn(dst, sys.executable, base.PROBE, 'sink',
                              str(port), status.name)
        self.assertEqual('listening', sink.stdout.readline().strip())
        self.net.spawn(src, sys.executable, base.PROBE, 'stream',
                       self.net.hosts[dst][1], str(port))
        return status.name

    def received(self, path):
        with open(path) as status:
            return int(status.read() or 0)

    def wait_growing(self, path, timeout=10):
        first = self.received(path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if self.received(path) > first:
                return True
        return False

    def assertCut(self, path):
        time.sleep(0.5)        # the sink writes its count 10 times a second
        at_off = self.received(path)
        time.sleep(2)
        self.assertEqual(at_off, self.received(path),
                         'the stream went on after audit off')

    def test_audit_off_cuts_a_stream_it_let_through(self):
        self.cli('audit', 'on', 'world')
        path = self.stream('outside', 'db', 7100)
        self.assertTrue(self.wait_growing(path), 'no stream under audit')
        self.cli('audit', 'off', 'world')
        self.assertCut(path)
        self.assertFalse(self.tcp('outside', 'db'))

    def test_audit_off_cuts_a_connection_the_answer_opened(self):
        # db may open connections to the world: its answers to outside's
        # audited stream open a connection the other way, which outside's
        # packets then ride; audit off must cut that one too
        self.cli('allow', '200', 'world')
        self.cli('audit', 'on', '200')
        path = self.stream('outside', 'db', 7101)
        self.assertTrue(self.wait_growing(path), 'no stream under audit')
        opened = [c for c in self.dataplane.connections()
                  if c[0] == self.net.hosts['db'][1] and c[3] != 7101]
        self.assertTrue(opened, 'the answers opened no connection: the '
                        'case this test is for did not happen')
        out = self.cli('audit', 'off', '200').stdout
        self.assertRegex(out, r'enforced; [1-9]\d* connections? audit let '
                              r'open cut')
        self.assertCut(path)
        self.assertEqual([], [c for c in self.dataplane.connections()
                              if c[0] == self.net.hosts['db'][1]
                              and c[1] == 7101])
        # db still opens its own connections to the world
        self.serve_outside(7102)
        self.assertTrue(self.tcp('db', 'outside', 7102))

    def serve_outside(self, port):
        proc = self.net.spawn('outside', sys.executable, base.PROBE, 'serve',
                              str(port))
        self.assertEqual('listening', proc.stdout.readline().strip())
