"""The walkthrough's scenario on real traffic between namespaces."""

import json
import subprocess
import sys
import time

from tests.functional import base


class SeedScenarioTest(base.SeedTestCase):
    def test_ping_matrix(self):
        self.assertEqual(self.expected_matrix(), self.matrix(self.net.ping))

    def test_tcp_matrix(self):
        self.assertEqual(self.expected_matrix(), self.matrix(self.tcp))

    def test_expected_matrix_is_not_trivial(self):
        expected = self.expected_matrix()
        self.assertFalse(expected[('outside', 'db')])
        self.assertFalse(expected[('db', 'outside')])
        self.assertTrue(expected[('web', 'db')])
        self.assertTrue(expected[('outside', 'web')])

    def show(self):
        rows = json.loads(self.cli('show', '-f', 'json').stdout)
        return {(r['Source'], r['Destination'], r['Action']):
                (r['Packets'], r['Bytes']) for r in rows}

    def test_counters_move_for_rules_and_denied_pairs(self):
        before = self.show()
        self.assertEqual((0, 0), before[(100, 200, 'allow')])
        self.assertTrue(self.net.ping('web', 'db'))
        self.assertFalse(self.net.ping('outside', 'db'))
        after = self.show()
        # decided once, entering db; the reply belongs to the connection
        # and is counted in the rule that opened it
        packets, nbytes = after[(100, 200, 'allow')]
        self.assertEqual(2, packets)
        self.assertEqual(2 * 98, nbytes)  # ethernet + IPv4 + ICMP echo
        self.assertEqual(0, after[(200, 100, 'allow')][0])
        self.assertGreaterEqual(after[(0, 200, 'no rule')][0], 1)
        self.assertNotIn((200, 0, 'no rule'), after)   # db never answered

    def test_matrix_shows_verdicts_and_counters(self):
        self.assertTrue(self.net.ping('web', 'db'))
        self.assertFalse(self.net.ping('outside', 'db'))
        rows = json.loads(self.cli('show', '--matrix', '-f', 'json').stdout)
        cells = {(row['src \\ dst'], dst): value for row in rows
                 for dst, value in row.items() if dst != 'src \\ dst'}
        # request and reply counted in the rule web opened the flow with
        self.assertEqual('allow 2', cells['100', '200'])
        self.assertEqual('allow 0', cells['200', '100'])
        self.assertEqual('no rule', cells['200', 'world'])
        self.assertRegex(cells['world', '200'], r'^no rule [1-9]')
        self.assertLessEqual({'world', '100', '200'},
                             {src for src, _ in cells})
        table = self.cli('show', '--matrix', '--group', '200', '--group',
                         'world').stdout
        self.assertIn('| src \\ dst | 200', table)
        self.assertNotIn('100', table)

    def test_dot_export_renders(self):
        self.assertTrue(self.net.ping('web', 'db'))
        source = self.cli('export', '--format', 'dot').stdout
        self.assertIn('100 -> 200 [label="2 pkts"', source)
        self.assertEqual(5, source.count(' -> '))
        svg = subprocess.run(['dot', '-Tsvg'], input=source, check=True,
                             capture_output=True, text=True).stdout
        self.assertIn('group 200', svg)
        self.assertIn('1 endpoint', svg)

    def monitor(self, reason):
        """``iovisor-policy monitor`` waiting for one drop of ``reason``."""
        monitor = subprocess.Popen(
            [sys.executable, '-m', 'magnum_iovisor.cmd.policy', '--pin-dir',
             self.pin_dir, 'monitor', '--json', '--count', '1',
             '--reason', reason, '--timeout', '20'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(monitor.wait)
        self.addCleanup(monitor.kill)
        return monitor

    def test_monitor_reports_a_drop(self):
        monitor = self.monitor('no_rule')
        while monitor.poll() is None:
            self.net.ping('outside', 'db', timeout=0.2)
        out, err = monitor.communicate(timeout=10)
        self.assertEqual(0, monitor.returncode, err)
        drop = json.loads(out.splitlines()[0])
        self.assertEqual({'reason': 'no_rule', 'source': '10.2.0.2',
                          'destination': '10.1.0.4', 'src_group': 0,
                          'dst_group': 200, 'direction': 'to_endpoint'},
                         {k: drop[k] for k in ('reason', 'source',
                                               'destination', 'src_group',
                                               'dst_group', 'direction')})

    def wait_for(self, predicate, seconds=1.0):
        deadline = time.monotonic() + seconds
        while True:
            if predicate():
                return True
            if time.monotonic() > deadline:
                return False

    def test_live_change_without_reattaching(self):
        filters = self.attached()
        self.assertTrue(self.tcp('web', 'db'))
        self.cli('deny', '100', '200')
        self.assertTrue(self.wait_for(lambda: not self.tcp('web', 'db')))
        self.assertIn((100, 200, 'deny'), self.show())
        # db opens its own connections (200>100): their replies pass
        self.assertTrue(self.tcp('db', 'web'))
        self.cli('allow', '100', '200')
        self.assertTrue(self.wait_for(lambda: self.tcp('web', 'db')))
        self.assertEqual(filters, self.attached())

    def attached(self):
        from magnum_iovisor.dataplane import attach
        return {name: attach.attached_filters(iface, self.net.slave)
                for name, iface in self.net.host_ifaces.items()}

    def test_spoofed_source_is_dropped(self):
        web_ns, _ = self.net.hosts['web']
        db_address = self.net.hosts['db'][1]
        base.topology.nsexec(web_ns, 'ip', 'addr', 'add', db_address + '/32',
                             'dev', 'eth0')
        spoofed = base.topology.nsexec(
            web_ns, 'ping', '-c', '1', '-W', '1', '-I', db_address,
            self.net.hosts['dns'][1], check=False)
        self.assertNotEqual(0, spoofed.returncode)
        # its own address; the kernel first gives up the gateway's ARP
        # entry, whose requests carried the spoofed sender and were dropped
        self.assertTrue(self.wait_for(lambda: self.net.ping('web', 'dns'),
                                      10))

    def test_truncated_ipv4_is_dropped(self):
        monitor = self.monitor('malformed')
        truncated = 'ff' * 6 + '02' * 6 + '0800' + '4500'
        while monitor.poll() is None:
            base.topology.nsexec(self.net.hosts['web'][0], sys.executable,
                                 base.PROBE, 'frame', 'eth0', truncated)
        out, err = monitor.communicate(timeout=10)
        self.assertEqual(0, monitor.returncode, err)
        self.assertEqual('malformed', json.loads(out)['reason'])

    def test_bad_policy_file_changes_nothing(self):
        before = self.cli('export').stdout
        for document, message in [
                ('100>0 0>100 100>70000', "rule 3 ('100>70000'): group "
                                          "70000 out of range 0..65535"),
                ('{"rules": [{"src": 1}]}', "rule 1: missing 'dst'"),
                ('rules: [{src: 1, dst: 2, action: maybe}]',
                 "rule 1: action 'maybe'")]:
            result = self.cli('load', '-', stdin=document, check=False)
            self.assertNotEqual(0, result.returncode)
            self.assertIn(message, result.stderr)
            self.assertEqual(before, self.cli('export').stdout)
        self.assertEqual(self.expected_matrix(), self.matrix(self.net.ping))
