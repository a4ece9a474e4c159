"""``monitor --output FILE`` and ``monitor --journal`` on real drops.

Drops are made by running the pinned classifier on crafted packets
(BPF_PROG_TEST_RUN); the journal is a real systemd-journald started in a
private mount namespace (tmpfs over /run/systemd, /run/log and
/var/log/journal), so nothing reaches the host's journal.
"""

import json
import os
import subprocess
import sys
import tempfile

from magnum_iovisor import policy
from tests.functional import base
from tests.functional import packets as pk

JOURNALD = '/lib/systemd/systemd-journald'
JOURNAL_SCRIPT = r'''
set -eu
for dir in /run/systemd /run/log /var/log/journal; do
    mkdir -p $dir && mount -t tmpfs tmpfs $dir
done
%(journald)s &
journald=$!
trap 'kill $journald' EXIT
for _ in $(seq 100); do
    [ -S /run/systemd/journal/socket ] && break
    sleep 0.1
done
"$@"
for _ in $(seq 50); do    # until journald has stored every entry
    journalctl -D /run/log/journal -o json --no-pager \
        SYSLOG_IDENTIFIER=iovisor-policy > /run/log/out 2>/dev/null || true
    [ "$(wc -l < /run/log/out)" -ge %(entries)d ] && break
    sleep 0.1
done
cat /run/log/out
'''


class MonitorSinkTest(base.DataplaneTestCase):
    def setUp(self):
        super().setUp()
        self.dataplane.tag('10.1.0.3', 100, ifindex=1)
        self.dataplane.replace_policy(policy.parse('100>0'))
        self.packet = pk.packet('192.0.2.1', '10.1.0.3', pk.UDP,
                                pk.udp(1, 2))

    def monitor_command(self, *args):
        return [sys.executable, '-m', 'magnum_iovisor.cmd.policy',
                '--pin-dir', self.pin_dir, 'monitor', '--timeout', '30',
                *args]

    def drop_until_done(self, process, each=lambda: None):
        while process.poll() is None:
            self.dataplane.test_run('to_endpoint', self.packet)
            each()
        out, err = process.communicate(timeout=30)
        self.assertEqual(0, process.returncode, err)
        return out, err

    def test_output_appends_json_lines_and_follows_rotation(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(subprocess.run, ['rm', '-rf', directory])
        path = os.path.join(directory, 'drops.jsonl')
        with open(path, 'w') as old:
            old.write('{"earlier": true}\n')
        monitor = subprocess.Popen(
            self.monitor_command('--output', path, '--count', '400'),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(monitor.kill)

        def rotate_once():
            rotated = path + '.1'
            if not os.path.exists(rotated) and os.path.getsize(path) > 200:
                os.rename(path, rotated)     # as logrotate's "create" does
        out, _ = self.drop_until_done(monitor, rotate_once)
        self.assertEqual('', out)
        with open(path + '.1') as first, open(path) as second:
            before, after = first.read().splitlines(), \
                second.read().splitlines()
        self.assertEqual({'earlier': True}, json.loads(before[0]))
        lines = [json.loads(line) for line in before[1:] + after]
        self.assertEqual(400, len(lines))
        self.assertTrue(after, 'nothing written after the rotation')
        self.assertEqual({('no_rule', '192.0.2.1', '10.1.0.3', 0, 100,
                           pk.UDP, 2)},
                         {(d['reason'], d['source'], d['destination'],
                           d['src_group'], d['dst_group'], d['protocol'],
                           d['port']) for d in lines})

    def test_unwritable_output_is_an_error(self):
        result = subprocess.run(
            self.monitor_command('--output', '/nonexistent/dir/drops'),
            capture_output=True, text=True, timeout=60)
        self.assertNotEqual(0, result.returncode)
        self.assertIn('/nonexistent/dir/drops', result.stderr)

    def test_journal_gets_one_entry_per_drop(self):
        script = JOURNAL_SCRIPT % {'journald': JOURNALD, 'entries': 3}
        monitor = subprocess.Popen(
            ['unshare', '-m', '--propagation', 'private', 'bash', '-c',
             script, 'journal', *self.monitor_command('--journal',
                                                      '--count', '3')],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(monitor.kill)
        out, _ = self.drop_until_done(monitor)
        entries = [json.loads(line) for line in out.splitlines()]
        self.assertEqual(3, len(entries))
        for entry in entries:
            self.assertEqual('no_rule', entry['IOVISOR_REASON'])
            self.assertEqual('100', entry['IOVISOR_DST_GROUP'])
            self.assertEqual('192.0.2.1', json.loads(entry['MESSAGE'])[
                'source'])
