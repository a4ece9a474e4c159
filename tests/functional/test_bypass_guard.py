"""The PACKET_QDISC_BYPASS guard (dataplane/bypass.py) in the real kernel.

Linked here to a cgroup this test makes, not the hierarchy's root, so that
no other test's containers meet it; tests/functional/test_first_packet.py
has the daemon link it to the root, and tests/image does on the bay's
kernel.
"""

import os
import shutil
import subprocess
import sys
import uuid

import testtools

from magnum_iovisor.dataplane import bypass

SET_BYPASS = ('import socket\n'
              's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n'
              'try:\n'
              '    s.setsockopt(%d, %d, 1)\n'
              'except PermissionError:\n'
              '    print("refused")\n'
              'else:\n'
              '    print("set")\n'
              % (bypass.SOL_PACKET, bypass.PACKET_QDISC_BYPASS))
SET_OTHER = SET_BYPASS.replace('%d, 1)' % bypass.PACKET_QDISC_BYPASS,
                               '%d, 1)' % 8)   # PACKET_AUXDATA


class BypassGuardTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        name = 'mi-test-%s' % uuid.uuid4().hex[:8]
        self.pin_dir = os.path.join('/sys/fs/bpf', name)
        self.addCleanup(shutil.rmtree, self.pin_dir, ignore_errors=True)
        self.cgroup = os.path.join(bypass.cgroup_root(), name)
        os.mkdir(self.cgroup)
        self.addCleanup(os.rmdir, self.cgroup)
        self.addCleanup(bypass.detach, self.pin_dir)

    def outcome(self, in_cgroup, own_netns, code=SET_BYPASS):
        """What setsockopt answers a process placed so."""
        join = ('echo $$ > %s/cgroup.procs; ' % self.cgroup
                if in_cgroup else '')
        unshare = 'unshare -n ' if own_netns else ''
        result = subprocess.run(
            ['sh', '-c', '%sexec %s%s -c "$0"' % (join, unshare,
                                                  sys.executable), code],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(0, result.returncode, result.stderr)
        return result.stdout.strip()

    def outcomes(self):
        return {(cg, ns): self.outcome(cg, ns)
                for cg in (True, False) for ns in (True, False)}

    def test_refused_only_outside_the_host_namespace(self):
        everywhere = dict.fromkeys(
            [(True, True), (True, False), (False, True), (False, False)],
            'set')
        self.assertEqual(everywhere, self.outcomes(), 'before')
        bypass.attach(self.pin_dir, cgroup=self.cgroup)
        self.assertTrue(bypass.attached(self.pin_dir))
        self.assertEqual({**everywhere, (True, True): 'refused'},
                         self.outcomes())
        # other options pass, in any namespace
        self.assertEqual('set', self.outcome(True, True, SET_OTHER))
        self.assertTrue(bypass.detach(self.pin_dir))
        self.assertFalse(bypass.attached(self.pin_dir))
        self.assertEqual(everywhere, self.outcomes(), 'after')

    def test_attached_again_it_stays_one_link(self):
        bypass.attach(self.pin_dir, cgroup=self.cgroup)
        # a restarted daemon: the pinned link gets the program anew
        bypass.attach(self.pin_dir, cgroup=self.cgroup)
        self.assertEqual('refused', self.outcome(True, True))
        self.assertTrue(bypass.detach(self.pin_dir))
        # one detach and it is gone: there was no second link
        self.assertEqual('set', self.outcome(True, True))
        self.assertFalse(bypass.detach(self.pin_dir))

    def test_the_cgroup_v2_root_is_found(self):
        root = bypass.cgroup_root()
        self.assertTrue(os.path.exists(os.path.join(root, 'cgroup.procs')))
        self.assertIn(root, open('/proc/self/mountinfo').read())
